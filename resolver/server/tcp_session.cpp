#include "resolver/server/tcp_session.hpp"

#include <algorithm>
#include <limits>

namespace pkdns::server {

namespace {

constexpr std::size_t max_tcp_message = 65535;

bool at_or_after(std::uint64_t now_ms, std::uint64_t since_ms, std::uint64_t span_ms) {
    return now_ms >= since_ms && now_ms - since_ms >= span_ms;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max()
                                                             : a + b;
}

Bytes frame(ByteView message) {
    if (message.size() > max_tcp_message) return {};  // finalize() never makes one; not sendable
    Bytes framed;
    framed.reserve(message.size() + 2);
    put_u16(framed, static_cast<std::uint16_t>(message.size()));
    framed.insert(framed.end(), message.begin(), message.end());
    return framed;
}

}  // namespace

TcpSession::TcpSession(const TcpSessionLimits& limits, std::uint64_t now_ms)
    : limits_(limits), last_activity_ms_(now_ms) {}

void TcpSession::receive(ByteView data, std::uint64_t now_ms) {
    if (closed()) return;
    last_activity_ms_ = now_ms;
    compact();
    // Room for every frame we may hold back (pending cap reached) plus one being received.
    const std::size_t cap = (limits_.max_pending + 1) * (limits_.max_query_bytes + 2);
    if (in_.size() + data.size() > cap) {
        close(TcpClose::input_full);
        return;
    }
    in_.insert(in_.end(), data.begin(), data.end());
}

void TcpSession::receive_fin() {
    eof_ = true;
}

std::optional<ByteView> TcpSession::next_frame(std::uint64_t now_ms) {
    if (closed()) return std::nullopt;
    if (pending_ < limits_.max_pending && buffered() >= 2) {
        const std::size_t len = get_u16(in_.data() + pos_);
        if (len == 0 || len > limits_.max_query_bytes) {
            close(TcpClose::bad_frame);
            return std::nullopt;
        }
        if (buffered() - 2 >= len) {
            const ByteView message = ByteView(in_).subspan(pos_ + 2, len);
            pos_ += 2 + len;
            last_activity_ms_ = now_ms;
            return message;
        }
    }
    // End of the turn. A frame that stays incomplete is a stalled (or slowloris) client; frames
    // held back by the pending cap are our delay, not theirs.
    compact();
    const bool incomplete = !in_.empty() && pending_ < limits_.max_pending;
    if (!incomplete) {
        partial_since_.reset();
    } else if (!partial_since_) {
        partial_since_ = now_ms;
    }
    return std::nullopt;
}

void TcpSession::reply_owed() {
    ++pending_;
}

void TcpSession::dropped() {
    close(TcpClose::dropped);
}

Bytes TcpSession::answer(ByteView message) {
    if (closed()) return {};
    return frame(message);
}

Bytes TcpSession::reply(ByteView message, std::uint64_t now_ms) {
    if (pending_ > 0) --pending_;
    if (closed() || message.empty()) return {};
    last_activity_ms_ = now_ms;
    return frame(message);
}

void TcpSession::written(std::size_t queue_bytes) {
    if (queue_bytes > limits_.max_write_queue_bytes) close(TcpClose::write_full);
}

void TcpSession::write_failed() {
    close(TcpClose::write_failed);
}

void TcpSession::close(TcpClose reason) {
    if (close_ == TcpClose::none) close_ = reason;
}

bool TcpSession::should_shut_down() const {
    return eof_ && !closed() && pending_ == 0 && !complete_frame_waits();
}

bool TcpSession::idle(std::uint64_t now_ms) const {
    return evictable() && at_or_after(now_ms, last_activity_ms_, limits_.idle_timeout_ms);
}

bool TcpSession::stalled(std::uint64_t now_ms) const {
    return evictable() && partial_since_ && at_or_after(now_ms, *partial_since_, limits_.idle_timeout_ms);
}

TcpClose TcpSession::expiry(std::uint64_t now_ms) const {
    if (idle(now_ms)) return TcpClose::idle;
    if (stalled(now_ms)) return TcpClose::stalled;
    return TcpClose::none;
}

std::optional<std::uint64_t> TcpSession::expires_at() const {
    if (!evictable()) return std::nullopt;
    std::uint64_t since = last_activity_ms_;
    if (partial_since_) since = std::min(since, *partial_since_);
    return saturating_add(since, limits_.idle_timeout_ms);
}

void TcpSession::compact() {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
}

bool TcpSession::complete_frame_waits() const {
    return buffered() >= 2 && buffered() - 2 >= get_u16(in_.data() + pos_);
}

}  // namespace pkdns::server
