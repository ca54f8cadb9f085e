#include <catch2/catch.hpp>
#include <limits>
#include <map>

#include "pkarr/signed_packet.hpp"
#include "unit/pkarr/helpers.hpp"

using namespace pkdns;
using namespace pkdns::pkarr;
using namespace pkdns::pkarr::test;

namespace {

constexpr Micros ts = 1'700'000'000'123'456;

int code(PacketError e) {
    return static_cast<int>(e);
}

// A packet signed by hand, so tests can put anything in the DNS part or the timestamp.
Bytes hand_signed(const Keypair& kp, std::uint64_t timestamp, ByteView dns) {
    std::string signable = "3:seqi" + std::to_string(timestamp) + "e1:v" + std::to_string(dns.size()) + ":";
    Bytes msg = concat(as_bytes(signable), dns);
    const auto sig = kp.sign(msg);
    Bytes out = concat(kp.public_key().view(), ByteView(sig.data(), sig.size()));
    Bytes t;
    put_u64(t, timestamp);
    out = concat(out, t);
    return concat(out, dns);
}

std::vector<dns::Record> sample_records() {
    return {a_record("@", "192.0.2.1", 300), a_record(".", "192.0.2.2", 600), txt_record("_foo", "hello", 60),
            txt_record("www.", "x", 3600), a_record("deep.sub", "10.0.0.1", 120)};
}

}  // namespace

TEST_CASE("sign -> from_bytes gives the same records with normalized absolute names", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(5));
    const std::string k = kp.public_key().to_z32();
    auto records = sample_records();
    records.push_back(a_record("x." + k, "192.0.2.3", 30));        // already absolute
    records.push_back(a_record("y." + k + ".", "192.0.2.4", 30));  // with the trailing dot
    records.push_back(a_record("foo.@", "192.0.2.5", 30));         // pkarr quirk: the apex
    auto sp = SignedPacket::sign(kp, records, ts);
    REQUIRE(sp.ok());

    std::vector<std::string> names;
    for (const auto& r : sp->records()) names.push_back(r.name.to_string());
    CHECK(names ==
          std::vector<std::string>{k, k, "_foo." + k, "www." + k, "deep.sub." + k, "x." + k, "y." + k, k});

    auto back = SignedPacket::from_bytes(sp->bytes(), 77);
    REQUIRE(back.ok());
    CHECK(back->records() == sp->records());
    CHECK(back->timestamp() == ts);
    CHECK(back->last_seen() == 77);
    CHECK(back->public_key() == kp.public_key());
    CHECK(back->same_as(*sp));
    // Header: id 0, flags 0x8000, only answers.
    const ByteView dns = back->dns_bytes();
    CHECK(get_u16(dns.data()) == 0);
    CHECK(get_u16(dns.data() + 2) == 0x8000);
    CHECK(get_u16(dns.data() + 4) == 0);
    CHECK(get_u16(dns.data() + 6) == records.size());
    CHECK(get_u16(dns.data() + 8) == 0);
    CHECK(get_u16(dns.data() + 10) == 0);
}

TEST_CASE("every single-byte tamper of a signed packet is rejected", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(6));
    const auto sp = SignedPacket::sign(kp, sample_records(), ts).value();
    const Bytes good = sp.bytes();
    REQUIRE(SignedPacket::from_bytes(good).ok());
    for (std::size_t i = 0; i < good.size(); ++i) {
        for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
            Bytes bad = good;
            bad[i] ^= mask;
            auto r = SignedPacket::from_bytes(bad);
            CAPTURE(i, int(mask));
            REQUIRE_FALSE(r.ok());
            if (i >= 32) CHECK(r.error().code == code(PacketError::bad_signature));
        }
    }
    // Truncation and extension are tampering too.
    CHECK_FALSE(SignedPacket::from_bytes(ByteView(good).first(good.size() - 1)).ok());
    Bytes longer = good;
    longer.push_back(0);
    CHECK_FALSE(SignedPacket::from_bytes(longer).ok());
}

