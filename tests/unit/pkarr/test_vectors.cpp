// Runs every vector of shared/vectors/pkarr-vectors.json. Each category has a TEST_CASE with one
// DYNAMIC_SECTION per vector id; "pkarr vectors: all 71" runs them all again in one process and
// checks the count and that no category is unknown.

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "pkarr/http_date.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/relay_rules.hpp"
#include "pkarr/signed_packet.hpp"
#include "pkarr/zbase32.hpp"
#include "unit/pkarr/helpers.hpp"

using json = nlohmann::json;
using namespace pkdns;
using namespace pkdns::pkarr;
using namespace pkdns::pkarr::test;

namespace {

constexpr std::size_t expected_vector_count = 71;

const json& vectors() {
    static const json all = [] {
        std::ifstream in(PKDNS_VECTORS_PATH);
        REQUIRE(in.good());
        json doc = json::parse(in);
        return doc.at("vectors");
    }();
    return all;
}

std::string hex_of(ByteView b) {
    return to_hex(b);
}
template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& a) {
    return to_hex(ByteView(a.data(), a.size()));
}

int code_of(KeyError e) {
    return static_cast<int>(e);
}
int code_of(PacketError e) {
    return static_cast<int>(e);
}

// pkarr error names used by the vectors -> our error codes.
int packet_error_code(const std::string& rust_name) {
    if (rust_name == "SignatureError") return code_of(PacketError::bad_signature);
    if (rust_name == "PacketTooLarge") return code_of(PacketError::too_large);
    if (rust_name == "InvalidSignedPacketBytesLength") return code_of(PacketError::invalid_length);
    FAIL("unknown packet error name " << rust_name);
    return -1;
}

int key_error_code(const std::string& rust_name) {
    if (rust_name == "InvalidEd25519PublicKey") return code_of(KeyError::invalid_point);
    if (rust_name.starts_with("InvalidPublicKeyEncoding") || rust_name.starts_with("InvalidPublicKeyLength"))
        return code_of(KeyError::not_a_key);
    FAIL("unknown key error name " << rust_name);
    return -1;
}

std::vector<dns::Record> records_from(const json& list) {
    std::vector<dns::Record> out;
    for (const auto& r : list) {
        dns::Record rec;
        rec.name = name(r.at("name").get<std::string>());
        auto type = dns::type_from_string(r.value("type", std::string("A")));
        REQUIRE(type.ok());
        rec.type = type.value();
        rec.ttl = r.at("ttl").get<std::uint32_t>();
        rec.rdata = rdata_from_text(
            rec.type, r.value("data", std::string(rec.type == dns::type::A ? "192.0.2.1" : "_")));
        out.push_back(std::move(rec));
    }
    return out;
}

