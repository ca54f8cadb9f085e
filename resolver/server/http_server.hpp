#pragma once
// The HTTP listener (design.md §1 "HTTP surface"): libh2o (libuv build) serving HTTP/1.1 and
// HTTP/2 (h2c by prior knowledge or Upgrade; with a certificate, TLS with ALPN h2/http1.1).
// Every request is converted to an HttpRequest and handed to one handler; its response may come
// later, and is dropped when the client (or the stream) went away meanwhile.
// libh2o and OpenSSL types stay in the .cpp.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "resolver/server/http_api.hpp"

namespace pkdns::server {

struct HttpServerOptions {
    std::string tls_cert;                       // PEM certificate chain; both set = TLS
    std::string tls_key;                        // PEM private key
    std::size_t max_request_body = 128 * 1024;  // larger bodies get 413 from libh2o itself
    int backlog = 128;
};

struct HttpServerStats {
    std::uint64_t accepted = 0;  // TCP connections
    std::uint64_t requests = 0;
};

class HttpServer {
public:
    using Respond = std::function<void(HttpResponse)>;
    using Handler = std::function<void(HttpRequest, Respond)>;

    // Error when the TLS certificate or key cannot be loaded.
    static Result<std::unique_ptr<HttpServer>> create(uv::Loop& loop, Handler handler,
                                                      HttpServerOptions options);
    ~HttpServer();  // = close()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // One listening address per server; port 0 picks a free port (see address()).
    Result<void> listen(const SocketAddress& address);
    const SocketAddress& address() const;
    bool tls() const;
    std::size_t connections() const;
    const HttpServerStats& stats() const;
    // Stops accepting and shuts every connection down (requests in flight still get their
    // response when it comes before the connection is gone); libh2o's context is released
    // once the last connection closed. Idempotent.
    void close();

    struct State;

private:
    explicit HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace pkdns::server
