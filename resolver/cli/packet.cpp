// pkdns sign / inspect: offline signing of a zone file and verification of signed packets.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <string>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "pkarr/zone_file.hpp"
#include "resolver/cli/cli.hpp"

namespace pkdns::cli {

namespace {

// Far above any valid packet's hex (2 * 1104), small enough to bound reading stdin.
constexpr std::size_t max_inspect_input = 64 * 1024;

int fail(const char* cmd, const std::string& reason) {
    std::fprintf(stderr, "pkdns %s: %s\n", cmd, reason.c_str());
    return 1;
}

std::string with_file(const std::string& file, const std::string& reason) {
    return reason.find(file) == std::string::npos ? file + ": " + reason : reason;
}

// "2023-10-11T09:33:47.303000Z"
std::string iso8601(pkarr::Micros micros) {
    const auto seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    if (gmtime_r(&seconds, &tm) == nullptr) return "out of range";
    char date[32];
    if (std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "out of range";
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06llu", static_cast<unsigned long long>(micros % 1'000'000));
    return std::string(date) + frac + "Z";
}

Result<std::string> read_stdin_bounded() {
    std::string text;
    char buf[4096];
    while (true) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, stdin);
        text.append(buf, n);
        if (text.size() > max_inspect_input)
            return make_error("input larger than " + std::to_string(max_inspect_input) + " bytes");
        if (n < sizeof buf) break;
    }
    if (std::ferror(stdin)) return make_error("cannot read stdin");
    return text;
}

std::string strip_whitespace(std::string_view text) {
    std::string out;
    for (char c : text)
        if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
    return out;
}

std::string trim_trailing(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

struct SignOptions {
    std::string key_file;
    std::string zone_file;
    std::uint64_t timestamp = 0;
};

int run_sign(const SignOptions& o, bool timestamp_given) {
    auto keypair = pkarr::Keypair::load(o.key_file);
    if (!keypair) return fail("sign", with_file(o.key_file, keypair.error().message));
    auto records = pkarr::load_zone_file(o.zone_file, keypair->public_key());
    if (!records) return fail("sign", records.error().message);

    // Say how far over the limit the zone is: the packet pkarr would build is answers only.
    dns::Packet packet;
    packet.flags = dns::flag::QR;
    packet.answers = *records;
    const std::size_t dns_size = dns::encode_packet(packet).size();
    if (dns_size > pkarr::max_publish_dns_bytes)
        return fail("sign", "zone too large: its DNS packet is " + std::to_string(dns_size) +
                                " bytes, the limit is " + std::to_string(pkarr::max_publish_dns_bytes) +
                                " (" + std::to_string(records->size()) + " records)");

    const pkarr::Micros ts = timestamp_given ? o.timestamp : pkarr::now_micros();
    auto signed_packet = pkarr::SignedPacket::sign(*keypair, *records, ts);
    if (!signed_packet) return fail("sign", signed_packet.error().message);
    std::printf("%s\n", to_hex(signed_packet->relay_payload()).c_str());
    return 0;
}

struct InspectOptions {
    std::string key;
    std::string input;
};

int run_inspect(const InspectOptions& o) {
    std::string text = o.input;
    if (text.empty() || text == "-") {
        auto in = read_stdin_bounded();
        if (!in) return fail("inspect", in.error().message);
        text = std::move(*in);
    }
    if (text.size() > max_inspect_input)
        return fail("inspect", "input larger than " + std::to_string(max_inspect_input) + " bytes");
    const std::string hex = strip_whitespace(text);
    if (hex.empty()) return fail("inspect", "no input: give the packet as hex, or on stdin");
    auto bytes = from_hex(hex);
    if (!bytes) return fail("inspect", "bad hex: " + bytes.error().message);

    Result<pkarr::SignedPacket> packet = make_error("unreachable");
    if (!o.key.empty()) {
        auto key = pkarr::PublicKey::parse(o.key);
        if (!key) return fail("inspect", "bad --key: " + key.error().message);
        packet = pkarr::SignedPacket::from_relay_payload(*key, *bytes);
    } else {
        packet = pkarr::SignedPacket::from_bytes(*bytes);
    }
    if (!packet) return fail("inspect", "invalid signed packet: " + packet.error().message);

    const auto& p = *packet;
    std::printf("; key: %s\n", p.public_key().to_z32().c_str());
    std::printf("; timestamp: %llu (%s)\n", static_cast<unsigned long long>(p.timestamp()),
                iso8601(p.timestamp()).c_str());
    std::printf("; size: %zu bytes (DNS packet %zu bytes)\n", p.bytes().size(), p.dns_bytes().size());
    std::printf("; records: %zu\n", p.records().size());
    for (const auto& r : p.records()) std::printf("%s\n", trim_trailing(dns::record_to_text(r)).c_str());
    return 0;
}

}  // namespace

void add_packet_commands(CLI::App& app, Context& ctx) {
    auto sign_opts = std::make_shared<SignOptions>();
    auto* sign = app.add_subcommand(
        "sign",
        "Sign the records of a BIND-style zone file (names relative to the key, @ = the key) and\n"
        "print the relay payload (signature | timestamp | DNS packet) as one lowercase hex line.");
    sign->add_option("--key", sign_opts->key_file, "seed file (64 hex chars)")->required()->type_name("FILE");
    auto* ts_opt =
        sign->add_option("--timestamp", sign_opts->timestamp,
                         "timestamp in microseconds since the Unix epoch (default: now)")
            ->type_name("MICROS")
            ->check(CLI::Range(std::uint64_t{0},
                               static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
    sign->add_option("ZONEFILE", sign_opts->zone_file, "zone file")->required();
    sign->callback([&ctx, sign_opts, ts_opt] { ctx.exit_code = run_sign(*sign_opts, ts_opt->count() > 0); });

    auto inspect_opts = std::make_shared<InspectOptions>();
    auto* inspect = app.add_subcommand(
        "inspect",
        "Verify a signed packet given as hex (pk | sig | timestamp | DNS), or with --key a relay\n"
        "payload (sig | timestamp | DNS), read from the argument or stdin (`-` or absent).\n"
        "Prints `; key:`, `; timestamp:`, `; size:` and `; records:` comment lines, then the\n"
        "records as zone-file lines with absolute names. Exit 1 with the reason when invalid.");
    inspect->add_option("--key", inspect_opts->key, "public key (z-base-32) for a relay payload")
        ->type_name("Z32");
    inspect->add_option("HEX", inspect_opts->input, "packet as hex, or - for stdin");
    inspect->callback([&ctx, inspect_opts] { ctx.exit_code = run_inspect(*inspect_opts); });
}

}  // namespace pkdns::cli
