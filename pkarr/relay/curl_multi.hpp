#pragma once
// libcurl's multi-socket interface driven by a libuv loop (design.md §2, §6): curl says which
// sockets to watch (one uv_poll_t each) and when to wake it up (one uv_timer_t). Every handle
// has one owner and is freed in its close callback; close() cancels every transfer and closes
// every handle, after which the loop can close cleanly.
//
// Each transfer's `done` runs exactly once: from the loop, or from close() with an error
// (synchronously only when start() is called after close()). Redirects are never followed and
// response bodies are bounded. libcurl types stay in the .cpp file.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"

namespace pkdns::relay {

// Error codes (Error::code) of a failed transfer.
enum class HttpError : int {
    closed = 1,     // close() ran before the transfer finished
    too_large = 2,  // the response body went over max_body
    timed_out = 3,  // connect or total timeout
    transport = 4,  // DNS, connect, TLS, protocol errors
    setup = 5,      // libcurl refused the request
};

struct HttpRequest {
    std::string method = "GET";             // GET or PUT
    std::string url;                        // http:// or https:// only
    Bytes body;                             // sent with PUT
    std::vector<std::string> headers;       // "Name: value"; "Name:" removes a default header
    std::vector<std::string> want_headers;  // response headers to report (case-insensitive)
    std::string user_agent;
    std::uint64_t connect_timeout_ms = 2000;
    std::uint64_t timeout_ms = 5000;  // the whole transfer
    std::size_t max_body = 4096;
    bool truncate_body = false;  // false: a larger body fails the transfer; true: the rest is dropped
};

struct HttpResponse {
    long status = 0;
    Bytes body;
    std::vector<std::pair<std::string, std::string>> headers;  // wanted headers present, names as asked
    std::optional<std::string> header(std::string_view name) const;
};

class CurlMulti {
public:
    using Done = std::function<void(Result<HttpResponse>)>;

    explicit CurlMulti(uv::Loop& loop);
    ~CurlMulti();  // = close()
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    void start(HttpRequest request, Done done);
    // Runs `fn` from the loop soon (or from close(), or at once when already closed).
    void post(std::function<void()> fn);
    // Fails every transfer with HttpError::closed and closes every handle. Idempotent.
    void close();
    bool closed() const;
    std::size_t active() const;  // transfers started and not finished

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pkdns::relay