SignedPacket signed_with(const std::vector<dns::Record>& records, Micros last_seen = 1'000'000'000) {
    auto kp = Keypair::from_seed(seed_of(7));
    auto sp = SignedPacket::sign(kp, records, 1'700'000'000'000'000);
    REQUIRE(sp.ok());
    // Through the wire, so the lookups run on parsed records.
    auto parsed = SignedPacket::from_bytes(sp->bytes(), last_seen);
    REQUIRE(parsed.ok());
    return parsed.value();
}

// ---- categories ---------------------------------------------------------------------------

void run_public_key_parse(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    if (in.contains("canonical")) {  // key-noncanonical-last-char
        const auto canonical = in.at("canonical").get<std::string>();
        const auto want = ex.at("rust_decodes_to_hex").get<std::string>();
        auto strict = PublicKey::from_z32(canonical);
        REQUIRE(strict.ok());
        CHECK(hex_of(strict->bytes()) == want);
        CHECK(strict->to_z32() == canonical);
        CHECK(zbase32_is_canonical(canonical));
        for (const auto& variant_json : in.at("noncanonical_variants")) {
            const auto variant = variant_json.get<std::string>();
            CAPTURE(variant);
            auto lenient = PublicKey::parse(variant);
            REQUIRE(lenient.ok());
            CHECK(hex_of(lenient->bytes()) == want);
            CHECK(lenient->to_z32() == canonical);
            CHECK_FALSE(zbase32_is_canonical(variant));
            auto rejected = PublicKey::from_z32(variant);
            REQUIRE_FALSE(rejected.ok());
            CHECK(rejected.error().code == code_of(KeyError::not_canonical));
        }
        // "<string> (data bit differs -> last byte c4 instead of c5)"
        const auto other_text = in.at("not_equivalent").get<std::string>();
        const auto other = other_text.substr(0, other_text.find(' '));
        auto parsed = PublicKey::parse(other);
        REQUIRE(parsed.ok());
        CHECK(hex_of(parsed->bytes()) != want);
        CHECK(parsed->bytes()[31] == 0xc4);
        return;
    }
    const auto text = in.at("string").get<std::string>();
    auto parsed = PublicKey::parse(text);
    if (ex.at("ok").get<bool>()) {
        REQUIRE(parsed.ok());
        CHECK(hex_of(parsed->bytes()) == ex.at("public_key_hex").get<std::string>());
        const auto want_bytes = ex.at("public_key_bytes").get<std::vector<int>>();
        REQUIRE(want_bytes.size() == 32);
        for (std::size_t i = 0; i < 32; ++i) CHECK(parsed->bytes()[i] == want_bytes[i]);
        if (text.size() == 52) CHECK(PublicKey::from_z32(text).ok());
        return;
    }
    REQUIRE_FALSE(parsed.ok());
    const auto rust_error =
        ex.contains("error") ? ex.at("error").get<std::string>() : v.at("rust_error").get<std::string>();
    CHECK(parsed.error().code == key_error_code(rust_error));
    if (v.contains("computed_extra")) {  // key-invalid-point: decoded bytes given
        const auto bytes_hex = v.at("computed_extra").at("decoded_bytes_hex").get<std::string>();
        auto decoded = zbase32_decode(text);
        REQUIRE(decoded.ok());
        CHECK(hex_of(decoded.value()) == bytes_hex);
        // Strict parsing sees the set padding bits first; the canonical spelling is an invalid point.
        auto strict = PublicKey::from_z32(text);
        REQUIRE_FALSE(strict.ok());
        CHECK(strict.error().code == (zbase32_is_canonical(text) ? code_of(KeyError::invalid_point)
                                                                 : code_of(KeyError::not_canonical)));
        auto canonical = PublicKey::from_z32(zbase32_encode(decoded.value()));
        REQUIRE_FALSE(canonical.ok());
        CHECK(canonical.error().code == code_of(KeyError::invalid_point));
        auto raw = PublicKey::from_bytes(decoded.value());
        REQUIRE_FALSE(raw.ok());
        CHECK(raw.error().code == code_of(KeyError::invalid_point));
    }
}

void run_public_key_format(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    if (in.contains("public_key_hex")) {
        auto key = PublicKey::from_bytes(hex(in.at("public_key_hex").get<std::string>()));
        REQUIRE(key.ok());
        CHECK(key->to_uri() == ex.at("uri").get<std::string>());
        CHECK(key->to_z32() == ex.at("z32").get<std::string>());
    } else {
        auto key = PublicKey::from_z32(in.at("z32").get<std::string>());
        REQUIRE(key.ok());
        CHECK(hex_of(key->bytes()) == ex.at("bytes_hex").get<std::string>());
    }
}

void run_tls_rpk(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    if (in.contains("z32")) {
        auto key = PublicKey::from_z32(in.at("z32").get<std::string>());
        REQUIRE(key.ok());
        CHECK(hex_of(key->spki_der()) == ex.at("der_hex").get<std::string>());
        return;
    }
    auto kp = Keypair::from_seed(seed_from_hex(in.at("secret_key_hex").get<std::string>()));
    CHECK(hex_of(kp.public_key().spki_der()) == ex.at("der_hex").get<std::string>());
    CHECK(hex_of(kp.public_key().bytes()) == ex.at("public_key_hex").get<std::string>());
    bool saw_z32 = false;
    for (const auto& [field, value] : ex.items()) {
        if (field.starts_with("public_key_z32")) {
            CHECK(kp.public_key().to_z32() == value.get<std::string>());
            saw_z32 = true;
        }
    }
    CHECK(saw_z32);
}

void run_zbase32(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    if (ex.contains("encode_output")) {  // generic codec table
        const Bytes bytes = hex(in.at("bytes_hex").get<std::string>());
        const auto encoded = ex.at("encode_output").get<std::string>();
        CHECK(zbase32_encode(bytes) == encoded);
        CHECK(zbase32_is_canonical(encoded));
        auto back = zbase32_decode(encoded);
        REQUIRE(back.ok());
        CHECK(back.value() == bytes);
        // decode_input -> bytes is Nuhvi/z32's rule, which may keep a trailing partial byte; ours is
        // floor(len*5/8) (base32 0.5.1): the same bytes with any partial byte dropped.
        const auto input = in.at("decode_input").get<std::string>();
        auto decoded = zbase32_decode(input);
        REQUIRE(decoded.ok());
        const std::size_t floor_len = input.size() * 5 / 8;
        REQUIRE((bytes.size() == floor_len || bytes.size() == floor_len + 1));
        CHECK(decoded.value() ==
              Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(floor_len)));
    } else if (in.contains("utf8")) {
        const auto text = in.at("utf8").get<std::string>();
        const auto encoded = ex.at("z32").get<std::string>();
        CHECK(zbase32_encode(as_bytes(text)) == encoded);
        auto back = zbase32_decode(encoded);
        REQUIRE(back.ok());
        CHECK(as_chars(back.value()) == text);
    } else if (in.contains("bytes_hex") || in.contains("public_key_hex")) {
        const Bytes bytes = hex(in.contains("bytes_hex") ? in.at("bytes_hex").get<std::string>()
                                                         : in.at("public_key_hex").get<std::string>());
        const auto encoded = ex.at("z32").get<std::string>();
        CHECK(zbase32_encode(bytes) == encoded);
        auto key = PublicKey::from_z32(encoded);
        REQUIRE(key.ok());
        CHECK(hex_of(key->bytes()) == hex_of(bytes));
    } else if (in.contains("z32")) {
        const auto text = in.at("z32").get<std::string>();
        auto decoded = zbase32_decode(text);
        REQUIRE(decoded.ok());
        CHECK(hex_of(decoded.value()) == ex.at("public_key_hex").get<std::string>());
        CHECK(PublicKey::from_z32(text).ok() == ex.at("valid_point").get<bool>());
    } else {
        FAIL("zbase32 vector of unknown shape");
    }
}

