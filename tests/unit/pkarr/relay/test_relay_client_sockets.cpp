// RelayClient against real loopback HTTP servers on the same libuv loop (http_responder.hpp).
// Every wait is bounded by a uv timer; every test ends with uv_loop_close() == 0.

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "pkarr/http_date.hpp"
#include "pkarr/relay/relay_client.hpp"
#include "http_responder.hpp"
#include "support/relay_packets.hpp"
#include "support/uv_loop.hpp"

using namespace pkdns;
using namespace pkdns::relay;
using namespace pkdns::relay::test;
using pkdns::test::close_loop;

namespace {

RelayClientConfig config_for(std::vector<std::string> urls) {
    RelayClientConfig c;
    c.urls = std::move(urls);
    c.connect_timeout_ms = 1000;
    c.get_timeout_ms = 2000;
    c.put_timeout_ms = 2000;
    return c;
}

// Serves `payloads` by path "/<z32>" (or a fixed reply for every request).
HttpResponder::Handler serve_packet(const pkarr::SignedPacket& p) {
    const std::string path = "/" + p.public_key().to_z32();
    const std::string body = payload_string(p);
    return [path, body](const HttpRequestSeen& req) {
        Reply r;
        if (req.method != "GET" || req.path != path) {
            r.status = 404;
            return r;
        }
        r.body = body;
        return r;
    };
}

HttpResponder::Handler fixed(Reply reply) {
    return [reply](const HttpRequestSeen&) { return reply; };
}

struct GetResult {
    int calls = 0;
    std::optional<GetOutcome> outcome;
    RelayClient::GetDone done() {
        return [this](GetOutcome o) {
            ++calls;
            outcome = std::move(o);
        };
    }
};

const RelayGet* answer_from(const GetOutcome& o, const std::string& relay) {
    for (const auto& a : o.relays)
        if (a.relay == relay) return &a;
    return nullptr;
}

}  // namespace

