// The whole query pipeline on arbitrary bytes, the way every transport drives it:
//   Frontend::process() (wire cache, parse_request, admission, Resolver, finalize) twice, the
//   second pass meeting the caches the first one filled; then parse_request() ->
//   Resolver::resolve() -> finalize() directly.
// The DHT is a synchronous fake holding one signed packet (a key from a fixed seed) and "not
// found" for every other key; the ICANN upstream is a synchronous fake answering a few names
// (CNAMEs into the key, NXDOMAIN/NODATA with SOA, a large RRset) and failing the rest.
// Every reply must parse as a response with the query's ID and question, fit the transport, and
// every completion must run exactly once. A fresh pipeline per input keeps runs reproducible.
//
// Input: byte 0 = options: bits 0-1 transport (udp, tcp, https), bits 2-3 client address (the
//        last one is outside the allow list), bit 4 DHT down, bit 5 no wire cache, bit 6 no TLD
//        and a CNAME depth of 2, bit 7 ANY disabled and a 1-query rate limit;
//        byte 1 = bit 7 upstream down, bits 0-6 x 3 = seconds the clock moves after each pass
//        (stale packets, TTL countdown); the rest = the DNS query.

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "common/socket_address.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/query.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/resolver.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;

namespace {

constexpr pkarr::Micros t0 = 1'700'000'000'000'000;

void check(bool ok) {
    if (!ok) std::abort();
}

dns::Name name_of(const std::string& text) {
    auto n = dns::Name::parse(text);
    check(n.ok());
    return n.value();
}

dns::Record rr(const std::string& owner, std::uint16_t type, std::uint32_t ttl, Bytes rdata) {
    dns::Record r;
    r.name = name_of(owner);
    r.type = type;
    r.ttl = ttl;
    r.rdata = std::move(rdata);
    return r;
}

Bytes a_rdata(const char* ip) {
    Bytes b(4);
    check(inet_pton(AF_INET, ip, b.data()) == 1);
    return b;
}

Bytes name_rdata(const std::string& name) {
    Bytes b;
    name_of(name).append_wire(b);
    return b;
}

Bytes soa_rdata(const std::string& zone, std::uint32_t minimum) {
    Bytes b = name_rdata("ns1." + zone);
    name_of("hostmaster." + zone).append_wire(b);
    for (std::uint32_t v : {1u, 7200u, 3600u, 1209600u, minimum}) {
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(v >> shift));
    }
    return b;
}

pkarr::Keypair fixed_key(std::uint8_t fill) {
    pkarr::Keypair::Seed seed{};
    seed.fill(fill);
    return pkarr::Keypair::from_seed(seed);
}

// Built once: signing and key derivation are the expensive parts and do not depend on the input.
struct Fixture {
    pkarr::Keypair key = fixed_key(0x42);
    std::string z = key.public_key().to_z32();
    std::string other = fixed_key(0x43).public_key().to_z32();  // never published
    pkarr::SignedPacket packet;
    std::map<std::string, dns::Packet> icann;  // "name/type"

    Fixture() : packet(make_packet()) {
        auto add = [this](const std::string& name, std::uint16_t type, dns::Packet reply) {
            reply.flags |= dns::flag::QR | dns::flag::RA;
            icann[name + "/" + std::to_string(type)] = std::move(reply);
        };
        dns::Packet a;
        a.answers = {rr("example.com", dns::type::A, 600, a_rdata("93.184.216.34"))};
        add("example.com", dns::type::A, a);
        dns::Packet nodata;
        nodata.authority = {rr("example.com", dns::type::SOA, 300, soa_rdata("example.com", 120))};
        add("example.com", dns::type::AAAA, nodata);
        dns::Packet nx = nodata;
        nx.set_rcode(dns::rcode::NXDOMAIN);
        add("nx.example.com", dns::type::A, nx);
        dns::Packet into_key;
        into_key.answers = {rr("alias.example.com", dns::type::CNAME, 300, name_rdata("www." + z + ".key"))};
        add("alias.example.com", dns::type::A, into_key);
        dns::Packet into_other;
        into_other.answers = {rr("gone.example.com", dns::type::CNAME, 300, name_rdata(other))};
        add("gone.example.com", dns::type::A, into_other);
        dns::Packet loop;
        loop.answers = {rr("loop.example.com", dns::type::CNAME, 300, name_rdata("loop." + z))};
        add("loop.example.com", dns::type::A, loop);
        dns::Packet big;
        for (int i = 0; i < 40; ++i)
            big.answers.push_back(rr("big.example.com", dns::type::TXT, 300,
                                     pkarr::txt_rdata(std::string(100, static_cast<char>('a' + i % 26)))));
        add("big.example.com", dns::type::TXT, big);
        dns::Packet servfail;
        servfail.set_rcode(dns::rcode::SERVFAIL);
        add("broken.example.com", dns::type::A, servfail);
    }