void run_name_normalization(const json& v) {
    const auto origin = v.at("inputs").at("origin").get<std::string>();
    const auto input = v.at("inputs").at("name").get<std::string>();
    const auto want = v.at("expected").at("normalized").get<std::string>();
    CHECK(normalize_name(origin, input) == want);
    // The label-level rule used when signing agrees.
    auto owner = normalize_owner(origin, name(input));
    REQUIRE(owner.ok());
    CHECK(owner->to_string() == want);
}

void run_name_lookup(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    const SignedPacket sp = signed_with(records_from(in.at("records")));
    const auto found = sp.resource_records(in.at("query").get<std::string>());
    CHECK(found.size() == ex.at("match_count").get<std::size_t>());
    const std::string suffix = "." + sp.public_key().to_z32();
    std::vector<std::string> relative;
    for (const auto& r : found) {
        std::string full = r.name.to_string();
        REQUIRE(full.ends_with(suffix));
        relative.push_back(full.substr(0, full.size() - suffix.size()));
    }
    CHECK(relative == ex.at("matched_relative_names").get<std::vector<std::string>>());
}

void run_bep44_signable(const json& v) {
    const json& in = v.at("inputs");
    const auto value = in.at("v_ascii").get<std::string>();
    const auto seq = in.at("seq").get<std::int64_t>();
    Bytes got = in.contains("salt_ascii")
                    ? bep44_signable(seq, as_bytes(value), as_bytes(in.at("salt_ascii").get<std::string>()))
                    : bep44_signable(seq, as_bytes(value));
    CHECK(as_chars(got) == v.at("expected").at("signable_ascii").get<std::string>());
}