TEST_CASE("size limits: 996 to publish, 1000 accepted, 1104 total", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(8));
    std::map<std::size_t, std::size_t> text_for_size;  // DNS size -> TXT length producing it
    for (std::size_t len = 880; len <= 960; ++len) {
        auto sp = SignedPacket::sign(kp, {txt_record("@", std::string(len, 'a'), 60)}, ts, max_dns_bytes);
        if (sp.ok())
            text_for_size[sp->dns_bytes().size()] = len;
        else
            CHECK(sp.error().code == code(PacketError::too_large));
    }
    REQUIRE(text_for_size.count(996));
    REQUIRE(text_for_size.count(997));
    REQUIRE(text_for_size.count(1000));
    auto txt = [&](std::size_t size) {
        return std::vector<dns::Record>{txt_record("@", std::string(text_for_size[size], 'a'), 60)};
    };

    CHECK(SignedPacket::sign(kp, txt(996), ts).ok());
    auto over = SignedPacket::sign(kp, txt(997), ts);
    REQUIRE_FALSE(over.ok());
    CHECK(over.error().code == code(PacketError::too_large));
    // Asking for more than 1000 still stops at 1000.
    CHECK(SignedPacket::sign(kp, txt(1000), ts, 5000).ok());

    auto biggest = SignedPacket::sign(kp, txt(1000), ts, max_dns_bytes);
    REQUIRE(biggest.ok());
    REQUIRE(biggest->bytes().size() == max_signed_packet_bytes);
    REQUIRE(biggest->relay_payload().size() == max_relay_payload_bytes);
    CHECK(SignedPacket::from_bytes(biggest->bytes()).ok());
    CHECK(SignedPacket::from_relay_payload(kp.public_key(), biggest->relay_payload()).ok());

    // 1001 bytes of DNS (trailing garbage parses), correctly signed: over the total.
    Bytes dns1001(biggest->dns_bytes().begin(), biggest->dns_bytes().end());
    dns1001.push_back(0);
    const Bytes too_big = hand_signed(kp, ts, dns1001);
    REQUIRE(too_big.size() == max_signed_packet_bytes + 1);
    auto r = SignedPacket::from_bytes(too_big);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code(PacketError::too_large));
    auto relay = SignedPacket::from_relay_payload(kp.public_key(), ByteView(too_big).subspan(32));
    REQUIRE_FALSE(relay.ok());
    CHECK(relay.error().code == code(PacketError::too_large));
    auto parts = SignedPacket::from_parts(kp.public_key(), static_cast<std::int64_t>(ts), dns1001,
                                          ByteView(too_big).subspan(32, 64));
    REQUIRE_FALSE(parts.ok());
    CHECK(parts.error().code == code(PacketError::too_large));
    CHECK(SignedPacket::from_bytes(Bytes(103, 0)).error().code == code(PacketError::invalid_length));
    CHECK(SignedPacket::from_bytes(Bytes(100000, 0)).error().code == code(PacketError::too_large));
}

TEST_CASE("relay payload and BEP44 parts round trip", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(10));
    const auto sp = SignedPacket::sign(kp, sample_records(), ts).value();
    const Bytes payload = sp.relay_payload();
    REQUIRE(payload.size() == sp.bytes().size() - 32);

    auto relayed = SignedPacket::from_relay_payload(kp.public_key(), payload, 42);
    REQUIRE(relayed.ok());
    CHECK(relayed->same_as(sp));
    CHECK(relayed->last_seen() == 42);
    // The path key must be the signer.
    auto wrong = SignedPacket::from_relay_payload(Keypair::from_seed(seed_of(11)).public_key(), payload);
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().code == code(PacketError::bad_signature));

    auto parts = SignedPacket::from_parts(kp.public_key(), static_cast<std::int64_t>(ts), sp.dns_bytes(),
                                          sp.signature(), 43);
    REQUIRE(parts.ok());
    CHECK(parts->same_as(sp));
    CHECK(SignedPacket::from_parts(kp.public_key(), -1, sp.dns_bytes(), sp.signature()).error().code ==
          code(PacketError::invalid_timestamp));
    CHECK(SignedPacket::from_parts(kp.public_key(), static_cast<std::int64_t>(ts), sp.dns_bytes(),
                                   sp.signature().first(63))
              .error()
              .code == code(PacketError::bad_signature));
    CHECK(SignedPacket::from_parts(kp.public_key(), static_cast<std::int64_t>(ts) + 1, sp.dns_bytes(),
                                   sp.signature())
              .error()
              .code == code(PacketError::bad_signature));
}

