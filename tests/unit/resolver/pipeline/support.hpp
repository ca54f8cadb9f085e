#pragma once
// Fakes for the pipeline tests: a manual clock, a PacketSource (a map of "DHT" packets, answered
// at once or held until the test completes them) and an Upstream (canned replies by name/type).

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"

namespace pkdns::pipeline::test {

inline constexpr pkarr::Micros t0 = 1'700'000'000'000'000;  // µs since the epoch

struct ManualClock {
    pkarr::Micros wall = t0;
    std::uint64_t mono_ms = 1'000'000;
    void advance_seconds(std::uint64_t s) {
        wall += s * 1'000'000;
        mono_ms += s * 1000;
    }
};

inline dns::Name N(const std::string& text) {
    auto n = dns::Name::parse(text);
    REQUIRE(n.ok());
    return n.value();
}

inline dns::Record rr(const std::string& owner, std::uint16_t type, std::uint32_t ttl, Bytes rdata) {
    dns::Record r;
    r.name = N(owner);
    r.type = type;
    r.ttl = ttl;
    r.rdata = std::move(rdata);
    return r;
}

inline Bytes a_rdata(const std::string& ip) {
    Bytes b(4);
    REQUIRE(inet_pton(AF_INET, ip.c_str(), b.data()) == 1);
    return b;
}

inline Bytes name_rdata(const std::string& name) {
    Bytes b;
    N(name).append_wire(b);
    return b;
}

inline std::string a_text(const dns::Record& r) {
    REQUIRE(r.type == dns::type::A);
    REQUIRE(r.rdata.size() == 4);
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, r.rdata.data(), buf, sizeof buf);
    return buf;
}

inline pkarr::SignedPacket sign(const pkarr::Keypair& kp, const std::vector<dns::Record>& records,
                                pkarr::Micros timestamp) {
    auto p = pkarr::SignedPacket::sign(kp, records, timestamp);
    REQUIRE(p.ok());
    return p.value();
}

struct FakeSource : PacketSource {
    struct Call {
        pkarr::PublicKey key;
        std::optional<pkarr::Micros> newer_than;
        Done done;
    };
    std::map<pkarr::PublicKey, pkarr::SignedPacket> dht;  // what the network holds
    bool hold = false;                                    // queue calls until complete_all()
    bool offline = false;                                 // answer with an error
    std::vector<Call> pending;
    std::size_t calls = 0;
    std::vector<std::optional<pkarr::Micros>> newer_than_seen;

    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override {
        ++calls;
        newer_than_seen.push_back(newer_than);
        if (hold) {
            pending.push_back(Call{key, newer_than, std::move(done)});
            return;
        }
        answer(key, done);
    }
    // Ignores newer_than on purpose: the resolver must apply the recency rule itself.
    void answer(const pkarr::PublicKey& key, Done& done) {
        if (offline) return done(std::nullopt, "no DHT node answered");
        auto it = dht.find(key);
        if (it == dht.end()) return done(std::nullopt, "");
        done(it->second, "");
    }
    void complete_all() {
        auto calls_now = std::move(pending);
        pending.clear();
        for (auto& c : calls_now) answer(c.key, c.done);
    }
};

struct FakeUpstream : Upstream {
    std::map<std::string, dns::Packet> replies;  // "name/TYPE" (lowercase name)
    std::vector<dns::Question> seen;

    static std::string key_of(const dns::Name& name, std::uint16_t type) {
        return name.to_lower().to_string() + "/" + dns::type_to_string(type);
    }
    void add(const std::string& name, std::uint16_t type, dns::Packet reply) {
        reply.flags |= dns::flag::QR | dns::flag::RA;
        replies[key_of(N(name), type)] = std::move(reply);
    }
    void forward(const dns::Question& q, bool, Done done) override {
        seen.push_back(q);
        auto it = replies.find(key_of(q.name, q.type));
        if (it == replies.end()) return done(make_error("timed out", 1));
        dns::Packet reply = it->second;
        reply.questions = {q};
        done(std::move(reply));
    }
};

}  // namespace pkdns::pipeline::test