void run_ordering(const json& v) {
    const json& current = v.at("inputs").at("current");
    const auto cur_seq = current.at("seq").get<std::uint64_t>();
    const auto cur_v = current.at("v").get<std::string>();
    for (const auto& c : v.at("inputs").at("candidates")) {
        const auto seq = c.at("seq").get<std::uint64_t>();
        const auto value = c.at("v").get<std::string>();
        CAPTURE(seq, value);
        const bool replaces = is_more_recent(seq, as_bytes(value), cur_seq, as_bytes(cur_v));
        const bool current_wins = is_more_recent(cur_seq, as_bytes(cur_v), seq, as_bytes(value));
        if (c.at("replaces_current").is_boolean()) {
            CHECK(replaces == c.at("replaces_current").get<bool>());
            CHECK(current_wins == !replaces);
        } else {  // "identical (kept)": neither is more recent
            CHECK(value == cur_v);
            CHECK_FALSE(replaces);
            CHECK_FALSE(current_wins);
        }
    }
}

void check_packet_expectations(const SignedPacket& sp, const json& ex) {
    auto str = [&](const char* field) { return ex.at(field).get<std::string>(); };
    if (ex.contains("public_key_hex")) CHECK(hex_of(sp.public_key().bytes()) == str("public_key_hex"));
    if (ex.contains("public_key_z32")) CHECK(sp.public_key().to_z32() == str("public_key_z32"));
    if (ex.contains("public_key_uri")) CHECK(sp.public_key().to_uri() == str("public_key_uri"));
    if (ex.contains("dht_target_sha1_hex"))
        CHECK(hex_of(sp.public_key().dht_target()) == str("dht_target_sha1_hex"));
    if (ex.contains("signable_hex"))
        CHECK(hex_of(bep44_signable(static_cast<std::int64_t>(sp.timestamp()), sp.dns_bytes())) ==
              str("signable_hex"));
    if (ex.contains("signable_prefix_ascii")) {
        const auto prefix = str("signable_prefix_ascii");
        const Bytes signable = bep44_signable(static_cast<std::int64_t>(sp.timestamp()), sp.dns_bytes());
        CHECK(as_chars(signable).substr(0, prefix.size()) == prefix);
    }
    if (ex.contains("signature_hex")) CHECK(hex_of(sp.signature()) == str("signature_hex"));
    if (ex.contains("encoded_dns_packet_hex")) CHECK(hex_of(sp.dns_bytes()) == str("encoded_dns_packet_hex"));
    if (ex.contains("encoded_dns_packet_len"))
        CHECK(sp.dns_bytes().size() == ex.at("encoded_dns_packet_len").get<std::size_t>());
    if (ex.contains("signed_packet_hex")) CHECK(hex_of(sp.bytes()) == str("signed_packet_hex"));
    if (ex.contains("signed_packet_len"))
        CHECK(sp.bytes().size() == ex.at("signed_packet_len").get<std::size_t>());
    if (ex.contains("relay_payload_hex")) CHECK(hex_of(sp.relay_payload()) == str("relay_payload_hex"));
    if (ex.contains("relay_payload_len"))
        CHECK(sp.relay_payload().size() == ex.at("relay_payload_len").get<std::size_t>());
    if (ex.contains("last_modified_http_date"))
        CHECK(last_modified_for(sp.timestamp()) == str("last_modified_http_date"));
    if (ex.contains("normalized_names")) {
        std::vector<std::string> names;
        for (const auto& r : sp.records()) names.push_back(r.name.to_string());
        CHECK(names == ex.at("normalized_names").get<std::vector<std::string>>());
    }
}

