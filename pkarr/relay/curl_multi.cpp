#include "pkarr/relay/curl_multi.hpp"

#include <curl/curl.h>
#include <strings.h>
#include <uv.h>

#include <exception>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "common/guarded.hpp"

namespace pkdns::relay {

namespace {

void global_init() {
    // curl_global_init is not thread-safe in 7.88; once per process is all it needs.
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    Bytes upload;  // CURLOPT_POSTFIELDS points here: must not move while the transfer runs
    Bytes body;
    std::size_t max_body = 0;
    bool truncate_body = false;
    bool too_large = false;
    std::vector<std::string> want_headers;
    char errbuf[CURL_ERROR_SIZE] = {};
    CurlMulti::Done done;

    ~Transfer() {
        if (easy) curl_easy_cleanup(easy);
        if (headers) curl_slist_free_all(headers);
    }
};

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t n = size * count;
    const std::size_t room = t->max_body - std::min(t->max_body, t->body.size());
    if (n > room) {
        if (!t->truncate_body) {
            t->too_large = true;
            return CURL_WRITEFUNC_ERROR;
        }
        t->body.insert(t->body.end(), data, data + room);
        return n;
    }
    t->body.insert(t->body.end(), data, data + n);
    return n;
}

Result<HttpResponse> finish(Transfer& t, CURLcode code) {
    if (code != CURLE_OK) {
        std::string detail = t.errbuf[0] ? std::string(t.errbuf) : curl_easy_strerror(code);
        if (t.too_large || code == CURLE_FILESIZE_EXCEEDED)
            return make_error("response body larger than " + std::to_string(t.max_body) + " bytes",
                              static_cast<int>(HttpError::too_large));
        if (code == CURLE_OPERATION_TIMEDOUT)
            return make_error("timed out (" + detail + ")", static_cast<int>(HttpError::timed_out));
        return make_error(detail, static_cast<int>(HttpError::transport));
    }
    HttpResponse r;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = std::move(t.body);
    for (const auto& name : t.want_headers) {
        curl_header* h = nullptr;
        if (curl_easy_header(t.easy, name.c_str(), 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value)
            r.headers.emplace_back(name, h->value);
    }
    return r;
}

struct PollBlock {
    uv_poll_t handle;
    curl_socket_t fd = CURL_SOCKET_BAD;
    CurlMulti::Impl* impl = nullptr;
};

struct TimerBlock {
    uv_timer_t handle;
    CurlMulti::Impl* impl = nullptr;
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    return std::nullopt;
}

struct CurlMulti::Impl {
    uv_loop_t* loop = nullptr;
    CURLM* multi = nullptr;
    TimerBlock* curl_timer = nullptr;  // curl's wake-ups
    TimerBlock* post_timer = nullptr;  // post()ed functions
    std::unordered_map<Transfer*, std::unique_ptr<Transfer>> transfers;
    std::unordered_set<PollBlock*> polls;
    std::vector<std::function<void()>> posted;
    bool closed = false;
    bool cleaning_up = false;  // inside curl_multi_cleanup: curl may still call back

    static int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp);
    static int on_timer_set(CURLM*, long timeout_ms, void* userp);
    static void on_poll(uv_poll_t* handle, int status, int events);
    static void on_curl_timer(uv_timer_t* handle);
    static void on_post_timer(uv_timer_t* handle);

    TimerBlock* new_timer() {
        auto* t = new TimerBlock{};
        uv_timer_init(loop, &t->handle);
        t->handle.data = t;
        t->impl = this;
        return t;
    }
    static void close_timer(TimerBlock* t) {
        uv_timer_stop(&t->handle);
        uv_close(reinterpret_cast<uv_handle_t*>(&t->handle),
                 [](uv_handle_t* h) { delete static_cast<TimerBlock*>(h->data); });
    }
    void close_poll(PollBlock* p) {
        polls.erase(p);
        uv_poll_stop(&p->handle);
        uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
                 [](uv_handle_t* h) { delete static_cast<PollBlock*>(h->data); });
    }

