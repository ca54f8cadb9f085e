// The pure parts of the relay client: URL joining and what each relay answer means.

#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "pkarr/http_date.hpp"
#include "pkarr/relay/relay_client.hpp"
#include "support/relay_packets.hpp"

using namespace pkdns;
using namespace pkdns::relay;
using namespace pkdns::relay::test;

namespace {

GetVerdict get(const pkarr::PublicKey& key, long status, const Bytes& body,
               std::optional<pkarr::Micros> newer_than = std::nullopt, bool ims = false, bool retried = false,
               std::optional<std::string> memento = std::nullopt, pkarr::Micros now = t0 + 10'000'000) {
    GetResponse r;
    r.status = status;
    r.body = body;
    r.sent_if_modified_since = ims;
    r.retried = retried;
    r.memento_datetime = std::move(memento);
    return classify_get(key, newer_than, r, now);
}

}  // namespace

TEST_CASE("relay_url joins base and key whatever trailing slashes the base has") {
    const auto key = keypair(1).public_key();
    const std::string z = key.to_z32();
    CHECK(relay_url("https://relay.example", key).value() == "https://relay.example/" + z);
    CHECK(relay_url("https://relay.example/", key).value() == "https://relay.example/" + z);
    CHECK(relay_url("https://relay.example/pkarr", key).value() == "https://relay.example/pkarr/" + z);
    CHECK(relay_url("https://relay.example/pkarr/", key).value() == "https://relay.example/pkarr/" + z);
    CHECK(relay_url("https://relay.example/pkarr///", key).value() == "https://relay.example/pkarr/" + z);
    CHECK(relay_url("http://127.0.0.1:8080", key).value() == "http://127.0.0.1:8080/" + z);
    CHECK(relay_url("http://[::1]:8080/x/", key).value() == "http://[::1]:8080/x/" + z);
    CHECK(relay_url("https://relay.example/p?x=1", key).value() == "https://relay.example/p/" + z + "?x=1");
    CHECK(relay_url("https://relay.example/#frag", key).value() == "https://relay.example/" + z);
}

TEST_CASE("relay_url rejects what is not an http(s) URL with a host") {
    const auto key = keypair(1).public_key();
    for (const char* bad : {"", "relay.example", "ftp://relay.example", "file:///etc/passwd", "https://",
                            "https://relay example", "gopher://x", "http://a b/"}) {
        INFO(bad);
        auto r = relay_url(bad, key);
        CHECK_FALSE(r.ok());
    }
    CHECK_FALSE(relay_url(std::string("https://a\0b", 11), key).ok());
}

TEST_CASE("classify_get: a valid payload for the key in the URL is found") {
    const auto kp = keypair(2);
    const auto p = packet(kp, t0);
    auto v = get(kp.public_key(), 200, p.relay_payload());
    REQUIRE_FALSE(v.retry);
    REQUIRE(v.answer.status == RelayGet::Status::found);
    CHECK(v.answer.packet->same_as(p));
    CHECK(v.answer.packet->last_seen() == t0 + 10'000'000);  // `now`: no Memento-Datetime
}

TEST_CASE("classify_get: wrong key, tampered signature, truncated or garbage bodies fail") {
    const auto kp = keypair(3);
    const auto other = keypair(4);
    Bytes payload = packet(kp, t0).relay_payload();

    auto wrong_key = get(other.public_key(), 200, payload);
    CHECK(wrong_key.answer.status == RelayGet::Status::failed);
    CHECK(wrong_key.answer.error.find("invalid packet") != std::string::npos);

    Bytes tampered = payload;
    tampered[10] ^= 0x01;
    CHECK(get(kp.public_key(), 200, tampered).answer.status == RelayGet::Status::failed);
    Bytes tampered_dns = payload;
    tampered_dns.back() ^= 0x01;
    CHECK(get(kp.public_key(), 200, tampered_dns).answer.status == RelayGet::Status::failed);

    Bytes truncated(payload.begin(), payload.begin() + 71);
    CHECK(get(kp.public_key(), 200, truncated).answer.status == RelayGet::Status::failed);

    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        Bytes junk(rng() % 1200);
        for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
        auto v = get(kp.public_key(), 200, junk);
        if (junk.empty()) {
            CHECK(v.retry);
        } else {
            CHECK(v.answer.status == RelayGet::Status::failed);
        }
    }
}