TEST_CASE("relay get: a valid payload is verified with the key from the URL") {
    uv::Loop loop;
    {
        const auto kp = keypair(1);
        const auto p = packet(kp, t0);
        HttpResponder server(loop, serve_packet(p));
        RelayClient client(loop, config_for({server.url()}));
        GetResult r;
        client.get(kp.public_key(), {}, r.done());
        CHECK(r.calls == 0);  // never from inside get()
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        REQUIRE(r.outcome->packet);
        CHECK(r.outcome->packet->same_as(p));
        CHECK(r.outcome->error.empty());
        REQUIRE(server.requests().size() == 1);
        const auto& req = server.requests()[0];
        CHECK(req.method == "GET");
        CHECK(req.path == "/" + kp.public_key().to_z32());
        CHECK(req.header("user-agent").value_or("").rfind("pkdns/", 0) == 0);
        CHECK_FALSE(req.header("if-modified-since"));
        client.close();
        CHECK(r.calls == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: wrong key, tampered signature, 500 fail, 404 is not found") {
    uv::Loop loop;
    {
        const auto kp = keypair(2);
        const auto other = keypair(3);
        Bytes tampered = packet(kp, t0).relay_payload();
        tampered[0] ^= 0x80;

        Reply wrong_key;
        wrong_key.body = payload_string(packet(other, t0));
        Reply bad_sig;
        bad_sig.body = std::string(tampered.begin(), tampered.end());
        Reply e500;
        e500.status = 500;
        e500.body = "internal error";
        Reply e404;
        e404.status = 404;

        HttpResponder s_wrong(loop, fixed(wrong_key)), s_sig(loop, fixed(bad_sig)), s_500(loop, fixed(e500)),
            s_404(loop, fixed(e404));

        auto one = [&](const std::string& url) {
            RelayClient client(loop, config_for({url}));
            GetResult r;
            client.get(kp.public_key(), {}, r.done());
            REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
            CHECK(r.calls == 1);
            return *r.outcome;
        };
        auto o = one(s_wrong.url());
        CHECK_FALSE(o.packet);
        CHECK(o.error.find("invalid packet") != std::string::npos);
        o = one(s_sig.url());
        CHECK_FALSE(o.packet);
        CHECK(o.error.find("invalid packet") != std::string::npos);
        o = one(s_500.url());
        CHECK_FALSE(o.packet);
        CHECK(o.error.find("HTTP 500: internal error") != std::string::npos);
        o = one(s_404.url());
        CHECK_FALSE(o.packet);
        CHECK(o.error.empty());  // not found
        REQUIRE(o.relays.size() == 1);
        CHECK(o.relays[0].status == RelayGet::Status::not_found);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: a stalled relay times out within the configured bound") {
    uv::Loop loop;
    {
        const auto kp = keypair(4);
        Reply never;
        never.never = true;
        HttpResponder server(loop, fixed(never));
        auto cfg = config_for({server.url()});
        cfg.get_timeout_ms = 300;
        RelayClient client(loop, cfg);
        GetResult r;
        loop.update_time();
        const auto started = loop.now_ms();
        client.get(kp.public_key(), {}, r.done());
        REQUIRE(pump_until(
            loop, [&] { return r.calls > 0; }, 5000));
        loop.update_time();
        const auto elapsed = loop.now_ms() - started;
        CHECK(elapsed >= 250);
        CHECK(elapsed < 2000);
        CHECK_FALSE(r.outcome->packet);
        CHECK(r.outcome->error.find("timed out") != std::string::npos);
        CHECK(server.requests().size() == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: an oversized body is rejected, with or without Content-Length") {
    uv::Loop loop;
    {
        const auto kp = keypair(5);
        Reply big;
        big.body = std::string(100'000, 'x');
        Reply big_no_length;
        big_no_length.raw = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(200'000, 'y');
        Reply big_chunked;
        std::string chunks;
        for (int i = 0; i < 100; ++i) chunks += "400\r\n" + std::string(0x400, 'z') + "\r\n";
        big_chunked.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                          chunks + "0\r\n\r\n";
        // A valid payload followed by trailing junk past the limit.
        Reply padded;
        padded.body = payload_string(packet(kp, t0)) + std::string(2000, '\0');
        for (const Reply& reply : {big, big_no_length, big_chunked, padded}) {
            HttpResponder server(loop, fixed(reply));
            RelayClient client(loop, config_for({server.url()}));
            GetResult r;
            client.get(kp.public_key(), {}, r.done());
            REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
            CHECK_FALSE(r.outcome->packet);
            CHECK(r.outcome->error.find("larger than 1104 bytes") != std::string::npos);
        }
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: hostile answers never crash and always complete once") {
    uv::Loop loop;
    {
        const auto kp = keypair(6);
        std::mt19937 rng(42);
        std::vector<Reply> replies;
        for (int i = 0; i < 24; ++i) {
            Reply r;
            std::string junk(rng() % 1300, '\0');
            for (auto& c : junk) c = static_cast<char>(rng());
            if (i % 3 == 0) {
                r.raw = junk;  // not HTTP at all
            } else if (i % 3 == 1) {
                r.body = junk;  // HTTP 200 with junk
            } else {
                r.raw = "HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n" + junk;  // short body
            }
            replies.push_back(r);
        }
        Reply huge_header;
        huge_header.raw = "HTTP/1.1 200 OK\r\nX-Junk: " + std::string(300'000, 'h') + "\r\n\r\n";
        replies.push_back(huge_header);
        Reply bad_status;
        bad_status.raw = "HTTP/1.1 99999999999999999999 What\r\n\r\n";
        replies.push_back(bad_status);
        std::size_t i = 0;
        HttpResponder server(loop, [&](const HttpRequestSeen&) { return replies[i++ % replies.size()]; });
        RelayClient client(loop, config_for({server.url()}));
        int done = 0;
        int with_packet = 0;
        for (std::size_t n = 0; n < replies.size(); ++n) {
            client.get(kp.public_key(), {}, [&](GetOutcome o) {
                ++done;
                if (o.packet) ++with_packet;
            });
        }
        REQUIRE(pump_until(
            loop, [&] { return done == static_cast<int>(replies.size()); }, 20000));
        CHECK(with_packet == 0);
        CHECK(client.active_transfers() == 0);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: two relays, one bad: the good one answers, per-relay results are kept") {
    uv::Loop loop;
    {
        const auto kp = keypair(7);
        const auto p = packet(kp, t0);
        Bytes tampered = p.relay_payload();
        tampered[5] ^= 0x01;
        Reply bad;
        bad.body = std::string(tampered.begin(), tampered.end());
        HttpResponder bad_relay(loop, fixed(bad));
        HttpResponder good_relay(loop, serve_packet(p));
        RelayClient client(loop, config_for({bad_relay.url(), good_relay.url()}));
        GetResult r;
        GetOptions options;
        options.wait_all = true;
        client.get(kp.public_key(), options, r.done());
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        REQUIRE(r.outcome->packet);
        CHECK(r.outcome->packet->same_as(p));
        REQUIRE(r.outcome->relays.size() == 2);
        const RelayGet* b = answer_from(*r.outcome, bad_relay.url());
        REQUIRE(b);
        CHECK(b->status == RelayGet::Status::failed);
        CHECK(b->error.find("invalid packet") != std::string::npos);
        const RelayGet* g = answer_from(*r.outcome, good_relay.url());
        REQUIRE(g);
        CHECK(g->status == RelayGet::Status::found);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: the first valid answer completes, a more recent later one goes to on_newer") {
    uv::Loop loop;
    {
        const auto kp = keypair(8);
        const auto old_p = packet(kp, t0, 1);
        const auto new_p = packet(kp, t0 + 1000, 2);
        HttpResponder fast(loop, serve_packet(old_p));
        Reply held;
        held.body = payload_string(new_p);
        held.hold = true;
        HttpResponder slow(loop, fixed(held));
        Reply older_held;
        older_held.body = payload_string(packet(kp, t0 - 1000, 3));
        older_held.hold = true;
        HttpResponder slower_older(loop, fixed(older_held));
        RelayClient client(loop, config_for({slow.url(), fast.url(), slower_older.url()}));
        GetResult r;
        std::vector<pkarr::Micros> newer;
        client.get(kp.public_key(), {}, r.done(),
                   [&](const pkarr::SignedPacket& p) { newer.push_back(p.timestamp()); });
        REQUIRE(
            pump_until(loop, [&] { return r.calls > 0 && slow.held() == 1 && slower_older.held() == 1; }));
        REQUIRE(r.outcome->packet);
        CHECK(r.outcome->packet->timestamp() == t0);
        CHECK(newer.empty());
        slow.release_held();
        REQUIRE(pump_until(loop, [&] { return !newer.empty(); }));
        CHECK(newer == std::vector<pkarr::Micros>{t0 + 1000});
        slower_older.release_held();
        REQUIRE(pump_until(loop, [&] { return client.active_transfers() == 0; }));
        CHECK(newer.size() == 1);  // the older one is not reported
        CHECK(r.calls == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: newer_than sends If-Modified-Since, 304 and older packets are not found") {
    uv::Loop loop;
    {
        const auto kp = keypair(9);
        Reply not_modified;
        not_modified.status = 304;
        HttpResponder s304(loop, fixed(not_modified));
        HttpResponder s_old(loop, serve_packet(packet(kp, t0)));
        RelayClient client(loop, config_for({s304.url(), s_old.url()}));
        GetResult r;
        GetOptions options;
        options.newer_than = t0;
        client.get(kp.public_key(), options, r.done());
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        CHECK_FALSE(r.outcome->packet);
        CHECK(r.outcome->error.empty());
        REQUIRE(s304.requests().size() == 1);
        auto ims = s304.requests()[0].header("if-modified-since");
        REQUIRE(ims);
        auto secs = pkarr::parse_http_date(*ims);
        REQUIRE(secs.ok());
        CHECK(*secs == t0 / 1'000'000 - 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: an empty 200 or a 304 we did not ask for is retried once bypassing caches") {
    uv::Loop loop;
    {
        const auto kp = keypair(10);
        const auto p = packet(kp, t0);
        int calls = 0;
        HttpResponder server(loop, [&](const HttpRequestSeen&) {
            Reply r;
            if (calls++ == 0) return r;  // 200, empty body
            r.body = payload_string(p);
            return r;
        });
        RelayClient client(loop, config_for({server.url()}));
        GetResult r;
        client.get(kp.public_key(), {}, r.done());
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        REQUIRE(r.outcome->packet);
        REQUIRE(server.requests().size() == 2);
        CHECK_FALSE(server.requests()[0].header("cache-control"));
        CHECK(server.requests()[1].header("cache-control").value_or("") == "no-cache");

        Reply not_modified;
        not_modified.status = 304;
        HttpResponder s304(loop, fixed(not_modified));
        RelayClient client2(loop, config_for({s304.url()}));
        GetResult r2;
        client2.get(kp.public_key(), {}, r2.done());
        REQUIRE(pump_until(loop, [&] { return r2.calls > 0; }));
        CHECK(s304.requests().size() == 2);  // once more, then accepted as not found
        CHECK_FALSE(r2.outcome->packet);
        CHECK(r2.outcome->error.empty());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay get: redirects are not followed, a base URL with a path is joined") {
    uv::Loop loop;
    {
        const auto kp = keypair(11);
        const auto p = packet(kp, t0);
        HttpResponder target(loop, serve_packet(p));
        Reply redirect;
        redirect.status = 302;
        redirect.headers = {"Location: " + target.url("/" + kp.public_key().to_z32())};
        HttpResponder redirector(loop, fixed(redirect));
        const std::string path = "/pkarr/" + kp.public_key().to_z32();
        HttpResponder with_path(loop, [&](const HttpRequestSeen& req) {
            Reply r;
            if (req.path != path) {
                r.status = 404;
                return r;
            }
            r.body = payload_string(p);
            return r;
        });
        RelayClient client(loop, config_for({redirector.url(), with_path.url("/pkarr/")}));
        GetResult r;
        GetOptions options;
        options.wait_all = true;
        client.get(kp.public_key(), options, r.done());
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        REQUIRE(r.outcome->packet);
        CHECK(target.requests().empty());
        const RelayGet* red = answer_from(*r.outcome, redirector.url());
        REQUIRE(red);
        CHECK(red->status == RelayGet::Status::failed);
        CHECK(red->error == "HTTP 302");
        REQUIRE(with_path.requests().size() == 1);
        CHECK(with_path.requests()[0].path == path);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay put: payload and headers, per-relay outcomes 204, 409, 400, 200 and a dead relay") {
    uv::Loop loop;
    {
        const auto kp = keypair(12);
        const auto p = packet(kp, t0);
        Reply r204;
        r204.status = 204;
        r204.headers = {"Pkarr-Dht-Stored-Nodes: 12"};
        Reply r409;
        r409.status = 409;
        r409.body = "not most recent";
        Reply r400;
        r400.status = 400;
        r400.body = "bad\nsignature";
        Reply r200;
        HttpResponder s204(loop, fixed(r204)), s409(loop, fixed(r409)), s400(loop, fixed(r400)),
            s200(loop, fixed(r200));
        std::string dead;
        {
            HttpResponder gone(loop, fixed(r200));
            dead = gone.url();
        }
        RelayClient client(loop, config_for({s204.url(), s409.url(), s400.url(), s200.url(), dead}));
        std::optional<PutOutcome> out;
        int calls = 0;
        client.put(p, [&](PutOutcome o) {
            ++calls;
            out = std::move(o);
        });
        CHECK(calls == 0);
        REQUIRE(pump_until(loop, [&] { return calls > 0; }));
        CHECK(calls == 1);
        REQUIRE(out->relays.size() == 5);
        CHECK(out->succeeded == 2);
        CHECK(out->relays[0].relay == s204.url());
        CHECK(out->relays[0].status == RelayPut::Status::ok);
        CHECK(out->relays[0].stored_nodes == std::optional<std::size_t>(12));
        CHECK(out->relays[1].status == RelayPut::Status::conflict);
        CHECK(out->relays[2].status == RelayPut::Status::failed);
        CHECK(out->relays[2].error == "HTTP 400: bad signature");
        CHECK(out->relays[3].status == RelayPut::Status::ok);
        CHECK_FALSE(out->relays[3].stored_nodes);
        CHECK(out->relays[4].status == RelayPut::Status::failed);
        CHECK(out->relays[4].http_status == 0);

        REQUIRE(s204.requests().size() == 1);
        const auto& req = s204.requests()[0];
        CHECK(req.method == "PUT");
        CHECK(req.path == "/" + kp.public_key().to_z32());
        CHECK(req.body == payload_string(p));
        CHECK_FALSE(req.header("content-type"));
        CHECK(req.header("user-agent").value_or("").rfind("pkdns/", 0) == 0);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay put: a stalled relay times out, a huge error body is cut short") {
    uv::Loop loop;
    {
        const auto kp = keypair(13);
        Reply never;
        never.never = true;
        Reply huge;
        huge.status = 500;
        huge.body = std::string(50'000, 'e');
        HttpResponder stalled(loop, fixed(never)), chatty(loop, fixed(huge));
        auto cfg = config_for({stalled.url(), chatty.url()});
        cfg.put_timeout_ms = 300;
        RelayClient client(loop, cfg);
        std::optional<PutOutcome> out;
        client.put(packet(kp, t0), [&](PutOutcome o) { out = std::move(o); });
        REQUIRE(pump_until(
            loop, [&] { return out.has_value(); }, 5000));
        CHECK(out->succeeded == 0);
        CHECK(out->relays[0].error.find("timed out") != std::string::npos);
        CHECK(out->relays[1].http_status == 500);
        CHECK(out->relays[1].error.size() < 300);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay client: close() completes pending requests once and the loop closes cleanly") {
    uv::Loop loop;
    {
        const auto kp = keypair(14);
        Reply never;
        never.never = true;
        HttpResponder stalled(loop, fixed(never));
        int get_calls = 0, put_calls = 0, newer_calls = 0;
        std::string get_error;
        {
            RelayClient client(loop, config_for({stalled.url(), stalled.url()}));
            client.get(
                kp.public_key(), {},
                [&](GetOutcome o) {
                    ++get_calls;
                    get_error = o.error;
                },
                [&](const pkarr::SignedPacket&) { ++newer_calls; });
            client.put(packet(kp, t0), [&](PutOutcome o) {
                ++put_calls;
                CHECK(o.succeeded == 0);
            });
            REQUIRE(pump_until(loop, [&] { return stalled.requests().size() == 4; }));
            CHECK(client.active_transfers() == 4);
            client.close();
            CHECK(get_calls == 1);
            CHECK(put_calls == 1);
            CHECK(get_error.find("closed") != std::string::npos);
            client.close();  // idempotent
            // After close: completes at once, with an error.
            int late = 0;
            client.get(kp.public_key(), {}, [&](GetOutcome o) {
                ++late;
                CHECK_FALSE(o.error.empty());
            });
            CHECK(late == 1);
        }
        CHECK(get_calls == 1);
        CHECK(put_calls == 1);
        CHECK(newer_calls == 0);

        // Destroying a client with transfers in flight is the same as close().
        int destroyed_calls = 0;
        {
            RelayClient client(loop, config_for({stalled.url()}));
            client.get(kp.public_key(), {}, [&](GetOutcome) { ++destroyed_calls; });
            REQUIRE(pump_until(loop, [&] { return stalled.requests().size() == 5; }));
        }
        CHECK(destroyed_calls == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("relay client: no usable relays completes from the loop with an error") {
    uv::Loop loop;
    {
        const auto kp = keypair(15);
        RelayClient client(loop, config_for({"ftp://nope", "not a url"}));
        CHECK(client.urls().empty());
        GetResult r;
        client.get(kp.public_key(), {}, r.done());
        CHECK(r.calls == 0);
        REQUIRE(pump_until(loop, [&] { return r.calls > 0; }));
        CHECK_FALSE(r.outcome->packet);
        CHECK_FALSE(r.outcome->error.empty());
        std::optional<PutOutcome> out;
        client.put(packet(kp, t0), [&](PutOutcome o) { out = std::move(o); });
        REQUIRE(pump_until(loop, [&] { return out.has_value(); }));
        CHECK(out->succeeded == 0);
    }
    CHECK(close_loop(loop));
}
