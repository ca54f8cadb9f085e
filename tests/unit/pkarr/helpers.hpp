#pragma once
// Shared helpers for the pkarr unit tests: hex, seeds, and building dns::Records from the
// vectors' {"name","type","ttl","data"} objects.

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <charconv>
#include <sstream>
#include <string>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::pkarr::test {

inline Bytes hex(std::string_view text) {
    auto b = from_hex(text);
    REQUIRE(b.ok());
    return b.value();
}

// a || b, sized up front (GCC 12 warns falsely about insert() growing a small vector).
inline Bytes concat(ByteView a, ByteView b) {
    Bytes out(a.size() + b.size());
    std::copy(a.begin(), a.end(), out.begin());
    std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(a.size()));
    return out;
}

inline Keypair::Seed seed_from_hex(std::string_view text) {
    Bytes b = hex(text);
    REQUIRE(b.size() == 32);
    Keypair::Seed seed{};
    std::copy(b.begin(), b.end(), seed.begin());
    return seed;
}

inline Keypair::Seed seed_of(std::uint8_t fill) {
    Keypair::Seed seed{};
    seed.fill(fill);
    return seed;
}

inline dns::Name name(std::string_view text) {
    auto n = dns::Name::parse(text);
    REQUIRE(n.ok());
    return n.value();
}

inline dns::Record a_record(std::string_view owner, std::string_view ip, std::uint32_t ttl) {
    dns::Record r;
    r.name = name(owner);
    r.type = dns::type::A;
    r.ttl = ttl;
    r.rdata.resize(4);
    REQUIRE(inet_pton(AF_INET, std::string(ip).c_str(), r.rdata.data()) == 1);
    return r;
}

inline dns::Record txt_record(std::string_view owner, std::string_view text, std::uint32_t ttl) {
    dns::Record r;
    r.name = name(owner);
    r.type = dns::type::TXT;
    r.ttl = ttl;
    r.rdata = txt_rdata(text);
    return r;
}

// rdata from the vectors' presentation strings, for the types the vectors use.
inline Bytes rdata_from_text(std::uint16_t type, const std::string& data) {
    Bytes out;
    if (type == dns::type::A) {
        out.resize(4);
        REQUIRE(inet_pton(AF_INET, data.c_str(), out.data()) == 1);
    } else if (type == dns::type::AAAA) {
        out.resize(16);
        REQUIRE(inet_pton(AF_INET6, data.c_str(), out.data()) == 1);
    } else if (type == dns::type::CNAME) {
        name(data).append_wire(out);
    } else if (type == dns::type::TXT) {
        // The multi vector describes its long TXT as "'x' repeated N times (...)".
        constexpr std::string_view repeated = "'x' repeated ";
        if (data.starts_with(repeated)) {
            std::size_t count = 0;
            auto rest = std::string_view(data).substr(repeated.size());
            REQUIRE(std::from_chars(rest.data(), rest.data() + rest.size(), count).ec == std::errc{});
            out = txt_rdata(std::string(count, 'x'));
        } else {
            out = txt_rdata(data);
        }
    } else if (type == dns::type::HTTPS || type == dns::type::SVCB) {
        // "<priority> <target> [port=N]" is all the vectors need.
        std::istringstream in(data);
        unsigned priority = 0;
        std::string target, param;
        REQUIRE(static_cast<bool>(in >> priority >> target));
        put_u16(out, static_cast<std::uint16_t>(priority));
        name(target).append_wire(out);
        while (in >> param) {
            REQUIRE(param.starts_with("port="));
            put_u16(out, 3);
            put_u16(out, 2);
            put_u16(out, static_cast<std::uint16_t>(std::stoul(param.substr(5))));
        }
    } else {
        FAIL("rdata_from_text: unsupported type " << type);
    }
    return out;
}

}  // namespace pkdns::pkarr::test