TEST_CASE("classify_get: statuses") {
    const auto kp = keypair(5);
    const Bytes none;
    CHECK(get(kp.public_key(), 404, none).answer.status == RelayGet::Status::not_found);
    auto e500 = get(kp.public_key(), 500, bytes_of("boom\r\n\x01"));
    CHECK(e500.answer.status == RelayGet::Status::failed);
    CHECK(e500.answer.error == "HTTP 500: boom ?");
    CHECK(get(kp.public_key(), 302, none).answer.status == RelayGet::Status::failed);
    CHECK(get(kp.public_key(), 429, none).answer.status == RelayGet::Status::failed);
    CHECK(get(kp.public_key(), 503, none).answer.error == "HTTP 503");
}

TEST_CASE("classify_get: 304 and empty 2xx (pkarr-spec 6.4 retry rule)") {
    const auto kp = keypair(6);
    const Bytes none;
    // 304 answering our If-Modified-Since: nothing newer.
    CHECK(get(kp.public_key(), 304, none, t0, true).answer.status == RelayGet::Status::not_found);
    // 304 we did not ask for (an HTTP cache): retry once, then not found.
    CHECK(get(kp.public_key(), 304, none, std::nullopt, false, false).retry);
    auto again = get(kp.public_key(), 304, none, std::nullopt, false, true);
    CHECK_FALSE(again.retry);
    CHECK(again.answer.status == RelayGet::Status::not_found);
    // Empty 200 (v5 relay bug): retry once, then a failure.
    CHECK(get(kp.public_key(), 200, none).retry);
    auto empty = get(kp.public_key(), 200, none, std::nullopt, false, true);
    CHECK_FALSE(empty.retry);
    CHECK(empty.answer.status == RelayGet::Status::failed);
}

TEST_CASE("classify_get: with newer_than, a packet that is not newer counts as not found") {
    const auto kp = keypair(7);
    auto same = get(kp.public_key(), 200, packet(kp, t0).relay_payload(), t0, true);
    CHECK(same.answer.status == RelayGet::Status::not_found);
    auto older = get(kp.public_key(), 200, packet(kp, t0 - 1).relay_payload(), t0, true);
    CHECK(older.answer.status == RelayGet::Status::not_found);
    auto newer = get(kp.public_key(), 200, packet(kp, t0 + 1).relay_payload(), t0, true);
    CHECK(newer.answer.status == RelayGet::Status::found);
}

TEST_CASE("classify_get: Memento-Datetime sets last_seen unless it is in the future or garbage") {
    const auto kp = keypair(8);
    const Bytes payload = packet(kp, t0).relay_payload();
    const pkarr::Micros now = t0 + 3600'000'000ULL;
    const std::uint64_t seen_s = t0 / 1'000'000 + 60;
    auto v =
        get(kp.public_key(), 200, payload, std::nullopt, false, false, pkarr::format_http_date(seen_s), now);
    REQUIRE(v.answer.packet);
    CHECK(v.answer.packet->last_seen() == seen_s * 1'000'000);
    auto future = get(kp.public_key(), 200, payload, std::nullopt, false, false,
                      pkarr::format_http_date(now / 1'000'000 + 60), now);
    CHECK(future.answer.packet->last_seen() == now);
    auto junk = get(kp.public_key(), 200, payload, std::nullopt, false, false, "yesterday", now);
    CHECK(junk.answer.packet->last_seen() == now);
}

TEST_CASE("classify_put: 2xx ok with stored nodes, 409/428 conflict, anything else an error") {
    const Bytes none;
    auto ok = classify_put(204, none, std::string("7"));
    CHECK(ok.status == RelayPut::Status::ok);
    CHECK(ok.stored_nodes == std::optional<std::size_t>(7));
    auto ok200 = classify_put(200, none, std::nullopt);
    CHECK(ok200.status == RelayPut::Status::ok);
    CHECK_FALSE(ok200.stored_nodes);
    CHECK(classify_put(204, none, std::string("x7")).status == RelayPut::Status::failed);
    CHECK(classify_put(204, none, std::string("")).status == RelayPut::Status::failed);
    CHECK(classify_put(204, none, std::string("99999999999999999999999")).status == RelayPut::Status::failed);
    auto conflict = classify_put(409, bytes_of("not most recent"), std::nullopt);
    CHECK(conflict.status == RelayPut::Status::conflict);
    CHECK(conflict.error.find("not most recent") != std::string::npos);
    CHECK(classify_put(428, none, std::nullopt).status == RelayPut::Status::conflict);
    auto bad = classify_put(400, bytes_of("bad signature"), std::nullopt);
    CHECK(bad.status == RelayPut::Status::failed);
    CHECK(bad.http_status == 400);
    CHECK(bad.error == "HTTP 400: bad signature");
    auto e500 = classify_put(500, Bytes(5000, 'x'), std::nullopt);
    CHECK(e500.status == RelayPut::Status::failed);
    CHECK(e500.error.size() < 300);  // excerpt only
}
