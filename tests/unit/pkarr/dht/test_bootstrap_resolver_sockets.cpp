#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "common/dns/record.hpp"
#include "pkarr/dht/bootstrap_resolver.hpp"
#include "support.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using pkdns::test::loopback;
using pkdns::test::run_until;

namespace {

// A DNS server on loopback (in the same loop) answering A queries for `name` with 127.0.0.7.
struct DnsServer {
    uv::UdpSocket socket;
    std::string name;
    int queries = 0;
    bool answer = true;

    DnsServer(uv::Loop& loop, std::string n) : socket(loop), name(std::move(n)) {
        REQUIRE(socket.bind(loopback()).ok());
        REQUIRE(socket.start_recv([this](ByteView data, const SocketAddress& from) { on_query(data, from); })
                    .ok());
    }
    SocketAddress address() const { return socket.local_address().value(); }

    void on_query(ByteView data, const SocketAddress& from) {
        ++queries;
        if (!answer) return;
        auto q = dns::parse_packet(data);
        if (!q || q->questions.size() != 1) return;
        dns::Packet r = q.value();
        r.flags = dns::flag::QR | dns::flag::RD | dns::flag::RA;
        if (q->questions[0].name == dns::Name::parse(name).value()) {
            r.answers.push_back(
                dns::Record{q->questions[0].name, dns::type::A, dns::class_IN, 60, Bytes{127, 0, 0, 7}});
        } else {
            r.set_rcode(dns::rcode::NXDOMAIN);
        }
        (void)socket.send(dns::encode_packet(r), from);
    }
};

}  // namespace

TEST_CASE("bootstrap resolver: query and response helpers") {
    Bytes q = build_address_query(0x1234, "router.example", dns::type::A);
    auto parsed = dns::parse_packet(q);
    REQUIRE(parsed.ok());
    CHECK(parsed->id == 0x1234);
    REQUIRE(parsed->questions.size() == 1);
    CHECK(parsed->questions[0].name.to_string() == "router.example");

    dns::Packet r = parsed.value();
    r.flags = dns::flag::QR;
    r.answers.push_back(dns::Record{r.questions[0].name, dns::type::A, dns::class_IN, 60, Bytes{1, 2, 3, 4}});
    auto addrs = parse_address_response(dns::encode_packet(r), 0x1234, "router.example", dns::type::A, 6881);
    REQUIRE(addrs.ok());
    REQUIRE(addrs->size() == 1);
    CHECK(addrs->at(0).to_string() == "1.2.3.4:6881");

    CHECK_FALSE(
        parse_address_response(dns::encode_packet(r), 0x1235, "router.example", dns::type::A, 1).ok());
    CHECK_FALSE(parse_address_response(dns::encode_packet(r), 0x1234, "other.example", dns::type::A, 1).ok());
    CHECK_FALSE(parse_address_response(q, 0x1234, "router.example", dns::type::A, 1).ok());  // not a response
    r.set_rcode(dns::rcode::NXDOMAIN);
    auto nx = parse_address_response(dns::encode_packet(r), 0x1234, "router.example", dns::type::A, 1);
    REQUIRE_FALSE(nx.ok());
    CHECK(nx.error().message.find("NXDOMAIN") != std::string::npos);
    CHECK_FALSE(parse_address_response(Bytes{1, 2, 3}, 0x0102, "router.example", dns::type::A, 1).ok());
}

TEST_CASE("bootstrap resolver: names go to the configured server, literals pass through") {
    uv::Loop loop;
    {
        DnsServer server(loop, "boot.pkdns.test");
        BootstrapResolver resolver(loop, server.address(), 2000);
        std::optional<BootstrapResolver::Outcome> out;
        resolver.resolve({{"10.1.2.3", 6881}, {"boot.pkdns.test", 7000}, {"missing.pkdns.test", 1}},
                         [&](BootstrapResolver::Outcome o) { out = std::move(o); });
        REQUIRE(run_until(loop, [&] { return out.has_value(); }));
        CHECK(server.queries == 2);
        REQUIRE(out->addresses.size() == 2);
        CHECK(out->addresses[0].to_string() == "10.1.2.3:6881");
        CHECK(out->addresses[1].to_string() == "127.0.0.7:7000");
        REQUIRE(out->errors.size() == 1);
        CHECK(out->errors[0].find("missing.pkdns.test") != std::string::npos);
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("bootstrap resolver: a silent server gives a timeout error, exactly once") {
    uv::Loop loop;
    {
        DnsServer server(loop, "boot.pkdns.test");
        server.answer = false;
        BootstrapResolver resolver(loop, server.address(), 200);
        int calls = 0;
        BootstrapResolver::Outcome out;
        resolver.resolve({{"boot.pkdns.test", 6881}}, [&](BootstrapResolver::Outcome o) {
            ++calls;
            out = std::move(o);
        });
        REQUIRE(run_until(
            loop, [&] { return calls > 0; }, 5000));
        CHECK(out.addresses.empty());
        REQUIRE(out.errors.size() == 1);
        CHECK(out.errors[0].find("no answer") != std::string::npos);
        // Nothing more arrives later.
        bool later = false;
        uv::Timer t(loop);
        t.start(300, 0, [&] { later = true; });
        run_until(loop, [&] { return later; });
        CHECK(calls == 1);
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("bootstrap resolver: destroying it completes the pending resolve as cancelled") {
    uv::Loop loop;
    int calls = 0;
    BootstrapResolver::Outcome out;
    {
        DnsServer server(loop, "boot.pkdns.test");
        server.answer = false;
        auto resolver = std::make_unique<BootstrapResolver>(loop, server.address(), 5000);
        resolver->resolve({{"boot.pkdns.test", 6881}}, [&](BootstrapResolver::Outcome o) {
            ++calls;
            out = std::move(o);
        });
        resolver.reset();
    }
    CHECK(calls == 1);
    REQUIRE(out.errors.size() == 1);
    CHECK(out.errors[0].find("cancelled") != std::string::npos);
    CHECK(test::close_loop(loop));
}
