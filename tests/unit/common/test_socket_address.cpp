#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "common/cidr.hpp"
#include "common/socket_address.hpp"

using pkdns::Cidr;
using pkdns::HostPort;
using pkdns::IpAddress;
using pkdns::SocketAddress;

TEST_CASE("IpAddress parses IPv4 and IPv6 literals and prints them canonically") {
    auto v4 = IpAddress::parse("192.0.2.10");
    REQUIRE(v4.ok());
    CHECK(v4->is_v4());
    CHECK(v4->bytes()[0] == 192);
    CHECK(v4->bytes()[3] == 10);
    CHECK(v4->to_string() == "192.0.2.10");
    CHECK(*v4 == IpAddress::v4(192, 0, 2, 10));

    auto v6 = IpAddress::parse("2001:DB8:0:0:0:0:0:1");
    REQUIRE(v6.ok());
    CHECK(v6->is_v6());
    CHECK(v6->to_string() == "2001:db8::1");
    CHECK_FALSE(v6->is_v4_mapped());
    CHECK(IpAddress::parse("::ffff:10.1.2.3")->is_v4_mapped());
}

TEST_CASE("IpAddress rejects what is not an IP literal") {
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "host.example",
                            "::g", "1:2:3:4:5:6:7:8:9", "[::1]", "fe80::1%eth0",
                            "0000000000000000000000000000000000000000000000000000"}) {
        INFO(bad);
        CHECK_FALSE(IpAddress::parse(bad).ok());
    }
}

TEST_CASE("SocketAddress parses IPv4 and bracketed IPv6 with a port") {
    auto a = SocketAddress::parse("127.0.0.1:53");
    REQUIRE(a.ok());
    CHECK(a->ip == IpAddress::v4(127, 0, 0, 1));
    CHECK(a->port == 53);
    CHECK(a->to_string() == "127.0.0.1:53");

    auto b = SocketAddress::parse("[::1]:5353");
    REQUIRE(b.ok());
    CHECK(b->ip.is_v6());
    CHECK(b->port == 5353);
    CHECK(b->to_string() == "[::1]:5353");

    CHECK(SocketAddress::parse("0.0.0.0:0")->port == 0);
    CHECK(SocketAddress::parse("1.2.3.4:65535")->port == 65535);
    CHECK(SocketAddress::parse("[2001:db8::1]:53")->to_string() == "[2001:db8::1]:53");
}

TEST_CASE("SocketAddress rejects malformed addresses with a message naming the input") {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":53", "127.0.0.1:65536", "127.0.0.1:-1",
                            "127.0.0.1:5x", "::1:53", "[::1]", "[::1]53", "[::1:53", "[127.0.0.1]:53",
                            "localhost:53", "1.2.3:53", "127.0.0.1:123456", "[fe80::1%lo]:53"}) {
        INFO(bad);
        auto r = SocketAddress::parse(bad);
        REQUIRE_FALSE(r.ok());
        if (*bad) CHECK(r.error().message.find(std::string("'") + bad + "'") != std::string::npos);
    }
}

TEST_CASE("SocketAddress converts to and from sockaddr") {
    for (const char* text : {"192.0.2.1:4242", "[2001:db8::7]:853"}) {
        auto a = SocketAddress::parse(text).value();
        sockaddr_storage ss{};
        a.to_sockaddr(ss);
        CHECK(a.sockaddr_length() == (a.ip.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
        auto back = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
        REQUIRE(back.ok());
        CHECK(*back == a);
    }
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(53);
    sin.sin_addr.s_addr = htonl(0x0a000001);
    CHECK(SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin))->to_string() ==
          "10.0.0.1:53");
    sockaddr unix_like{};
    unix_like.sa_family = AF_UNIX;
    CHECK_FALSE(SocketAddress::from_sockaddr(&unix_like).ok());
    CHECK_FALSE(SocketAddress::from_sockaddr(nullptr).ok());
}

TEST_CASE("HostPort accepts host names and IP literals") {
    auto h = HostPort::parse("router.bittorrent.com:6881");
    REQUIRE(h.ok());
    CHECK(h->host == "router.bittorrent.com");
    CHECK(h->port == 6881);
    CHECK(h->to_string() == "router.bittorrent.com:6881");

    auto v6 = HostPort::parse("[2001:db8::1]:6881");
    REQUIRE(v6.ok());
    CHECK(v6->host == "2001:db8::1");
    CHECK(v6->to_string() == "[2001:db8::1]:6881");

    CHECK(HostPort::parse("127.0.0.1:1")->host == "127.0.0.1");
    CHECK(HostPort::parse("localhost:6881").ok());
    CHECK(HostPort::parse("host.example.:6881").ok());

    for (const char* bad : {"", "router.bittorrent.com", "router..com:6881", ".com:1", "a b:1", "host:99999",
                            "[not-v6]:1", "[1.2.3.4]:1", "::1:6881", "h\n:1"}) {
        INFO(bad);
        CHECK_FALSE(HostPort::parse(bad).ok());
    }
    CHECK_FALSE(HostPort::parse(std::string(64, 'a') + ".com:1").ok());
    CHECK(HostPort::parse(std::string(63, 'a') + ".com:1").ok());
}

TEST_CASE("Cidr parses prefixes and matches addresses") {
    auto c = Cidr::parse("10.0.0.0/8").value();
    CHECK(c.prefix_length() == 8);
    CHECK(c.to_string() == "10.0.0.0/8");
    CHECK(c.contains(IpAddress::parse("10.255.1.2").value()));
    CHECK_FALSE(c.contains(IpAddress::parse("11.0.0.1").value()));
    CHECK_FALSE(c.contains(IpAddress::parse("::1").value()));
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    CHECK(c.contains(IpAddress::parse("::ffff:10.1.1.1").value()));
    CHECK_FALSE(c.contains(IpAddress::parse("::ffff:11.1.1.1").value()));

    auto odd = Cidr::parse("172.16.0.0/12").value();
    CHECK(odd.contains(IpAddress::parse("172.31.255.255").value()));
    CHECK_FALSE(odd.contains(IpAddress::parse("172.32.0.0").value()));
    CHECK_FALSE(odd.contains(IpAddress::parse("172.15.255.255").value()));

    auto ula = Cidr::parse("fc00::/7").value();
    CHECK(ula.contains(IpAddress::parse("fd12:3456::1").value()));
    CHECK_FALSE(ula.contains(IpAddress::parse("fe80::1").value()));
    CHECK_FALSE(ula.contains(IpAddress::parse("10.0.0.1").value()));

    auto host = Cidr::parse("::1/128").value();
    CHECK(host.contains(IpAddress::parse("::1").value()));
    CHECK_FALSE(host.contains(IpAddress::parse("::2").value()));

    CHECK(Cidr::parse("192.0.2.7").value().prefix_length() == 32);
    CHECK(Cidr::parse("2001:db8::1").value().prefix_length() == 128);

    auto all4 = Cidr::parse("0.0.0.0/0").value();
    CHECK(all4.contains(IpAddress::parse("203.0.113.9").value()));
    CHECK_FALSE(all4.contains(IpAddress::parse("2001:db8::1").value()));
    CHECK(Cidr::parse("::/0").value().contains(IpAddress::parse("2001:db8::1").value()));
}

TEST_CASE("Cidr rejects bad prefixes") {
    for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8", "fc00::1/7",
                            "10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.0/0008", "host/8", "10.0.0.0/8/8"}) {
        INFO(bad);
        CHECK_FALSE(Cidr::parse(bad).ok());
    }
}
