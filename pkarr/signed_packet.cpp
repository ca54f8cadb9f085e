#include "pkarr/signed_packet.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

namespace pkdns::pkarr {

namespace {

constexpr std::size_t key_bytes = 32;
constexpr std::size_t signature_bytes = 64;
constexpr std::size_t header_bytes = key_bytes + signature_bytes + 8;  // 104
constexpr std::size_t max_txt_chunk = 254;  // simple-dns TXT::try_from(&str) chunk size

Error packet_error(std::string message, PacketError code) {
    return make_error(std::move(message), static_cast<int>(code));
}

void append(Bytes& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}
void append(Bytes& out, ByteView b) {
    out.insert(out.end(), b.begin(), b.end());
}

// The signable with the timestamp printed as the u64 it is on the wire (pkarr signs that).
Bytes signable_u64(std::uint64_t seq, ByteView value) {
    Bytes out;
    out.reserve(value.size() + 48);
    append(out, "3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(value.size()) + ":");
    append(out, value);
    return out;
}

Micros timestamp_of(ByteView bytes) {
    return get_u64(bytes.data() + key_bytes + signature_bytes);
}

// After the length, key and signature checks: the DNS part parses and the timestamp is < 2^63.
// Returns the answer records.
Result<std::vector<dns::Record>> check_content(ByteView bytes) {
    auto packet = dns::parse_packet(bytes.subspan(header_bytes));
    if (!packet)
        return packet_error("invalid DNS packet: " + packet.error().message, PacketError::invalid_dns);
    const Micros ts = timestamp_of(bytes);
    if (ts > max_timestamp)
        return packet_error("timestamp " + std::to_string(ts) + " is >= 2^63",
                            PacketError::invalid_timestamp);
    return std::move(packet->answers);
}

Result<void> check_length(std::size_t size) {
    if (size < header_bytes)
        return packet_error("signed packet too short: " + std::to_string(size) + " bytes (minimum 104)",
                            PacketError::invalid_length);
    if (size > max_signed_packet_bytes)
        return packet_error("signed packet too large: " + std::to_string(size) + " bytes (maximum 1104)",
                            PacketError::too_large);
    return {};
}

}  // namespace

Micros now_micros() {
    using namespace std::chrono;
    auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    return us < 0 ? 0 : static_cast<Micros>(us);
}

Bytes bep44_signable(std::int64_t seq, ByteView value) {
    Bytes out;
    append(out, "3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(value.size()) + ":");
    append(out, value);
    return out;
}

Bytes bep44_signable(std::int64_t seq, ByteView value, ByteView salt) {
    Bytes out;
    append(out, "4:salt" + std::to_string(salt.size()) + ":");
    append(out, salt);
    append(out, bep44_signable(seq, value));
    return out;
}

std::string normalize_name(std::string_view origin, std::string_view name) {
    if (name.ends_with('.')) name.remove_suffix(1);
    const auto dot = name.rfind('.');
    const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
    if (last == origin) return std::string(name);
    if (last == "@" || last.empty()) return std::string(origin);
    std::string out(name);
    out += '.';
    out += origin;
    return out;
}

Result<dns::Name> normalize_owner(std::string_view origin, const dns::Name& name) {
    if (!name.is_root() && name.last_label() == origin) return name;
    if (name.is_root() || name.last_label() == "@") return dns::Name::from_labels({std::string(origin)});
    auto result = name.append_label(origin);
    if (!result)
        return make_error("record name " + name.to_string() +
                              " is too long once the key is appended: " + result.error().message,
                          static_cast<int>(PacketError::invalid_dns));
    return result;
}

Bytes txt_rdata(std::string_view text) {
    Bytes out;
    if (text.empty()) {
        out.push_back(0);
        return out;
    }
    while (!text.empty()) {
        const auto chunk = text.substr(0, max_txt_chunk);
        out.push_back(static_cast<std::uint8_t>(chunk.size()));
        append(out, chunk);
        text.remove_prefix(chunk.size());
    }
    return out;
}

Result<SignedPacket> SignedPacket::from_bytes(ByteView bytes, Micros last_seen) {
    if (auto ok = check_length(bytes.size()); !ok) return ok.error();
    auto key = PublicKey::from_bytes(bytes.first(key_bytes));
    if (!key) return packet_error("invalid public key: " + key.error().message, PacketError::invalid_key);
    const ByteView sig = bytes.subspan(key_bytes, signature_bytes);
    const ByteView dns = bytes.subspan(header_bytes);
    const Micros ts = timestamp_of(bytes);
    if (!key->verify(signable_u64(ts, dns), sig))
        return packet_error("invalid signature", PacketError::bad_signature);
    auto records = check_content(bytes);
    if (!records) return records.error();
    return SignedPacket(*key, ts, last_seen, Bytes(bytes.begin(), bytes.end()), std::move(records.value()));
}

Result<SignedPacket> SignedPacket::from_relay_payload(const PublicKey& key, ByteView payload,
                                                      Micros last_seen) {
    // Length first, so an oversized body is refused before it is copied.
    if (auto ok = check_length(payload.size() + key_bytes); !ok) return ok.error();
    Bytes bytes(key.bytes().begin(), key.bytes().end());
    append(bytes, payload);
    return from_bytes(bytes, last_seen);
}

Result<SignedPacket> SignedPacket::from_parts(const PublicKey& key, std::int64_t seq, ByteView dns,
                                              ByteView signature, Micros last_seen) {
    if (seq < 0) return packet_error("negative seq " + std::to_string(seq), PacketError::invalid_timestamp);
    if (dns.size() > max_dns_bytes)
        return packet_error("DNS packet too large: " + std::to_string(dns.size()) + " bytes (maximum 1000)",
                            PacketError::too_large);
    if (signature.size() != signature_bytes)
        return packet_error("signature must be 64 bytes, got " + std::to_string(signature.size()),
                            PacketError::bad_signature);
    Bytes bytes(key.bytes().begin(), key.bytes().end());
    append(bytes, signature);
    put_u64(bytes, static_cast<std::uint64_t>(seq));
    append(bytes, dns);
    return from_bytes(bytes, last_seen);
}

Result<SignedPacket> SignedPacket::sign(const Keypair& keypair, const std::vector<dns::Record>& records,
                                        Micros timestamp, std::size_t max_dns) {
    if (timestamp > max_timestamp)
        return packet_error("timestamp " + std::to_string(timestamp) + " is >= 2^63",
                            PacketError::invalid_timestamp);
    const std::string origin = keypair.public_key().to_z32();
    dns::Packet packet;
    packet.id = 0;
    packet.flags = dns::flag::QR;
    packet.answers.reserve(records.size());
    for (const auto& record : records) {
        auto name = normalize_owner(origin, record.name);
        if (!name) return name.error();
        dns::Record normalized = record;
        normalized.name = std::move(name.value());
        packet.answers.push_back(std::move(normalized));
    }
    const Bytes wire = dns::encode_packet(packet);
    const std::size_t limit = std::min(max_dns, max_dns_bytes);
    if (wire.size() > limit)
        return packet_error("DNS packet too large: " + std::to_string(wire.size()) + " bytes (maximum " +
                                std::to_string(limit) + ")",
                            PacketError::too_large);
    const auto sig = keypair.sign(signable_u64(timestamp, wire));
    Bytes bytes(keypair.public_key().bytes().begin(), keypair.public_key().bytes().end());
    bytes.insert(bytes.end(), sig.begin(), sig.end());
    put_u64(bytes, timestamp);
    append(bytes, wire);
    // Records come back from the wire, so they are exactly what from_bytes() would give.
    auto parsed = check_content(bytes);
    if (!parsed) return parsed.error();
    return SignedPacket(keypair.public_key(), timestamp, now_micros(), std::move(bytes),
                        std::move(parsed.value()));
}

Result<SignedPacket> SignedPacket::from_trusted_bytes(ByteView bytes, Micros last_seen) {
    if (auto ok = check_length(bytes.size()); !ok) return ok.error();
    auto key = PublicKey::from_bytes(bytes.first(key_bytes));
    if (!key) return packet_error("invalid public key: " + key.error().message, PacketError::invalid_key);
    auto records = check_content(bytes);
    if (!records) return records.error();
    return SignedPacket(*key, timestamp_of(bytes), last_seen, Bytes(bytes.begin(), bytes.end()),
                        std::move(records.value()));
}

Bytes SignedPacket::relay_payload() const {
    return Bytes(bytes_.begin() + key_bytes, bytes_.end());
}

bool is_more_recent(std::uint64_t seq, ByteView value, std::uint64_t other_seq, ByteView other_value) {
    if (seq != other_seq) return seq > other_seq;
    return std::lexicographical_compare(other_value.begin(), other_value.end(), value.begin(), value.end());
}

bool SignedPacket::more_recent_than(const SignedPacket& other) const {
    return is_more_recent(timestamp_, dns_bytes(), other.timestamp_, other.dns_bytes());
}

std::uint32_t SignedPacket::elapsed_seconds(Micros now) const {
    if (now <= last_seen_) return 0;
    const std::uint64_t seconds = (now - last_seen_) / 1'000'000;
    return static_cast<std::uint32_t>(
        std::min<std::uint64_t>(seconds, std::numeric_limits<std::uint32_t>::max()));
}

std::uint32_t SignedPacket::ttl(std::uint32_t min_ttl, std::uint32_t max_ttl) const {
    if (records_.empty()) return std::min(min_ttl, max_ttl);
    std::uint32_t lowest = std::numeric_limits<std::uint32_t>::max();
    for (const auto& r : records_) lowest = std::min(lowest, r.ttl);
    return std::min(std::max(lowest, min_ttl), max_ttl);
}

std::uint32_t SignedPacket::expires_in(Micros now, std::uint32_t min_ttl, std::uint32_t max_ttl) const {
    const std::uint32_t t = ttl(min_ttl, max_ttl);
    const std::uint32_t elapsed = elapsed_seconds(now);
    return t > elapsed ? t - elapsed : 0;
}

std::vector<dns::Record> SignedPacket::resource_records(std::string_view name) const {
    const std::string normalized = normalize_name(key_.to_z32(), name);
    const bool wildcard = normalized.starts_with('*');
    // "*.foo.<k>": names ending in ".foo.<k>" whose remaining prefix is one label (no dot).
    const std::string_view suffix = wildcard ? std::string_view(normalized).substr(1) : std::string_view();
    std::vector<dns::Record> out;
    for (const auto& record : records_) {
        const std::string owner = record.name.to_string();
        bool match;
        if (wildcard) {
            match = owner.size() >= suffix.size() && std::string_view(owner).ends_with(suffix) &&
                    std::string_view(owner).substr(0, owner.size() - suffix.size()).find('.') ==
                        std::string_view::npos;
        } else {
            match = owner == normalized;
        }
        if (match) out.push_back(record);
    }
    return out;
}

std::vector<dns::Record> SignedPacket::fresh_resource_records(std::string_view name, Micros now) const {
    auto out = resource_records(name);
    const std::uint32_t elapsed = elapsed_seconds(now);
    std::erase_if(out, [&](const dns::Record& r) { return r.ttl <= elapsed; });
    return out;
}

}  // namespace pkdns::pkarr
