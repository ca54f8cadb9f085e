#include "resolver/pipeline/wire_cache.hpp"

#include <algorithm>
#include <cstring>

#include "resolver/pipeline/query.hpp"

namespace pkdns::pipeline {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::uint16_t flag_qr = 0x8000, flag_tc = 0x0200, flag_rd = 0x0100, flag_cd = 0x0010;
constexpr std::uint16_t opcode_mask = 0x7800;
constexpr std::uint16_t type_opt = 41;
constexpr std::size_t entry_overhead = 160;  // the node, list and index links

// Appends the lowercased uncompressed name at `pos` to `key` and moves `pos` past it; false
// for a compression pointer, a bad label or a name over 255 bytes.
bool take_name(ByteView wire, std::size_t& pos, std::string& key) {
    const std::size_t start = pos;
    while (true) {
        if (pos >= wire.size()) return false;
        const std::uint8_t len = wire[pos];
        if (len > 63) return false;
        if (pos + 1 + len > wire.size()) return false;
        const std::size_t at = key.size();
        key.resize(at + 1 + len);
        char* out = key.data() + at;
        for (std::size_t i = 0; i <= len; ++i) {
            std::uint8_t c = wire[pos + i];
            if (c >= 'A' && c <= 'Z') c = static_cast<std::uint8_t>(c + ('a' - 'A'));
            out[i] = static_cast<char>(c);
        }
        pos += 1 + len;
        if (pos - start > 255) return false;
        if (len == 0) return true;
    }
}

// Moves `pos` past a possibly compressed name.
bool skip_name(ByteView wire, std::size_t& pos) {
    for (int labels = 0; labels < 128; ++labels) {
        if (pos >= wire.size()) return false;
        const std::uint8_t len = wire[pos];
        if ((len & 0xC0) == 0xC0) {
            pos += 2;
            return pos <= wire.size();
        }
        if (len > 63) return false;
        pos += 1 + len;
        if (len == 0) return pos <= wire.size();
    }
    return false;
}

void finish_key(std::string& key, ByteView wire, std::size_t type_at, bool edns, bool do_bit) {
    key.append(reinterpret_cast<const char*>(wire.data() + type_at), 4);  // qtype, qclass
    key.push_back(static_cast<char>((edns ? 2 : 0) | (do_bit ? 1 : 0)));
}

}  // namespace

bool peek_query(ByteView wire, PlainQuery& out) {
    if (wire.size() < header_size) return false;
    const std::uint8_t* h = wire.data();
    const std::uint16_t flags = get_u16(h + 2);
    if ((flags & (flag_qr | opcode_mask)) != 0) return false;
    if (get_u16(h + 4) != 1 || get_u16(h + 6) != 0 || get_u16(h + 8) != 0) return false;
    const std::uint16_t arcount = get_u16(h + 10);
    if (arcount > 1) return false;

    out.key.clear();
    std::size_t pos = header_size;
    if (!take_name(wire, pos, out.key)) return false;
    if (wire.size() - pos < 4) return false;
    const std::size_t type_at = pos;
    const std::uint16_t qtype = get_u16(h + pos);
    // parse_request rejects these (OPT, IXFR..MAILA): never answer them from here.
    if (qtype == type_opt || (qtype >= 251 && qtype <= 254)) return false;
    pos += 4;
    out.flags = flags;
    out.question_end = pos;
    out.edns = false;
    out.udp_size = 512;
    bool do_bit = false;
    if (arcount == 1) {
        // Root owner, type OPT, class = size, TTL = ext. rcode | version | DO | Z, rdata.
        if (wire.size() - pos < 11 || wire[pos] != 0) return false;
        const std::uint8_t* o = h + pos + 1;
        if (get_u16(o) != type_opt) return false;
        const std::uint32_t ttl = get_u32(o + 4);
        if (((ttl >> 16) & 0xff) != 0) return false;  // EDNS version > 0: BADVERS the long way
        const std::size_t rdlen = get_u16(o + 8);
        pos += 11;
        if (wire.size() - pos != rdlen) return false;
        if (!edns_options_well_formed(wire.subspan(pos, rdlen))) return false;
        pos += rdlen;
        out.edns = true;
        out.udp_size = std::clamp<std::uint16_t>(get_u16(o + 2), 512, 4096);
        do_bit = (ttl & 0x8000u) != 0;
    }
    if (pos != wire.size()) return false;  // trailing bytes: let the full parser judge
    finish_key(out.key, wire, type_at, out.edns, do_bit);
    return true;
}

