#include "pkarr/dht/bootstrap_resolver.hpp"

#include <algorithm>
#include <array>
#include <map>

#include <sodium.h>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"

namespace pkdns::dht {

Bytes build_address_query(std::uint16_t id, std::string_view host, std::uint16_t qtype) {
    dns::Packet q;
    q.id = id;
    q.flags = dns::flag::RD;
    auto name = dns::Name::parse(host);
    q.questions.push_back(dns::Question{name ? name.value() : dns::Name{}, qtype, dns::class_IN});
    return dns::encode_packet(q);
}

Result<std::vector<SocketAddress>> parse_address_response(ByteView wire, std::uint16_t id,
                                                          std::string_view host, std::uint16_t qtype,
                                                          std::uint16_t port) {
    auto parsed = dns::parse_packet(wire);
    if (!parsed) return make_error("bad DNS response: " + parsed.error().message);
    const dns::Packet& p = parsed.value();
    if (!(p.flags & dns::flag::QR) || p.id != id) return make_error("unexpected DNS message");
    auto name = dns::Name::parse(host);
    if (!name || p.questions.size() != 1 || !(p.questions[0].name == name.value()) ||
        p.questions[0].type != qtype)
        return make_error("DNS response does not match the question");
    if (p.flags & dns::flag::TC) return make_error("truncated DNS response");
    if (p.rcode() != dns::rcode::NOERROR)
        return make_error("DNS lookup failed: " + dns::rcode_to_string(p.rcode()));
    std::vector<SocketAddress> out;
    for (const auto& rr : p.answers) {
        if (rr.type != qtype || rr.klass != dns::class_IN) continue;
        if (qtype == dns::type::A && rr.rdata.size() == 4) {
            out.push_back(
                SocketAddress{IpAddress::v4(rr.rdata[0], rr.rdata[1], rr.rdata[2], rr.rdata[3]), port});
        } else if (qtype == dns::type::AAAA && rr.rdata.size() == 16) {
            std::array<std::uint8_t, 16> ip{};
            std::copy(rr.rdata.begin(), rr.rdata.end(), ip.begin());
            out.push_back(SocketAddress{IpAddress::v6(ip), port});
        }
        if (out.size() >= 16) break;
    }
    if (out.empty()) return make_error("no address records");
    return out;
}

struct BootstrapResolver::State {
    uv::Loop& loop;
    SocketAddress upstream;
    std::uint64_t timeout_ms;
    std::uint16_t qtype;
    std::unique_ptr<uv::UdpSocket> socket;
    std::unique_ptr<uv::Timer> timer;

    struct Query {
        std::size_t index;
        HostPort entry;
    };
    std::map<std::uint16_t, Query> pending;  // by DNS id
    std::vector<std::vector<SocketAddress>> results;
    std::vector<std::string> errors;
    Callback cb;

    State(uv::Loop& l, SocketAddress up, std::uint64_t t, std::uint16_t q)
        : loop(l), upstream(up), timeout_ms(t), qtype(q) {}

    void finish() {
        pending.clear();
        if (timer) timer->stop();
        if (!cb) return;
        Outcome out;
        for (auto& r : results)
            for (auto& a : r)
                if (std::find(out.addresses.begin(), out.addresses.end(), a) == out.addresses.end())
                    out.addresses.push_back(a);
        out.errors = std::move(errors);
        results.clear();
        errors.clear();
        auto done = std::move(cb);
        cb = nullptr;
        done(std::move(out));
    }

    void on_datagram(ByteView data, const SocketAddress& from) {
        if (!(from == upstream) || data.size() < 2) return;
        std::uint16_t id = get_u16(data.data());
        auto it = pending.find(id);
        if (it == pending.end()) return;
        auto r = parse_address_response(data, id, it->second.entry.host, qtype, it->second.entry.port);
        if (!r) {
            // A forged or mangled reply must not cancel the real one: only a matching question
            // with an error rcode ends the query.
            if (r.error().message.rfind("DNS lookup failed", 0) != 0 &&
                r.error().message != "no address records" && r.error().message != "truncated DNS response")
                return;
            errors.push_back(it->second.entry.host + ": " + r.error().message);
        } else {
            results[it->second.index] = std::move(r.value());
        }
        pending.erase(it);
        if (pending.empty()) finish();
    }
};

BootstrapResolver::BootstrapResolver(uv::Loop& loop, SocketAddress upstream, std::uint64_t timeout_ms,
                                     std::uint16_t qtype)
    : state_(std::make_unique<State>(loop, upstream, timeout_ms, qtype)) {}

BootstrapResolver::~BootstrapResolver() {
    if (state_->cb) {
        for (auto& [id, q] : state_->pending) state_->errors.push_back(q.entry.host + ": cancelled");
        state_->finish();
    }
}

void BootstrapResolver::resolve(std::vector<HostPort> entries, Callback cb) {
    State& s = *state_;
    if (s.cb) {
        cb(Outcome{{}, {"a bootstrap resolve is already running"}});
        return;
    }
    s.cb = std::move(cb);
    s.results.assign(entries.size(), {});
    s.errors.clear();
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto ip = IpAddress::parse(entries[i].host);
        if (ip) {
            s.results[i].push_back(SocketAddress{ip.value(), entries[i].port});
            continue;
        }
        if (!dns::Name::parse(entries[i].host)) {
            s.errors.push_back(entries[i].host + ": not a host name");
            continue;
        }
        if (!s.socket) {
            s.socket = std::make_unique<uv::UdpSocket>(s.loop);
            SocketAddress any{s.upstream.ip.is_v6() ? IpAddress::v6({}) : IpAddress{}, 0};
            auto bound = s.socket->bind(any);
            if (bound)
                bound = s.socket->start_recv(
                    [st = &s](ByteView d, const SocketAddress& from) { st->on_datagram(d, from); });
            if (!bound) {
                s.errors.push_back("bootstrap DNS socket: " + bound.error().message);
                s.socket.reset();
                break;
            }
        }
        std::uint16_t id = 0;
        do {
            randombytes_buf(&id, sizeof id);
        } while (s.pending.count(id) != 0);
        auto sent = s.socket->send(build_address_query(id, entries[i].host, s.qtype), s.upstream);
        if (!sent) {
            s.errors.push_back(entries[i].host + ": " + sent.error().message);
            continue;
        }
        s.pending.emplace(id, State::Query{i, entries[i]});
    }
    if (s.pending.empty()) {
        s.finish();
        return;
    }
    if (!s.timer) s.timer = std::make_unique<uv::Timer>(s.loop);
    s.timer->start(s.timeout_ms, 0, [st = &s] {
        for (auto& [id, q] : st->pending)
            st->errors.push_back(q.entry.host + ": no answer from DNS server " + st->upstream.to_string());
        st->finish();
    });
}

}  // namespace pkdns::dht
