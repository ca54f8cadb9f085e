#include "resolver/server/http_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <exception>
#include <new>
#include <unordered_set>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <uv.h>

// libh2o's headers are C; the libuv build is the default (H2O_USE_LIBUV).
#include <h2o.h>
#include <h2o/http2.h>

#include "common/guarded.hpp"

namespace pkdns::server {

namespace {

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 413:
            return "Payload Too Large";
        case 415:
            return "Unsupported Media Type";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "";
    }
}

// ALPN: HTTP/2 first, HTTP/1.1 as the fallback.
const h2o_iovec_t alpn_protocols[] = {
    {const_cast<char*>("h2"), 2}, {const_cast<char*>("http/1.1"), 8}, {nullptr, 0}};

}  // namespace

// A request in flight: the h2o request until libh2o disposes of it (client gone, stream reset).
struct Pending {
    h2o_req_t* req = nullptr;
};

// Linked into the request's memory pool: disposed together with the request.
struct PendingLink {
    std::shared_ptr<Pending>* pending;
};

struct Connection {
    uv_tcp_t tcp;  // first member: libuv hands back the handle pointer
    HttpServer::State* state;
};

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
    uv::Loop& loop;
    Handler handler;
    HttpServerOptions options;
    h2o_globalconf_t globalconf{};
    h2o_context_t context{};
    h2o_accept_ctx_t accept_ctx{};
    SSL_CTX* ssl_ctx = nullptr;
    uv_tcp_t* listener = nullptr;
    SocketAddress bound;
    std::unordered_set<Connection*> connections;
    HttpServerStats stats;
    bool context_ready = false;
    bool closing = false;
    bool disposed = false;
    std::shared_ptr<State> self;  // keeps the state alive until libh2o's handles are closed

    State(uv::Loop& l, Handler h, HttpServerOptions o)
        : loop(l), handler(std::move(h)), options(std::move(o)) {}
    ~State() {
        if (ssl_ctx != nullptr) SSL_CTX_free(ssl_ctx);
    }

    void dispose_context();
};

namespace {

struct RequestHandler {
    h2o_handler_t super;  // first member: libh2o allocates and hands back this struct
    HttpServer::State* state;
};

void on_pending_dispose(void* p) {
    auto* link = static_cast<PendingLink*>(p);
    (*link->pending)->req = nullptr;
    delete link->pending;
}

HttpRequest to_request(h2o_req_t* req) {
    HttpRequest r;
    r.method.assign(req->method.base, req->method.len);
    std::string_view target(req->path.base, req->path.len);
    if (req->query_at != SIZE_MAX && req->query_at < target.size()) {
        r.path = std::string(target.substr(0, req->query_at));
        r.query = std::string(target.substr(req->query_at + 1));
    } else {
        r.path = std::string(target);
    }
    r.headers.reserve(req->headers.size);
    for (std::size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t& h = req->headers.entries[i];
        std::string name(h.name->base, h.name->len);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers.push_back({std::move(name), std::string(h.value.base, h.value.len)});
    }
    if (req->entity.base != nullptr) r.body.assign(req->entity.base, req->entity.len);
    sockaddr_storage ss{};
    if (req->conn->callbacks->get_peername(req->conn, reinterpret_cast<sockaddr*>(&ss)) != 0) {
        if (auto peer = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss))) r.peer = *peer;
    }
    return r;
}

void send_response(h2o_req_t* req, const HttpResponse& response) {
    static h2o_generator_t generator = {nullptr, nullptr};
    req->res.status = response.status;
    req->res.reason = reason_phrase(response.status);
    for (const auto& h : response.headers) {
        // libh2o keeps pointers: the name and value live in the request's pool.
        h2o_iovec_t name = h2o_strdup(&req->pool, h.name.data(), h.name.size());
        h2o_iovec_t value = h2o_strdup(&req->pool, h.value.data(), h.value.size());
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, nullptr, value.base,
                              value.len);
    }
    h2o_iovec_t body = h2o_strdup(&req->pool, response.body.data(), response.body.size());
    req->res.content_length = body.len;
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

int on_req(h2o_handler_t* self, h2o_req_t* req) {
    auto* state = reinterpret_cast<RequestHandler*>(self)->state;
    ++state->stats.requests;
    auto pending = std::make_shared<Pending>();
    pending->req = req;
    auto* link =
        static_cast<PendingLink*>(h2o_mem_alloc_shared(&req->pool, sizeof(PendingLink), on_pending_dispose));
    link->pending = new std::shared_ptr<Pending>(pending);
    bool handled = false;
    guarded("handler", [&] {
        state->handler(to_request(req), [pending](HttpResponse response) {
            if (pending->req == nullptr) return;  // the request was disposed: client gone
            h2o_req_t* r = pending->req;
            pending->req = nullptr;  // exactly one response
            guarded("response", [&] { send_response(r, response); });
        });
        handled = true;
    });
    if (!handled && pending->req != nullptr) {
        pending->req = nullptr;
        h2o_send_error_500(req, "Internal Server Error", "internal error", 0);
    }
    return 0;
}

void on_connection_closed(uv_handle_t* handle) {
    auto* conn = reinterpret_cast<Connection*>(handle);
    HttpServer::State* state = conn->state;
    state->connections.erase(conn);
    delete conn;
    if (state->closing && state->connections.empty()) state->dispose_context();
}