    void socket_action(curl_socket_t fd, int flags) {
        int running = 0;
        curl_multi_socket_action(multi, fd, flags, &running);
        deliver_finished();
    }

    // Collects finished transfers, then runs their callbacks (which may start more, or close).
    void deliver_finished() {
        std::vector<std::pair<Done, Result<HttpResponse>>> finished;
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL* easy = msg->easy_handle;
            const CURLcode code = msg->data.result;
            char* priv = nullptr;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
            auto it = transfers.find(reinterpret_cast<Transfer*>(priv));
            if (it == transfers.end()) {
                curl_multi_remove_handle(multi, easy);
                continue;
            }
            std::unique_ptr<Transfer> t = std::move(it->second);
            transfers.erase(it);
            auto result = finish(*t, code);
            curl_multi_remove_handle(multi, easy);
            finished.emplace_back(std::move(t->done), std::move(result));
        }
        // The callbacks no longer refer to this object: each runs even if an earlier one closed it.
        for (auto& [done, result] : finished) guarded("HTTP client", [&] { done(std::move(result)); });
    }

    void post(std::function<void()> fn) {
        posted.push_back(std::move(fn));
        uv_timer_start(&post_timer->handle, on_post_timer, 0, 0);
    }

    void fail_later(Done done, std::string why) {
        post([done = std::move(done), why = std::move(why)] {
            done(make_error("cannot start the request: " + why, static_cast<int>(HttpError::setup)));
        });
    }

    void start(HttpRequest req, Done done) {
        auto t = std::make_unique<Transfer>();
        t->easy = curl_easy_init();
        if (!t->easy) return fail_later(std::move(done), "curl_easy_init failed");
        CURL* e = t->easy;
        t->max_body = req.max_body;
        t->truncate_body = req.truncate_body;
        t->want_headers = std::move(req.want_headers);
        t->upload = std::move(req.body);
        for (const auto& h : req.headers) {
            curl_slist* next = curl_slist_append(t->headers, h.c_str());
            if (!next) return fail_later(std::move(done), "out of memory");
            t->headers = next;
        }
        bool ok = true;
        auto set = [&ok](CURLcode c) { ok = ok && c == CURLE_OK; };
        set(curl_easy_setopt(e, CURLOPT_URL, req.url.c_str()));
        set(curl_easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<char*>(t.get())));
        set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf));
        set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write));
        set(curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(t.get())));
        set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
        set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
        set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
        set(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout_ms)));
        set(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms)));
        set(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)));
        if (!req.truncate_body)
            set(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_body)));
        if (!req.user_agent.empty()) set(curl_easy_setopt(e, CURLOPT_USERAGENT, req.user_agent.c_str()));
        if (t->headers) set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers));
        if (req.method == "GET") {
            set(curl_easy_setopt(e, CURLOPT_HTTPGET, 1L));
        } else {
            set(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str()));
            set(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->upload.size())));
            set(curl_easy_setopt(e, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(t->upload.data())));
        }
        if (!ok) return fail_later(std::move(done), "unsupported option");
        t->done = std::move(done);
        Transfer* raw = t.get();
        transfers.emplace(raw, std::move(t));
        if (CURLMcode mc = curl_multi_add_handle(multi, e); mc != CURLM_OK) {
            auto node = transfers.extract(raw);
            fail_later(std::move(node.mapped()->done), curl_multi_strerror(mc));
        }
    }

    void close() {
        if (closed) return;
        closed = true;
        std::vector<Done> cancelled;
        for (auto& [raw, t] : transfers) {
            curl_multi_remove_handle(multi, t->easy);
            cancelled.push_back(std::move(t->done));
        }
        transfers.clear();
        cleaning_up = true;
        curl_multi_cleanup(multi);  // closes cached connections: may call on_socket(REMOVE)
        multi = nullptr;
        cleaning_up = false;
        for (PollBlock* p : std::vector<PollBlock*>(polls.begin(), polls.end())) close_poll(p);
        close_timer(curl_timer);
        close_timer(post_timer);
        curl_timer = post_timer = nullptr;
        std::vector<std::function<void()>> run = std::move(posted);
        posted.clear();
        for (auto& d : cancelled)
            guarded("HTTP client",
                    [&] { d(make_error("HTTP client closed", static_cast<int>(HttpError::closed))); });
        for (auto& fn : run) guarded("HTTP client", fn);
    }
};

