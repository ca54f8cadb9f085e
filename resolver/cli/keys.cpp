// pkdns keygen / pubkey: Ed25519 seeds as 64 hex characters, public keys as z-base-32.
#include <cstdio>
#include <memory>
#include <string>

#include "common/bytes.hpp"
#include "pkarr/keys.hpp"
#include "resolver/cli/cli.hpp"

namespace pkdns::cli {

namespace {

int fail(const char* cmd, const std::string& reason) {
    std::fprintf(stderr, "pkdns %s: %s\n", cmd, reason.c_str());
    return 1;
}

// Keypair errors may or may not name the file; make sure the line does.
std::string with_file(const std::string& file, const std::string& reason) {
    return reason.find(file) == std::string::npos ? file + ": " + reason : reason;
}

}  // namespace

void add_key_commands(CLI::App& app, Context& ctx) {
    auto keygen_out = std::make_shared<std::string>();
    auto* keygen = app.add_subcommand(
        "keygen",
        "Generate a new Ed25519 key.\n"
        "With --out FILE: writes the seed (64 hex chars, mode 0600; never overwrites) and prints the\n"
        "z-base-32 public key. Without --out: prints two lines, `secret: <64 hex seed>` and\n"
        "`public: <z32 key>` (keep the secret private).");
    keygen->add_option("--out", *keygen_out, "seed file to create")->type_name("FILE");
    keygen->callback([&ctx, keygen_out] {
        const auto keypair = pkarr::Keypair::random();
        if (keygen_out->empty()) {
            const auto& seed = keypair.seed();
            std::printf("secret: %s\npublic: %s\n", to_hex({seed.data(), seed.size()}).c_str(),
                        keypair.public_key().to_z32().c_str());
            ctx.exit_code = 0;
            return;
        }
        if (auto saved = keypair.save(*keygen_out); !saved) {
            ctx.exit_code = fail("keygen", with_file(*keygen_out, saved.error().message));
            return;
        }
        std::printf("%s\n", keypair.public_key().to_z32().c_str());
        ctx.exit_code = 0;
    });

    auto pubkey_file = std::make_shared<std::string>();
    auto* pubkey = app.add_subcommand("pubkey", "Print the z-base-32 public key of a seed file.");
    pubkey->add_option("FILE", *pubkey_file, "seed file (64 hex chars)")->required();
    pubkey->callback([&ctx, pubkey_file] {
        auto keypair = pkarr::Keypair::load(*pubkey_file);
        if (!keypair) {
            ctx.exit_code = fail("pubkey", with_file(*pubkey_file, keypair.error().message));
            return;
        }
        std::printf("%s\n", keypair->public_key().to_z32().c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace pkdns::cli