TEST_CASE("timestamps at and above 2^63, bad DNS under a good signature", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(12));
    CHECK(SignedPacket::sign(kp, {}, max_timestamp).ok());
    auto high = SignedPacket::sign(kp, {}, max_timestamp + 1);
    REQUIRE_FALSE(high.ok());
    CHECK(high.error().code == code(PacketError::invalid_timestamp));

    const Bytes empty_dns = hex("000080000000000000000000");
    const Bytes signed_high = hand_signed(kp, max_timestamp + 1, empty_dns);
    auto r = SignedPacket::from_bytes(signed_high);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code(PacketError::invalid_timestamp));
    CHECK(SignedPacket::from_trusted_bytes(signed_high, 0).error().code ==
          code(PacketError::invalid_timestamp));
    REQUIRE(SignedPacket::from_bytes(hand_signed(kp, max_timestamp, empty_dns)).ok());

    // Header claims one answer that is not there.
    const Bytes bad_dns = hand_signed(kp, 1, hex("000080000001000000000000"));
    auto bad = SignedPacket::from_bytes(bad_dns);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == code(PacketError::invalid_dns));
    CHECK(SignedPacket::from_trusted_bytes(bad_dns, 0).error().code == code(PacketError::invalid_dns));
    CHECK(SignedPacket::from_bytes(hand_signed(kp, 1, Bytes(11, 0))).error().code ==
          code(PacketError::invalid_dns));

    // Trusted bytes skip the signature, nothing else.
    Bytes tampered = SignedPacket::sign(kp, sample_records(), ts).value().bytes();
    tampered[40] ^= 1;
    CHECK_FALSE(SignedPacket::from_bytes(tampered).ok());
    auto trusted = SignedPacket::from_trusted_bytes(tampered, 5);
    REQUIRE(trusted.ok());
    CHECK(trusted->records().size() == sample_records().size());
    Bytes bad_key = tampered;
    bad_key[0] = 1;
    std::fill(bad_key.begin() + 1, bad_key.begin() + 32, 0);  // the identity point
    CHECK(SignedPacket::from_trusted_bytes(bad_key, 5).error().code == code(PacketError::invalid_key));
}

TEST_CASE("received packets keep their names, even names outside the key", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(13));
    dns::Packet p;
    p.flags = dns::flag::QR;
    p.answers.push_back(a_record("example.com", "192.0.2.9", 60));
    auto sp = SignedPacket::from_bytes(hand_signed(kp, 9, dns::encode_packet(p)));
    REQUIRE(sp.ok());
    REQUIRE(sp->records().size() == 1);
    CHECK(sp->records()[0].name.to_string() == "example.com");
    CHECK(sp->resource_records("example.com").empty());  // lookups are relative to the key
}

TEST_CASE("more_recent_than: timestamp, then DNS bytes", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(14));
    const auto a = SignedPacket::sign(kp, {a_record("@", "192.0.2.1", 60)}, ts).value();
    const auto b = SignedPacket::sign(kp, {a_record("@", "192.0.2.2", 60)}, ts).value();
    const auto later = SignedPacket::sign(kp, {a_record("@", "192.0.2.1", 60)}, ts + 1).value();
    CHECK(b.more_recent_than(a));  // ...02 > ...01 in the last DNS byte
    CHECK_FALSE(a.more_recent_than(b));
    CHECK(later.more_recent_than(b));
    CHECK_FALSE(b.more_recent_than(later));
    const auto a_again = SignedPacket::from_bytes(a.bytes(), 1).value();
    CHECK_FALSE(a.more_recent_than(a_again));
    CHECK_FALSE(a_again.more_recent_than(a));
    CHECK(a.same_as(a_again));
    // A proper prefix is smaller.
    CHECK(is_more_recent(1, as_bytes("ab"), 1, as_bytes("a")));
    CHECK_FALSE(is_more_recent(1, as_bytes("a"), 1, as_bytes("ab")));
}