void on_accept(uv_stream_t* listener, int status) {
    auto* state = static_cast<HttpServer::State*>(listener->data);
    if (status != 0 || state->closing) return;
    auto* conn = new Connection{};
    conn->state = state;
    uv_tcp_init(listener->loop, &conn->tcp);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp),
                 [](uv_handle_t* h) { delete reinterpret_cast<Connection*>(h); });
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    ++state->stats.accepted;
    state->connections.insert(conn);
    h2o_socket_t* sock =
        h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_connection_closed);
    h2o_accept(&state->accept_ctx, sock);
}

// Closes `first`, then from its close callback `second`, then drops the state: libuv runs the
// close callbacks of one loop turn in no fixed order, so libh2o's own timers (closed by
// h2o_context_dispose just before) are all finished when the second callback runs.
struct Finalizer {
    uv_idle_t first, second;
    std::shared_ptr<HttpServer::State> state;
};

}  // namespace

void HttpServer::State::dispose_context() {
    if (disposed) return;
    disposed = true;
    if (!context_ready) {
        self.reset();  // nothing of libh2o lives on the loop
        return;
    }
    h2o_context_dispose(&context);
    h2o_config_dispose(&globalconf);
    auto* fin = new Finalizer{};
    fin->state = shared_from_this();
    self.reset();
    uv_idle_init(loop.get(), &fin->first);
    uv_idle_init(loop.get(), &fin->second);
    fin->first.data = fin;
    fin->second.data = fin;
    uv_close(reinterpret_cast<uv_handle_t*>(&fin->first), [](uv_handle_t* h) {
        auto* f = static_cast<Finalizer*>(h->data);
        uv_close(reinterpret_cast<uv_handle_t*>(&f->second), [](uv_handle_t* h2) {
            delete static_cast<Finalizer*>(h2->data);  // may free the state
        });
    });
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(uv::Loop& loop, Handler handler,
                                                       HttpServerOptions options) {
    auto state = std::make_shared<State>(loop, std::move(handler), std::move(options));
    if (!state->options.tls_cert.empty() || !state->options.tls_key.empty()) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (ctx == nullptr) return make_error("TLS: " + openssl_error());
        state->ssl_ctx = ctx;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
        if (SSL_CTX_use_certificate_chain_file(ctx, state->options.tls_cert.c_str()) != 1)
            return make_error("TLS certificate " + state->options.tls_cert + ": " + openssl_error());
        if (SSL_CTX_use_PrivateKey_file(ctx, state->options.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
            return make_error("TLS key " + state->options.tls_key + ": " + openssl_error());
        if (SSL_CTX_check_private_key(ctx) != 1)
            return make_error("TLS key does not match the certificate: " + openssl_error());
        h2o_ssl_register_alpn_protocols(ctx, alpn_protocols);
    }
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::~HttpServer() {
    close();
    // Connections still closing keep the state (and libh2o's context) until the last one is gone.
    if (!state_->disposed) state_->self = state_;
}

Result<void> HttpServer::listen(const SocketAddress& address) {
    State& s = *state_;
    if (s.listener != nullptr) return make_error("already listening");
    if (s.closing) return make_error("closed");
    auto* tcp = new uv_tcp_t{};
    uv_tcp_init(s.loop.get(), tcp);
    tcp->data = &s;
    auto fail = [&](const char* what, int rc) -> Result<void> {
        uv_close(reinterpret_cast<uv_handle_t*>(tcp),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        return make_error(std::string(what) + " " + address.to_string() + ": " + uv_strerror(rc), rc);
    };
    sockaddr_storage ss{};
    address.to_sockaddr(ss);
    if (int rc = uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&ss), 0); rc != 0)
        return fail("bind", rc);
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), s.options.backlog, on_accept); rc != 0)
        return fail("listen", rc);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &len);
    auto b = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&bound));
    s.bound = b ? *b : address;
    s.listener = tcp;

    h2o_config_init(&s.globalconf);
    s.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("pkdns"));
    s.globalconf.max_request_entity_size = s.options.max_request_body;
    h2o_hostconf_t* host =
        h2o_config_register_host(&s.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
    auto* handler = reinterpret_cast<RequestHandler*>(h2o_create_handler(path, sizeof(RequestHandler)));
    handler->super.on_req = on_req;
    handler->state = &s;
    h2o_context_init(&s.context, s.loop.get(), &s.globalconf);
    s.context_ready = true;
    s.accept_ctx.ctx = &s.context;
    s.accept_ctx.hosts = s.globalconf.hosts;
    s.accept_ctx.ssl_ctx = s.ssl_ctx;
    return {};
}

const SocketAddress& HttpServer::address() const {
    return state_->bound;
}

bool HttpServer::tls() const {
    return state_->ssl_ctx != nullptr;
}

std::size_t HttpServer::connections() const {
    return state_->connections.size();
}

const HttpServerStats& HttpServer::stats() const {
    return state_->stats;
}

void HttpServer::close() {
    State& s = *state_;
    if (s.closing) return;
    s.closing = true;
    if (s.listener != nullptr) {
        uv_close(reinterpret_cast<uv_handle_t*>(s.listener),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        s.listener = nullptr;
    }
    // Shutting the sockets down makes libh2o see EOF (or a write error) and close each
    // connection through its own path; no libh2o object is freed behind its back.
    for (Connection* conn : s.connections) {
        uv_os_fd_t fd;
        if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->tcp), &fd) == 0) ::shutdown(fd, SHUT_RDWR);
    }
    if (s.connections.empty()) s.dispose_context();
}

}  // namespace pkdns::server
