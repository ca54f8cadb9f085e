#include "resolver/cli.hpp"

namespace pkdns::cli {
void add_dht_commands(CLI::App&, Context&) {}
}  // namespace pkdns::cli