    pkarr::SignedPacket make_packet() const {
        std::vector<dns::Record> zone = {
            rr(z, dns::type::A, 300, a_rdata("127.0.0.1")),
            rr("_txt.sub." + z, dns::type::TXT, 300, pkarr::txt_rdata("hello")),
            rr("www." + z, dns::type::CNAME, 300, name_rdata(z)),
            rr("ext." + z, dns::type::CNAME, 300, name_rdata("example.com")),
            rr("nx." + z, dns::type::CNAME, 300, name_rdata("nx.example.com")),
            rr("loop." + z, dns::type::CNAME, 300, name_rdata("loop.example.com")),
            rr("other." + z, dns::type::CNAME, 60, name_rdata("sub." + other)),
            rr("delegated." + z, dns::type::NS, 300, name_rdata("ns1.delegated." + z)),
            rr("ns1.delegated." + z, dns::type::A, 300, a_rdata("127.0.0.53")),
            rr("*.wild." + z, dns::type::TXT, 30, pkarr::txt_rdata("wildcard")),
            rr("d." + z, dns::type::DNAME, 300, name_rdata("wild." + z)),
            rr("mx." + z, dns::type::MX, 300, Bytes{0, 10, 2, 'm', 'x', 0}),
        };
        auto p = pkarr::SignedPacket::sign(key, zone, t0);
        check(p.ok());
        return p.value();
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

struct FakeSource final : PacketSource {
    bool offline = false;
    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros>, Done done) override {
        if (offline) return done(std::nullopt, "no DHT node answered");
        if (key == fixture().key.public_key()) return done(fixture().packet, "");
        done(std::nullopt, "");
    }
};

struct FakeUpstream final : Upstream {
    bool down = false;
    void forward(const dns::Question& q, bool, Done done) override {
        if (down) return done(make_error("timed out", 1));
        auto it = fixture().icann.find(q.name.to_lower().to_string() + "/" + std::to_string(q.type));
        if (it == fixture().icann.end()) return done(make_error("timed out", 1));
        dns::Packet reply = it->second;
        reply.questions = {q};
        done(std::move(reply));
    }
};

// A reply we would send for `request`: a response with its ID and question, within `limit`.
void check_reply(const Request& request, ByteView wire, std::size_t limit) {
    check(wire.size() >= 12 && wire.size() <= limit);
    auto reply = dns::parse_packet(wire);
    check(reply.ok());
    check(reply->id == request.id);
    check((reply->flags & dns::flag::QR) != 0);
    check(reply->questions.size() == 1);
    check(reply->questions[0].name.identical(request.question.name));
    check(reply->questions[0].type == request.question.type);
    check(reply->questions[0].klass == request.question.klass);
}

std::size_t limit_for(const Request& request, Transport transport) {
    return transport == Transport::udp ? request.max_udp_size() : 65535;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t options = data[0];
    const std::uint32_t advance_s = (data[1] & 0x7fu) * 3;
    const ByteView query(data + 2, size - 2);

    ClientInfo client;
    static const char* const clients[] = {"127.0.0.1:5353", "10.1.2.3:40000", "[::1]:5353", "192.0.2.1:53"};
    client.address = SocketAddress::parse(clients[(options >> 2) & 3]).value();
    client.transport = static_cast<Transport>((options & 3) % 3);
    client.connection_id = client.transport == Transport::tcp ? 7 : 0;

    ResolverConfig config;
    config.top_level_domain = (options & 0x40) ? "" : "key";
    config.disable_any_queries = (options & 0x80) != 0;
    config.max_recursion_depth = (options & 0x40) ? 2 : 15;
    config.answer_cache.max_bytes = 64 * 1024;
    FrontendConfig frontend_config;
    frontend_config.query_rate_limit = (options & 0x80) ? 1 : 0;  // a burst of 1: the second pass is REFUSED
    frontend_config.query_rate_limit_burst = frontend_config.query_rate_limit;
    frontend_config.wire_cache_bytes = (options & 0x20) ? 0 : 64 * 1024;

    FakeSource source;
    source.offline = (options & 0x10) != 0;
    FakeUpstream upstream;
    upstream.down = (data[1] & 0x80) != 0;

    pkarr::Micros wall = t0 + 5'000'000;
    std::uint64_t mono = 1'000'000;
    PacketStoreConfig pc;
    pc.front_capacity = 16;
    PacketStore pkarr(source, nullptr, pc, [&wall] { return wall; });
    ResolverClocks clocks;
    clocks.wall_micros = [&wall] { return wall; };
    clocks.mono_ms = [&mono] { return mono; };
    Resolver resolver(config, pkarr, upstream, clocks);
    Frontend frontend(frontend_config, resolver, [&mono] { return mono; });

    // The transports' path, twice.
    for (int pass = 0; pass < 2; ++pass) {
        int calls = 0;
        Bytes later_reply;
        const Outcome o = frontend.process(query, client, [&] {
            return ReplyFn([&](Bytes wire) {
                ++calls;
                later_reply = std::move(wire);
            });
        });
        // Synchronous fakes: every answer is immediate, and no reply function runs.
        check(o.verdict != Verdict::later && calls == 0);
        auto parsed = parse_request(query);
        if (auto* rejection = std::get_if<Rejection>(&parsed)) {
            check(o.verdict == (rejection->reply.empty() ? Verdict::drop : Verdict::answer));
            if (o.verdict == Verdict::answer) {
                auto reply = dns::parse_packet(o.reply);
                check(reply.ok() && reply->id == get_u16(query.data()));
            }
            return 0;  // nothing else to drive with this input
        }
        check(o.verdict == Verdict::answer);
        const Request& request = std::get<Request>(parsed);
        check_reply(request, o.reply, limit_for(request, client.transport));
        wall += static_cast<pkarr::Micros>(advance_s) * 1'000'000;
        mono += static_cast<std::uint64_t>(advance_s) * 1000;
    }

    // resolve() + finalize(), as DoH does it.
    auto parsed = parse_request(query);
    const auto* request_ptr = std::get_if<Request>(&parsed);
    check(request_ptr != nullptr);  // the first pass saw the same bytes as a Request
    const Request& request = *request_ptr;
    int calls = 0;
    std::optional<dns::Packet> answer;
    resolver.resolve(request, client.address.ip, [&](ResolvedAnswer a) {
        ++calls;
        answer = std::move(a.packet);
    });
    check(calls == 1 && answer.has_value());
    bool complete = false;
    const Bytes out = finalize(request, std::move(*answer), client.transport, &complete);
    check_reply(request, out, limit_for(request, client.transport));
    return 0;
}
