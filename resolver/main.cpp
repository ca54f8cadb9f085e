#include <cstdio>

#include "common/log.hpp"
#include "resolver/cli/cli.hpp"

#ifndef PKDNS_VERSION
#define PKDNS_VERSION "dev"
#endif

int main(int argc, char** argv) {
    CLI::App app{"pkdns: a DNS resolver for public-key domains (PKARR) and ordinary names"};
    app.set_version_flag("--version", "pkdns " PKDNS_VERSION);
    app.require_subcommand(1);
    pkdns::cli::Context ctx;
    app.add_flag("-v,--verbose", ctx.verbose, "debug logging");
    pkdns::cli::add_key_commands(app, ctx);
    pkdns::cli::add_packet_commands(app, ctx);
    pkdns::cli::add_dht_commands(app, ctx);
    pkdns::cli::add_serve_commands(app, ctx);
    app.parse_complete_callback([&] { pkdns::log::setup(ctx.verbose ? "debug" : "info"); });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    return ctx.exit_code;
}
