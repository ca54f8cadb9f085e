#pragma once
// The `pkdns` command line: each group of subcommands registers itself on the CLI11 app and,
// when chosen, stores its exit code in the context (0 ok, 1 runtime failure, 2 usage/config).

#include <CLI/CLI.hpp>

namespace pkdns::cli {

struct Context {
    int exit_code = 0;
    bool verbose = false;
};

void add_key_commands(CLI::App& app, Context& ctx);     // keygen, pubkey       (cli_keys.cpp)
void add_packet_commands(CLI::App& app, Context& ctx);  // sign, inspect        (cli_packet.cpp)
void add_dht_commands(CLI::App& app, Context& ctx);     // testnet, publish, resolve (cli_dht.cpp)
void add_serve_commands(CLI::App& app, Context& ctx);   // serve, check-config  (cli_serve.cpp)

}  // namespace pkdns::cli
