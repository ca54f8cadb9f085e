#include "resolver/cli.hpp"

namespace pkdns::cli {
void add_packet_commands(CLI::App&, Context&) {}
}  // namespace pkdns::cli
