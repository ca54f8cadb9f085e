#include <cstdio>

#include "resolver/cli.hpp"

namespace pkdns::cli {

void add_serve_commands(CLI::App& app, Context& ctx) {
    auto* serve = app.add_subcommand("serve", "run the resolver daemon");
    serve->allow_extras();
    serve->callback([&ctx] {
        std::fprintf(stderr, "pkdns serve: the resolver daemon is not built yet (see the open issues)\n");
        ctx.exit_code = 1;
    });
}

}  // namespace pkdns::cli