void run_signed_packet(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    const auto kp = Keypair::from_seed(seed_from_hex(in.at("secret_key_seed_hex").get<std::string>()));
    const auto ts = in.at("timestamp_us").get<Micros>();
    const auto records = records_from(in.at("records"));
    auto signed_here = SignedPacket::sign(kp, records, ts, max_dns_bytes);
    REQUIRE(signed_here.ok());
    CHECK(signed_here->timestamp() == ts);
    CHECK(signed_here->public_key() == kp.public_key());

    if (v.at("id") == "signed-packet-js-1.3.0") {
        // The JS packet is uncompressed: we read it, but do not produce those bytes.
        auto from_relay = SignedPacket::from_relay_payload(
            kp.public_key(), hex(ex.at("relay_payload_hex").get<std::string>()), 5);
        REQUIRE(from_relay.ok());
        CHECK(from_relay->timestamp() == ts);
        CHECK(from_relay->last_seen() == 5);
        check_packet_expectations(*from_relay, ex);
        check_packet_expectations(*from_relay, v.at("computed_extra"));
        // Same records as the compressed packet we build, record for record.
        CHECK(from_relay->records() == signed_here->records());
        CHECK(signed_here->dns_bytes().size() < from_relay->dns_bytes().size());
        auto from_full =
            SignedPacket::from_bytes(hex(v.at("computed_extra").at("signed_packet_hex").get<std::string>()));
        REQUIRE(from_full.ok());
        CHECK(from_full->same_as(*from_relay));
        return;
    }
    // Ours must be bit for bit pkarr's.
    check_packet_expectations(*signed_here, ex);
    auto parsed = SignedPacket::from_bytes(hex(ex.at("signed_packet_hex").get<std::string>()), 9);
    REQUIRE(parsed.ok());
    CHECK(parsed->same_as(*signed_here));
    CHECK(parsed->records() == signed_here->records());
    auto relayed = SignedPacket::from_relay_payload(kp.public_key(),
                                                    hex(ex.at("relay_payload_hex").get<std::string>()), 9);
    REQUIRE(relayed.ok());
    CHECK(relayed->same_as(*signed_here));
    CHECK(parsed->records().size() == records.size());
    if (records.empty()) CHECK(parsed->ttl(300, 86400) == 300);
}

void run_signed_packet_negative(const json& v) {
    const json& in = v.at("inputs");
    const int want = packet_error_code(v.at("expected").at("error").get<std::string>());
    REQUIRE_FALSE(v.at("expected").at("ok").get<bool>());
    if (in.contains("signed_packet_hex")) {
        const Bytes bytes = hex(in.at("signed_packet_hex").get<std::string>());
        auto full = SignedPacket::from_bytes(bytes);
        REQUIRE_FALSE(full.ok());
        CHECK(full.error().code == want);
        auto key = PublicKey::from_bytes(ByteView(bytes).first(32));
        REQUIRE(key.ok());
        auto relay = SignedPacket::from_relay_payload(*key, ByteView(bytes).subspan(32));
        REQUIRE_FALSE(relay.ok());
        CHECK(relay.error().code == want);
        return;
    }
    if (in.contains("relay_payload")) {
        // "<N> zero bytes"
        const auto desc = in.at("relay_payload").get<std::string>();
        std::smatch m;
        REQUIRE(std::regex_match(desc, m, std::regex(R"((\d+) zero bytes)")));
        const Bytes payload(std::stoul(m[1].str()), 0);
        for (std::uint8_t fill : {1, 2, 3}) {  // "any valid key"
            const auto key = Keypair::from_seed(seed_of(fill)).public_key();
            auto r = SignedPacket::from_relay_payload(key, payload);
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code == want);
            auto f = SignedPacket::from_bytes(concat(key.view(), payload));
            REQUIRE_FALSE(f.ok());
            CHECK(f.error().code == want);
        }
        return;
    }
    // "100 x {name: '_derp_region.iroh.', type: A, ttl: 30, data: '1.1.1.1'}"
    const auto desc = in.at("records").get<std::string>();
    std::smatch m;
    REQUIRE(std::regex_match(
        desc, m, std::regex(R"((\d+) x \{name: '([^']*)', type: A, ttl: (\d+), data: '([^']*)'\})")));
    const std::vector<dns::Record> records(
        std::stoul(m[1].str()),
        a_record(m[2].str(), m[4].str(), static_cast<std::uint32_t>(std::stoul(m[3].str()))));
    const auto kp = Keypair::from_seed(seed_of(9));
    for (std::size_t limit : {max_publish_dns_bytes, max_dns_bytes}) {
        auto r = SignedPacket::sign(kp, records, 1, limit);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == want);
    }
    // A few of them fit.
    CHECK(SignedPacket::sign(kp, std::vector<dns::Record>(records.begin(), records.begin() + 5), 1).ok());
}

