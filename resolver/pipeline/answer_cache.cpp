#include "resolver/pipeline/answer_cache.hpp"

#include <algorithm>
#include <utility>

namespace pkdns::pipeline {

namespace {

// SOA MINIMUM from uncompressed SOA rdata (mname, rname, 5 x u32); nullopt when malformed.
std::optional<std::uint32_t> soa_minimum(const Bytes& rdata) {
    std::size_t offset = 0;
    if (!dns::Name::from_wire(rdata, offset)) return std::nullopt;
    if (!dns::Name::from_wire(rdata, offset)) return std::nullopt;
    if (rdata.size() - offset < 20) return std::nullopt;
    return get_u32(rdata.data() + offset + 16);
}

// Rough bytes held by one record: the struct, its owner name and rdata.
std::size_t record_bytes(const dns::Record& r) {
    return sizeof(dns::Record) + r.name.wire_length() + r.rdata.size();
}

}  // namespace

AnswerCache::AnswerCache(AnswerCacheConfig config)
    : config_(config), entries_({.max_bytes = config.max_bytes}) {}

std::string AnswerCache::make_key(const dns::Question& question, bool dnssec_ok) {
    Bytes wire;
    question.name.to_lower().append_wire(wire);
    put_u16(wire, question.type);
    put_u16(wire, question.klass);
    wire.push_back(dnssec_ok ? 1 : 0);
    return std::string(wire.begin(), wire.end());
}

// Only lowered: serving a TTL above what upstream gave would be dishonest (and the first,
// uncached answer would disagree with the cached ones).
std::uint32_t AnswerCache::clamp(std::uint32_t ttl) const {
    return std::min(ttl, config_.max_ttl);
}

std::optional<std::uint32_t> AnswerCache::lifetime(const dns::Packet& reply) const {
    if ((reply.flags & dns::flag::TC) != 0 || reply.opcode() != 0) return std::nullopt;
    const auto rc = reply.rcode();
    if (rc != dns::rcode::NOERROR && rc != dns::rcode::NXDOMAIN) return std::nullopt;

    std::optional<std::uint32_t> ttl;
    auto lower = [&](std::uint32_t v) { ttl = ttl ? std::min(*ttl, v) : v; };

    for (const auto& r : reply.answers) lower(r.ttl);
    const bool negative = rc == dns::rcode::NXDOMAIN || reply.answers.empty();

    // RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
    std::optional<std::uint32_t> negative_ttl;
    for (const auto& r : reply.authority) {
        if (r.type != dns::type::SOA) continue;
        auto minimum = soa_minimum(r.rdata);
        if (!minimum) continue;
        std::uint32_t v = std::min(r.ttl, *minimum);
        negative_ttl = negative_ttl ? std::min(*negative_ttl, v) : v;
    }
    if (negative_ttl) {
        lower(*negative_ttl);
    } else if (negative) {
        if (config_.negative_ttl_without_soa == 0) return std::nullopt;
        lower(config_.negative_ttl_without_soa);
    }
    if (!ttl || *ttl == 0) return std::nullopt;  // TTL 0: use once, never cache (RFC 1035 §3.2.1)
    return clamp(*ttl);
}

std::optional<std::uint32_t> AnswerCache::insert(const dns::Question& question, bool dnssec_ok,
                                                 const dns::Packet& reply, std::uint64_t now_ms) {
    auto life = lifetime(reply);
    if (!life) return std::nullopt;

    std::string key = make_key(question, dnssec_ok);
    Entry entry;
    entry.reply = reply;
    entry.reply.additional.erase(
        std::remove_if(entry.reply.additional.begin(), entry.reply.additional.end(),
                       [](const dns::Record& r) { return r.type == dns::type::OPT; }),
        entry.reply.additional.end());
    // The node (key, entry, charge), the key's bytes, the list and index links.
    std::size_t bytes = sizeof(decltype(entries_)::Entry) + key.size() + 64;
    for (auto* section : {&entry.reply.answers, &entry.reply.authority, &entry.reply.additional}) {
        for (auto& r : *section) {
            r.ttl = clamp(r.ttl);
            bytes += record_bytes(r);
        }
    }
    for (auto& r : entry.reply.authority)
        if (r.type == dns::type::SOA) r.ttl = std::min(r.ttl, *life);
    for (const auto& q : entry.reply.questions) bytes += sizeof(dns::Question) + q.name.wire_length();
    entry.stored_ms = now_ms;
    entry.expires_ms = now_ms + std::uint64_t{*life} * 1000;
    // Too big for the whole budget: refused, rather than flushing everything.
    if (!entries_.insert_or_assign(std::move(key), std::move(entry), bytes)) return std::nullopt;
    return life;
}

std::optional<dns::Packet> AnswerCache::lookup(const dns::Question& question, bool dnssec_ok,
                                               std::uint64_t now_ms, Timing* timing) {
    const std::string key = make_key(question, dnssec_ok);
    Entry* entry = entries_.find(key);
    if (!entry) return std::nullopt;
    if (now_ms >= entry->expires_ms || now_ms < entry->stored_ms) {
        entries_.erase(key);
        return std::nullopt;
    }

    const std::uint64_t elapsed = (now_ms - entry->stored_ms) / 1000;
    if (timing) *timing = Timing{entry->stored_ms + elapsed * 1000, entry->expires_ms};
    dns::Packet out = entry->reply;
    for (auto* section : {&out.answers, &out.authority, &out.additional})
        for (auto& r : *section) r.ttl = r.ttl > elapsed ? static_cast<std::uint32_t>(r.ttl - elapsed) : 0;
    return out;
}

std::size_t AnswerCache::purge_expired(std::uint64_t now_ms) {
    return entries_.erase_if([&](const std::string&, const Entry& e) { return now_ms >= e.expires_ms; });
}

void AnswerCache::clear() {
    entries_.clear();
}

}  // namespace pkdns::pipeline