TEST_CASE("ttl and expiry from last_seen", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(15));
    const Micros seen = 10'000'000;
    auto sp =
        SignedPacket::from_bytes(
            SignedPacket::sign(kp, {a_record("@", "192.0.2.1", 400), a_record("a", "192.0.2.1", 500)}, ts)
                .value()
                .bytes(),
            seen)
            .value();
    CHECK(sp.ttl() == 400);
    CHECK(sp.ttl(450, 1000) == 450);
    CHECK(sp.ttl(0, 100) == 100);
    CHECK(sp.ttl(500, 100) == 100);  // min > max: max wins
    CHECK(sp.expires_in(seen) == 400);
    CHECK(sp.expires_in(seen - 5'000'000) == 400);  // a clock going backwards is 0 elapsed
    CHECK(sp.expires_in(seen + 1'999'999) == 399);  // whole seconds only
    CHECK(sp.expires_in(seen + 400'000'000) == 0);
    CHECK(sp.is_expired(seen + 400'000'000));
    CHECK_FALSE(sp.is_expired(seen + 399'999'999));
    CHECK(sp.expires_in(std::numeric_limits<Micros>::max()) == 0);
    CHECK(sp.elapsed_seconds(std::numeric_limits<Micros>::max()) ==
          std::numeric_limits<std::uint32_t>::max());
    sp.set_last_seen(std::numeric_limits<Micros>::max());
    CHECK(sp.expires_in(0) == 400);

    const auto empty = SignedPacket::sign(kp, {}, ts).value();
    CHECK(empty.ttl() == default_min_ttl);
    CHECK(empty.ttl(0, 86400) == 0);
}

TEST_CASE("resource_records: normalization, apex, query-side wildcard, case", "[signed_packet]") {
    const auto kp = Keypair::from_seed(seed_of(16));
    const std::string k = kp.public_key().to_z32();
    const auto sp = SignedPacket::from_bytes(
                        SignedPacket::sign(kp,
                                           {a_record("@", "192.0.2.1", 60), txt_record("foo", "a", 60),
                                            txt_record("bar.foo", "b", 60), txt_record("x.bar.foo", "c", 60),
                                            txt_record("*.foo", "d", 60), txt_record("Foo", "e", 60)},
                                           ts)
                            .value()
                            .bytes(),
                        0)
                        .value();
    for (const std::string& apex : std::vector<std::string>{"@", ".", "", "@.", k}) {
        CAPTURE(apex);
        CHECK(sp.resource_records(apex).size() == 1);
    }
    CHECK(sp.resource_records("foo").size() == 1);
    CHECK(sp.resource_records("foo.").size() == 1);
    CHECK(sp.resource_records("foo." + k).size() == 1);
    CHECK(sp.resource_records("foo." + k + ".").size() == 1);
    CHECK(sp.resource_records("Foo").size() == 1);  // case-sensitive: only the "Foo" record
    CHECK(sp.resource_records("FOO").empty());
    CHECK(sp.resource_records("nothing").empty());
    // "*.foo": one label below foo, i.e. bar.foo and the literal *.foo record, not x.bar.foo.
    CHECK(sp.resource_records("*.foo").size() == 2);
    // "*": every name one label below the apex (foo, Foo, not the apex itself).
    CHECK(sp.resource_records("*").size() == 2);
    CHECK(sp.resource_records("*.bar.foo").size() == 1);

    CHECK(sp.fresh_resource_records("foo", 59'999'999).size() == 1);
    CHECK(sp.fresh_resource_records("foo", 60'000'000).empty());  // ttl > elapsed, strictly
}

TEST_CASE("name normalization helpers", "[signed_packet]") {
    const std::string origin = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo";
    CHECK(normalize_name(origin, "") == origin);
    CHECK(normalize_name(origin, "foo.@") == origin);
    CHECK(normalize_name(origin, "a.b.") == "a.b." + origin);
    CHECK(normalize_name(origin, "x.O" + origin.substr(1)) == "x.O" + origin.substr(1) + "." + origin);
    // Too long once the key is appended.
    std::string longname;
    for (int i = 0; i < 4; ++i) longname += std::string(50, 'a') + ".";
    auto owner = normalize_owner(origin, name(longname));
    REQUIRE_FALSE(owner.ok());
    const auto kp = Keypair::from_seed(seed_of(0));
    auto sp = SignedPacket::sign(kp, {a_record(longname, "192.0.2.1", 60)}, ts);
    REQUIRE_FALSE(sp.ok());
    CHECK(sp.error().code == code(PacketError::invalid_dns));

    CHECK(txt_rdata("") == Bytes{0});
    const Bytes long_txt = txt_rdata(std::string(600, 'z'));
    REQUIRE(long_txt.size() == 603);
    CHECK(long_txt[0] == 254);
    CHECK(long_txt[255] == 254);
    CHECK(long_txt[510] == 92);
}