WireCache::WireCache(WireCacheConfig config) : entries_({.max_bytes = config.max_bytes}) {}

bool WireCache::insert(ByteView reply, bool edns, bool do_bit, WireEntryInfo info, std::uint64_t now_ms) {
    if (reply.size() < header_size || reply.size() > 65535) return false;
    const std::uint16_t flags = get_u16(reply.data() + 2);
    const std::uint8_t rcode = flags & 0x0f;
    if ((flags & flag_tc) != 0 || (rcode != 0 && rcode != 3)) return false;
    if (get_u16(reply.data() + 4) != 1) return false;

    Entry e;
    std::string key;
    std::size_t pos = header_size;
    if (!take_name(reply, pos, key) || reply.size() - pos < 4) return false;
    finish_key(key, reply, pos, edns, do_bit);
    pos += 4;
    e.question_end = pos;

    const std::size_t records =
        std::size_t{get_u16(reply.data() + 6)} + get_u16(reply.data() + 8) + get_u16(reply.data() + 10);
    std::uint32_t lowest = UINT32_MAX;
    for (std::size_t i = 0; i < records; ++i) {
        if (!skip_name(reply, pos) || reply.size() - pos < 10) return false;
        const std::uint16_t type = get_u16(reply.data() + pos);
        const std::uint32_t ttl = get_u32(reply.data() + pos + 4);
        if (type != type_opt) {
            e.ttls.emplace_back(static_cast<std::uint16_t>(pos + 4), ttl);
            lowest = std::min(lowest, ttl);
        }
        const std::size_t rdlen = get_u16(reply.data() + pos + 8);
        pos += 10;
        if (reply.size() - pos < rdlen) return false;
        pos += rdlen;
    }
    if (pos != reply.size() || lowest == 0) return false;
    if (lowest != UINT32_MAX)
        info.expires_ms = std::min(info.expires_ms, info.base_ms + std::uint64_t{lowest} * 1000);
    if (info.base_ms > now_ms || info.expires_ms <= now_ms) return false;

    e.reply.assign(reply.begin(), reply.end());
    e.reply[2] = static_cast<std::uint8_t>(e.reply[2] & ~(flag_rd >> 8));
    e.reply[3] = static_cast<std::uint8_t>(e.reply[3] & ~flag_cd);
    e.base_ms = info.base_ms;
    e.expires_ms = info.expires_ms;
    e.tag = info.tag;
    e.guard = std::move(info.guard);
    const std::size_t bytes =
        entry_overhead + key.size() + e.reply.size() + e.ttls.size() * sizeof(e.ttls[0]);
    return entries_.insert_or_assign(std::move(key), std::move(e), bytes) != nullptr;
}

std::optional<std::uint8_t> WireCache::lookup(const PlainQuery& q, ByteView query, std::size_t size_limit,
                                              std::uint64_t now_ms, Bytes& out) {
    const Entry* entry = entries_.find(q.key);
    if (!entry) return std::nullopt;
    if (entry->expired(now_ms) || now_ms < entry->base_ms) {
        entries_.erase(q.key);
        return std::nullopt;
    }
    if (entry->reply.size() > size_limit || entry->question_end != q.question_end) return std::nullopt;

    out.assign(entry->reply.begin(), entry->reply.end());
    std::memcpy(out.data(), query.data(), 2);  // ID
    out[2] = static_cast<std::uint8_t>(out[2] | ((q.flags & flag_rd) >> 8));
    out[3] = static_cast<std::uint8_t>(out[3] | (q.flags & flag_cd));
    std::memcpy(out.data() + header_size, query.data() + header_size, q.question_end - header_size);
    const std::uint32_t elapsed = static_cast<std::uint32_t>((now_ms - entry->base_ms) / 1000);
    if (elapsed > 0) {
        for (const auto& [offset, ttl] : entry->ttls) {
            const std::uint32_t v = ttl - elapsed;  // > 0: the entry expires first
            out[offset] = static_cast<std::uint8_t>(v >> 24);
            out[offset + 1] = static_cast<std::uint8_t>(v >> 16);
            out[offset + 2] = static_cast<std::uint8_t>(v >> 8);
            out[offset + 3] = static_cast<std::uint8_t>(v);
        }
    }
    return entry->tag;
}

std::size_t WireCache::purge_expired(std::uint64_t now_ms) {
    return entries_.erase_if([&](const std::string&, const Entry& e) { return e.expired(now_ms); });
}

void WireCache::clear() {
    entries_.clear();
}

}  // namespace pkdns::pipeline
