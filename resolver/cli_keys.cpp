#include "resolver/cli.hpp"

namespace pkdns::cli {
void add_key_commands(CLI::App&, Context&) {}
}  // namespace pkdns::cli