void run_ttl(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    constexpr Micros last_seen = 5'000'000'000;
    if (in.contains("record_ttls")) {
        std::vector<dns::Record> records;
        for (auto t : in.at("record_ttls"))
            records.push_back(a_record("@", "192.0.2.1", t.get<std::uint32_t>()));
        const SignedPacket sp = signed_with(records, last_seen);
        if (ex.contains("ttl")) {
            CHECK(sp.ttl(in.at("min").get<std::uint32_t>(), in.at("max").get<std::uint32_t>()) ==
                  ex.at("ttl").get<std::uint32_t>());
            return;
        }
        // Keys like "expires_in(30,u32::MAX) > 0": true
        const Micros now = last_seen + in.at("elapsed_s").get<std::uint64_t>() * 1'000'000;
        const std::regex form(R"(expires_in\((\d+),u32::MAX\) (>|==) 0)");
        std::size_t checked = 0;
        for (const auto& [expr, value] : ex.items()) {
            std::smatch m;
            REQUIRE(std::regex_match(expr, m, form));
            const auto min = static_cast<std::uint32_t>(std::stoul(m[1].str()));
            const std::uint32_t left = sp.expires_in(now, min, std::numeric_limits<std::uint32_t>::max());
            const bool holds = m[2] == ">" ? left > 0 : left == 0;
            CHECK(holds == value.get<bool>());
            CHECK(sp.is_expired(now, min, std::numeric_limits<std::uint32_t>::max()) == (left == 0));
            ++checked;
        }
        CHECK(checked > 0);
        return;
    }
    // fresh-resource-records
    const SignedPacket sp = signed_with(records_from(in.at("records")), last_seen);
    const Micros now = last_seen + in.at("elapsed_s").get<std::uint64_t>() * 1'000'000;
    const auto query = in.at("query").get<std::string>();
    CHECK(sp.fresh_resource_records(query, now).size() == ex.at("count").get<std::size_t>());
    // Half a second more still counts as the same whole second.
    CHECK(sp.fresh_resource_records(query, now + 500'000).size() == ex.at("count").get<std::size_t>());
}

void run_relay_http(const json& v) {
    const json& in = v.at("inputs");
    const json& ex = v.at("expected");
    if (in.contains("cached_timestamp_us")) {
        const auto ts = in.at("cached_timestamp_us").get<Micros>();
        CHECK(if_modified_since_for(ts) == ex.at("if_modified_since").get<std::string>());
        CHECK(dht_seq_lower_bound(ts) == ex.at("dht_seq_lower_bound").get<std::int64_t>());
    } else if (in.contains("cases")) {
        const auto want = ex.at("not_modified").get<std::vector<bool>>();
        REQUIRE(want.size() == in.at("cases").size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            const json& c = in.at("cases")[i];
            const auto ims = c.at("if_modified_since").get<std::string>();
            CHECK(not_modified(c.at("packet_timestamp_us").get<Micros>(), std::string_view(ims)) == want[i]);
        }
    } else if (ex.contains("values")) {
        for (const auto& value : ex.at("values")) {
            const auto text = value.get<std::string>();
            auto policy = parse_resolve_policy(text);
            REQUIRE(policy.ok());
            CHECK(to_string(policy.value()) == text);
            std::string lower = text;
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            CHECK_FALSE(parse_resolve_policy(lower).ok());  // case-sensitive
        }
        CHECK(to_string(default_relay_policy) == ex.at("relay_default").get<std::string>());
        CHECK_FALSE(parse_resolve_policy("").ok());
    } else {
        FAIL("relay_http vector of unknown shape");
    }
}

void run_resolve_policy(const json& v) {
    const auto cached = v.at("inputs").at("cached_timestamp").get<Micros>();
    const auto seqs = v.at("inputs").at("seqs").get<std::vector<std::int64_t>>();
    const auto want = v.at("expected").at("covered").get<std::vector<bool>>();
    REQUIRE(seqs.size() == want.size());
    for (std::size_t i = 0; i < seqs.size(); ++i)
        CHECK(invalid_seq_covered_by_cache(seqs[i], cached) == want[i]);
}

const std::map<std::string, std::function<void(const json&)>>& handlers() {
    static const std::map<std::string, std::function<void(const json&)>> table = {
        {"public_key_parse", run_public_key_parse},
        {"public_key_format", run_public_key_format},
        {"tls_rpk", run_tls_rpk},
        {"zbase32", run_zbase32},
        {"name_normalization", run_name_normalization},
        {"name_lookup", run_name_lookup},
        {"bep44_signable", run_bep44_signable},
        {"ordering", run_ordering},
        {"signed_packet", run_signed_packet},
        {"signed_packet_negative", run_signed_packet_negative},
        {"ttl", run_ttl},
        {"relay_http", run_relay_http},
        {"resolve_policy", run_resolve_policy},
    };
    return table;
}

void run_category(const std::string& category) {
    std::size_t seen = 0;
    for (const auto& v : vectors()) {
        if (v.at("category") != category) continue;
        ++seen;
        DYNAMIC_SECTION(v.at("id").get<std::string>()) {
            handlers().at(category)(v);
        }
    }
    CHECK(seen > 0);
}

}  // namespace

TEST_CASE("pkarr vectors: public_key_parse", "[vectors]") {
    run_category("public_key_parse");
}
TEST_CASE("pkarr vectors: public_key_format", "[vectors]") {
    run_category("public_key_format");
}
TEST_CASE("pkarr vectors: tls_rpk", "[vectors]") {
    run_category("tls_rpk");
}
TEST_CASE("pkarr vectors: zbase32", "[vectors]") {
    run_category("zbase32");
}
TEST_CASE("pkarr vectors: name_normalization", "[vectors]") {
    run_category("name_normalization");
}
TEST_CASE("pkarr vectors: name_lookup", "[vectors]") {
    run_category("name_lookup");
}
TEST_CASE("pkarr vectors: bep44_signable", "[vectors]") {
    run_category("bep44_signable");
}
TEST_CASE("pkarr vectors: ordering", "[vectors]") {
    run_category("ordering");
}
TEST_CASE("pkarr vectors: signed_packet", "[vectors]") {
    run_category("signed_packet");
}
TEST_CASE("pkarr vectors: signed_packet_negative", "[vectors]") {
    run_category("signed_packet_negative");
}
TEST_CASE("pkarr vectors: ttl", "[vectors]") {
    run_category("ttl");
}
TEST_CASE("pkarr vectors: relay_http", "[vectors]") {
    run_category("relay_http");
}
TEST_CASE("pkarr vectors: resolve_policy", "[vectors]") {
    run_category("resolve_policy");
}

TEST_CASE("pkarr vectors: all 71 run in one process, no unknown category", "[vectors]") {
    std::set<std::string> ids;
    std::set<std::string> categories;
    std::size_t executed = 0;
    for (const auto& v : vectors()) {
        const auto id = v.at("id").get<std::string>();
        const auto category = v.at("category").get<std::string>();
        INFO("vector " << id << " (category " << category << ")");
        auto handler = handlers().find(category);
        REQUIRE(handler != handlers().end());  // a category nobody handles fails here
        handler->second(v);
        ids.insert(id);
        categories.insert(category);
        ++executed;
    }
    CHECK(executed == expected_vector_count);
    CHECK(ids.size() == expected_vector_count);     // ids are unique
    CHECK(categories.size() == handlers().size());  // and every handler had work
}
