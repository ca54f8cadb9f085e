#pragma once
// One DNS-over-TCP connection's rules (RFC 7766) without sockets or clocks: bytes in, frames out
// for the pipeline, replies framed for writing, and what the driver must do (write, close with a
// reason, end after the client's FIN). Time is passed in as now_ms. DnsListener drives it on
// libuv; tests drive it with byte strings and a manual clock.
//
// The driver's turn: receive() (or receive_fin(), or a reply()), then next_frame() until it
// gives nothing, handing each frame to the pipeline; then close_reason() / should_shut_down().

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.hpp"

namespace pkdns::server {

struct TcpSessionLimits {
    std::size_t max_pending = 32;                 // replies owed; further frames wait unread
    std::size_t max_query_bytes = 4096;           // a larger (or zero-length) frame closes
    std::size_t max_write_queue_bytes = 1 << 20;  // a client not reading its replies is closed
    std::uint64_t idle_timeout_ms = 10000;        // idle, and the limit for a stalled partial frame
};

enum class TcpClose : std::uint8_t {
    none,
    bad_frame,     // zero-length, or longer than max_query_bytes
    dropped,       // the pipeline dropped a message: not a DNS client
    input_full,    // more unread input than the buffer holds
    write_full,    // the driver's write queue over max_write_queue_bytes
    write_failed,  // the driver could not queue a write
    idle,          // no query in flight and nothing received for idle_timeout_ms
    stalled,       // a partial frame unfinished for idle_timeout_ms
    evicted,       // room made for a new connection (decided by the driver)
    finished,      // orderly end after the client's FIN: shut down the write side
};

class TcpSession {
public:
    TcpSession(const TcpSessionLimits& limits, std::uint64_t now_ms);

    // Bytes received; over the input cap the session closes (input_full).
    void receive(ByteView data, std::uint64_t now_ms);
    // The client's FIN.
    void receive_fin();
    // The next complete frame's message (valid until the next receive() or next_frame()). Nothing
    // when no complete frame waits, the pending cap is reached, or the session is closed (a bad
    // length closes it). Giving nothing ends a turn: a partial frame left starts the stall clock.
    std::optional<ByteView> next_frame(std::uint64_t now_ms);

    // The pipeline's verdict on the frame just handed over. reply_owed() holds a pending slot
    // until reply(); answer() and reply() give the bytes to write (empty: nothing to write).
    void reply_owed();
    void dropped();
    Bytes answer(ByteView message);
    Bytes reply(ByteView message, std::uint64_t now_ms);
    // After each write: what the driver's queue holds, or that the write was refused.
    void written(std::size_t queue_bytes);
    void write_failed();

    // The first reason wins; evicted, idle and stalled come from the driver (see expiry()).
    void close(TcpClose reason);
    TcpClose close_reason() const { return close_; }
    bool closed() const { return close_ != TcpClose::none; }
    // After the client's FIN: every reply is out and no complete frame waits.
    bool should_shut_down() const;

    // Timeouts never run while a query is in flight.
    bool idle(std::uint64_t now_ms) const;
    bool stalled(std::uint64_t now_ms) const;
    TcpClose expiry(std::uint64_t now_ms) const;      // idle, stalled or none
    std::optional<std::uint64_t> expires_at() const;  // nothing while closed or a query is in flight

    bool evictable() const { return !closed() && pending_ == 0; }
    std::size_t pending() const { return pending_; }
    std::size_t buffered() const { return in_.size() - pos_; }
    std::uint64_t last_activity_ms() const { return last_activity_ms_; }

private:
    void compact();
    bool complete_frame_waits() const;

    TcpSessionLimits limits_;
    Bytes in_;  // received bytes; those before pos_ were handed over
    std::size_t pos_ = 0;
    std::size_t pending_ = 0;
    std::uint64_t last_activity_ms_;              // last byte received, frame handed over, or reply
    std::optional<std::uint64_t> partial_since_;  // when the incomplete frame at the end began
    bool eof_ = false;
    TcpClose close_ = TcpClose::none;
};

// The connection-cap choice: of the evictable sessions, the one idle the longest (the first of
// equals), or `last` when none may go. `session_of` maps an element to its TcpSession.
template <class It, class SessionOf>
It oldest_idle(It first, It last, SessionOf session_of) {
    It victim = last;
    for (; first != last; ++first) {
        const TcpSession& s = session_of(*first);
        if (!s.evictable()) continue;
        if (victim == last || s.last_activity_ms() < session_of(*victim).last_activity_ms()) victim = first;
    }
    return victim;
}

}  // namespace pkdns::server
