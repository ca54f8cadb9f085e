#pragma once
// Resolves bootstrap entries "host:port" to socket addresses. IP literals pass through; host
// names are looked up with a plain DNS A query to the configured upstream server over UDP (never
// the system resolver), so a node never blocks in getaddrinfo and never leaks lookups elsewhere.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"

namespace pkdns::dht {

// Pure helpers for the DNS exchange (unit-testable).
Bytes build_address_query(std::uint16_t id, std::string_view host, std::uint16_t qtype);
// Addresses (A or AAAA rdata) from a response to `id`/`host`/`qtype`, with `port` attached.
// Errors: not a response, wrong id/question, rcode != NOERROR, no address records.
Result<std::vector<SocketAddress>> parse_address_response(ByteView wire, std::uint16_t id,
                                                          std::string_view host, std::uint16_t qtype,
                                                          std::uint16_t port);

class BootstrapResolver {
public:
    struct Outcome {
        std::vector<SocketAddress> addresses;  // in entry order, duplicates removed
        std::vector<std::string> errors;       // one line per entry that failed
    };
    using Callback = std::function<void(Outcome)>;

    // `upstream` is a DNS server "IP:port". qtype is A (1) or AAAA (28).
    BootstrapResolver(uv::Loop& loop, SocketAddress upstream, std::uint64_t timeout_ms = 2000,
                      std::uint16_t qtype = 1);
    ~BootstrapResolver();
    BootstrapResolver(const BootstrapResolver&) = delete;
    BootstrapResolver& operator=(const BootstrapResolver&) = delete;

    // Calls `cb` exactly once (also when this object is destroyed first: with the unresolved
    // entries reported as cancelled). One resolve at a time; a second call while one runs fails
    // that call immediately through its callback.
    void resolve(std::vector<HostPort> entries, Callback cb);

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace pkdns::dht