int CurlMulti::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* impl = static_cast<Impl*>(userp);
    auto* p = static_cast<PollBlock*>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (p) {
            impl->close_poll(p);
            if (!impl->cleaning_up) curl_multi_assign(impl->multi, fd, nullptr);
        }
        return 0;
    }
    if (impl->closed) return -1;
    if (!p) {
        p = new PollBlock{};
        if (uv_poll_init_socket(impl->loop, &p->handle, fd) != 0) {
            delete p;
            return -1;  // curl fails the transfers on this socket
        }
        p->handle.data = p;
        p->fd = fd;
        p->impl = impl;
        impl->polls.insert(p);
        curl_multi_assign(impl->multi, fd, p);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&p->handle, events, on_poll);
    return 0;
}

int CurlMulti::Impl::on_timer_set(CURLM*, long timeout_ms, void* userp) {
    auto* impl = static_cast<Impl*>(userp);
    if (!impl->curl_timer) return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&impl->curl_timer->handle);
    else
        uv_timer_start(&impl->curl_timer->handle, on_curl_timer, static_cast<std::uint64_t>(timeout_ms), 0);
    return 0;
}

void CurlMulti::Impl::on_poll(uv_poll_t* handle, int status, int events) {
    auto* p = static_cast<PollBlock*>(handle->data);
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    p->impl->socket_action(p->fd, flags);  // `p` may be closed by now
}

void CurlMulti::Impl::on_curl_timer(uv_timer_t* handle) {
    static_cast<TimerBlock*>(handle->data)->impl->socket_action(CURL_SOCKET_TIMEOUT, 0);
}

void CurlMulti::Impl::on_post_timer(uv_timer_t* handle) {
    Impl* impl = static_cast<TimerBlock*>(handle->data)->impl;
    std::vector<std::function<void()>> run = std::move(impl->posted);
    impl->posted.clear();
    for (auto& fn : run) guarded("HTTP client", fn);  // may close or destroy `impl`: not touched after
}

CurlMulti::CurlMulti(uv::Loop& loop) : impl_(std::make_unique<Impl>()) {
    global_init();
    impl_->loop = loop.get();
    impl_->curl_timer = impl_->new_timer();
    impl_->post_timer = impl_->new_timer();
    impl_->multi = curl_multi_init();
    if (!impl_->multi) {
        spdlog::error("curl_multi_init failed: HTTP requests will fail");
        impl_->close_timer(impl_->curl_timer);
        impl_->close_timer(impl_->post_timer);
        impl_->curl_timer = impl_->post_timer = nullptr;
        impl_->closed = true;
        return;
    }
    curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, static_cast<void*>(impl_.get()));
    curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer_set);
    curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, static_cast<void*>(impl_.get()));
}

CurlMulti::~CurlMulti() {
    close();
}

void CurlMulti::start(HttpRequest request, Done done) {
    if (impl_->closed) {
        guarded("HTTP client",
                [&] { done(make_error("HTTP client closed", static_cast<int>(HttpError::closed))); });
        return;
    }
    impl_->start(std::move(request), std::move(done));
}

void CurlMulti::post(std::function<void()> fn) {
    if (impl_->closed) {
        guarded("HTTP client", fn);
        return;
    }
    impl_->post(std::move(fn));
}

void CurlMulti::close() {
    impl_->close();
}

bool CurlMulti::closed() const {
    return impl_->closed;
}

std::size_t CurlMulti::active() const {
    return impl_->transfers.size();
}

}  // namespace pkdns::relay
