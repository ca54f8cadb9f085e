#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "conf/config.hpp"
#include "resolver/app.hpp"
#include "resolver/cli/cli.hpp"
#include "resolver/republish/republisher.hpp"

namespace pkdns::cli {

namespace {

struct ServeOptions {
    std::string config_path;  // empty: built-in defaults only
    conf::Overrides overrides;
};

// The config file (when given) with the flags applied on top.
Result<conf::Config> effective_config(const ServeOptions& opts) {
    conf::Config config;
    if (!opts.config_path.empty()) {
        auto loaded = conf::load_config_file(opts.config_path);
        if (!loaded) return loaded.error();
        config = std::move(*loaded);
    }
    if (auto r = conf::apply_overrides(config, opts.overrides); !r) return r.error();
    return config;
}

// One value per flag occurrence; repeating the flag adds entries.
template <class T>
CLI::Option* repeatable(CLI::App* app, const std::string& name, T& target, const std::string& help) {
    return app->add_option(name, target, help)->allow_extra_args(false)->type_size(1);
}

}  // namespace

void add_serve_commands(CLI::App& app, Context& ctx) {
    auto serve_opts = std::make_shared<ServeOptions>();
    auto* serve = app.add_subcommand("serve", "run the resolver daemon");
    serve->add_option("-c,--config", serve_opts->config_path,
                      "config file (TOML); default: built-in defaults");
    repeatable(serve, "--listen", serve_opts->overrides.listen,
               "ADDR:PORT for DNS over UDP and TCP (repeatable)");
    repeatable(serve, "--upstream", serve_opts->overrides.upstream,
               "ADDR:PORT of an upstream DNS server (repeatable)");
    serve->add_option("--cache", serve_opts->overrides.cache, "SQLite cache file");
    serve->add_option("--http", serve_opts->overrides.http, "ADDR:PORT for DoH, relay API and metrics");
    serve->add_option("--dht-port", serve_opts->overrides.dht_port, "UDP port of the DHT node (0 = any)");
    repeatable(serve, "--bootstrap", serve_opts->overrides.bootstrap,
               "DHT bootstrap HOST:PORT (repeatable, replaces the list)");
    serve->add_flag("--no-relays", serve_opts->overrides.no_relays, "use the DHT only, no PKARR relays");
    serve->callback([&ctx, serve_opts] {
        auto config = effective_config(*serve_opts);
        if (!config) {
            std::fprintf(stderr, "pkdns serve: %s\n", config.error().message.c_str());
            ctx.exit_code = 2;
            return;
        }
        ctx.exit_code = resolver::run_serve(*config);
    });

    auto check_path = std::make_shared<std::string>();
    auto* check = app.add_subcommand("check-config", "validate a config file and print the effective config");
    check->add_option("-c,--config", *check_path, "config file (TOML)")->required();
    check->callback([&ctx, check_path] {
        auto config = conf::load_config_file(*check_path);
        if (!config) {
            std::fprintf(stderr, "%s\n", config.error().message.c_str());
            ctx.exit_code = 1;
            return;
        }
        // [[publish]] entries: the key and zone files load and the zone fits one signed packet.
        for (const auto& entry : config->publish) {
            if (auto r = republish::check_publish_entry(entry); !r) {
                std::fprintf(stderr, "%s: [[publish]]: %s\n", check_path->c_str(), r.error().message.c_str());
                ctx.exit_code = 1;
                return;
            }
        }
        std::string text = conf::to_toml(*config);
        std::fprintf(stdout, "%s", text.c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace pkdns::cli
