#include "pkarr/relay/relay_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include <spdlog/spdlog.h>

#include "pkarr/http_date.hpp"
#include "pkarr/relay_rules.hpp"

#ifndef PKDNS_VERSION
#define PKDNS_VERSION "dev"
#endif

namespace pkdns::relay {

namespace {

struct CurlUrlFree {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStr {
    char* p = nullptr;
    ~CurlStr() { curl_free(p); }
};

// Printable one-line excerpt of what a relay sent as error text.
std::string sanitize(ByteView body, std::size_t max = 200) {
    std::string out;
    bool space = false;
    for (std::uint8_t c : body) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += (c > 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    return out;
}

std::string join_errors(const std::vector<RelayGet>& answers) {
    std::string out;
    for (const auto& a : answers) {
        if (a.status != RelayGet::Status::failed) continue;
        out += (out.empty() ? "" : "; ") + a.relay + ": " + a.error;
    }
    return out.empty() ? "no relay answered" : out;
}

}  // namespace

std::string default_user_agent() {
    return "pkdns/" PKDNS_VERSION;
}

Result<std::string> relay_url(std::string_view base, const pkarr::PublicKey& key) {
    const std::string text(base);
    auto bad = [&](const std::string& why) { return make_error("relay URL '" + text + "': " + why); };
    if (text.find('\0') != std::string::npos) return bad("contains a NUL character");
    std::unique_ptr<CURLU, CurlUrlFree> url(curl_url());
    if (!url) return bad("out of memory");
    if (CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK)
        return bad(curl_url_strerror(rc));
    CurlStr scheme, host, path;
    if (curl_url_get(url.get(), CURLUPART_SCHEME, &scheme.p, 0) != CURLUE_OK ||
        (std::string_view(scheme.p) != "http" && std::string_view(scheme.p) != "https"))
        return bad("expected an http:// or https:// URL");
    if (curl_url_get(url.get(), CURLUPART_HOST, &host.p, 0) != CURLUE_OK || !*host.p) return bad("no host");
    std::string p;
    if (curl_url_get(url.get(), CURLUPART_PATH, &path.p, 0) == CURLUE_OK && path.p) p = path.p;
    while (!p.empty() && p.back() == '/') p.pop_back();
    p += "/" + key.to_z32();
    if (curl_url_set(url.get(), CURLUPART_PATH, p.c_str(), 0) != CURLUE_OK ||
        curl_url_set(url.get(), CURLUPART_FRAGMENT, nullptr, 0) != CURLUE_OK)
        return bad("cannot append the key");
    CurlStr out;
    if (curl_url_get(url.get(), CURLUPART_URL, &out.p, 0) != CURLUE_OK) return bad("cannot build the URL");
    return std::string(out.p);
}

GetVerdict classify_get(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than,
                        const GetResponse& r, pkarr::Micros now) {
    GetVerdict v;
    RelayGet& a = v.answer;
    auto fail = [&](std::string why) {
        a.status = RelayGet::Status::failed;
        a.error = std::move(why);
        return v;
    };
    if (r.status == 304) {
        // 304 without our If-Modified-Since came from an HTTP cache on the way.
        if (!r.sent_if_modified_since && !r.retried) {
            v.retry = true;
            return v;
        }
        a.status = RelayGet::Status::not_found;
        return v;
    }
    if (r.status == 404) {
        a.status = RelayGet::Status::not_found;
        return v;
    }
    if (r.status < 200 || r.status > 299) {
        std::string text = sanitize(r.body);
        return fail("HTTP " + std::to_string(r.status) + (text.empty() ? "" : ": " + text));
    }
    if (r.body.empty()) {
        // Old relays (v5) and caches answer an empty 2xx; pkarr retries once bypassing caches.
        if (!r.retried) {
            v.retry = true;
            return v;
        }
        return fail("HTTP " + std::to_string(r.status) + " with an empty body");
    }
    auto packet = pkarr::SignedPacket::from_relay_payload(key, r.body, now);
    if (!packet) return fail("invalid packet: " + packet.error().message);
    if (r.memento_datetime) {
        // When the relay last saw it on the DHT; only believed when not in the future.
        auto seen = pkarr::parse_http_date(*r.memento_datetime);
        if (seen && *seen <= now / 1'000'000) packet->set_last_seen(*seen * 1'000'000);
    }
    if (newer_than && packet->timestamp() <= *newer_than) {
        a.status = RelayGet::Status::not_found;
        return v;
    }
    a.status = RelayGet::Status::found;
    a.packet = std::move(packet.value());
    return v;
}

RelayPut classify_put(long status, ByteView body, const std::optional<std::string>& stored_nodes_header) {
    RelayPut p;
    p.http_status = status;
    const std::string text = sanitize(body);
    const std::string suffix = text.empty() ? "" : ": " + text;
    if (status >= 200 && status <= 299) {
        if (!stored_nodes_header) {
            p.status = RelayPut::Status::ok;
            return p;
        }
        const std::string& h = *stored_nodes_header;
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), n);
        if (ec != std::errc{} || end != h.data() + h.size() || h.empty()) {
            p.error = "unparsable Pkarr-Dht-Stored-Nodes header '" + sanitize(as_bytes(h), 40) + "'";
            return p;
        }
        p.status = RelayPut::Status::ok;
        p.stored_nodes = n;
        return p;
    }
    if (status == 409 || status == 428) {
        p.status = RelayPut::Status::conflict;
        p.error = "not most recent (HTTP " + std::to_string(status) + ")" + suffix;
        return p;
    }
    p.error = "HTTP " + std::to_string(status) + suffix;
    return p;
}

// ------------------------------------------------------------------ RelayClient

struct RelayClient::GetState {
    GetState(const pkarr::PublicKey& k, GetOptions o, GetDone d, OnNewer n)
        : key(k), options(o), done(std::move(d)), on_newer(std::move(n)) {}
    pkarr::PublicKey key;
    GetOptions options;
    GetDone done;
    OnNewer on_newer;
    std::size_t pending = 0;
    bool fired = false;
    std::optional<pkarr::SignedPacket> best;
    std::vector<RelayGet> answers;

    void fire() {
        fired = true;
        GetOutcome o;
        o.packet = best;
        o.relays = answers;
        const bool any_not_found = std::any_of(answers.begin(), answers.end(), [](const RelayGet& a) {
            return a.status == RelayGet::Status::not_found;
        });
        if (!best && !any_not_found) o.error = join_errors(answers);
        GetDone d = std::move(done);
        d(std::move(o));
    }
};

struct RelayClient::PutState {
    PutDone done;
    PutOutcome outcome;
    std::size_t pending = 0;
};

RelayClient::RelayClient(uv::Loop& loop, RelayClientConfig config, Clock clock)
    : config_(std::move(config)), clock_(std::move(clock)), http_(loop) {
    std::vector<std::string> usable;
    // Any valid key works for checking that a base URL joins.
    const pkarr::PublicKey probe = pkarr::Keypair::from_seed({}).public_key();
    for (auto& u : config_.urls) {
        if (auto r = relay_url(u, probe); !r)
            spdlog::warn("{}: ignored", r.error().message);
        else
            usable.push_back(std::move(u));
    }
    config_.urls = std::move(usable);
}

RelayClient::~RelayClient() {
    close();
}

void RelayClient::close() {
    http_.close();
}

void RelayClient::get(const pkarr::PublicKey& key, GetOptions options, GetDone done, OnNewer on_newer) {
    auto state = std::make_shared<GetState>(key, options, std::move(done), std::move(on_newer));
    state->pending = config_.urls.size();
    if (state->pending == 0) {
        http_.post([state] {
            state->answers.push_back({"", RelayGet::Status::failed, std::nullopt, "no relays configured"});
            state->fire();
        });
        return;
    }
    for (std::size_t i = 0; i < config_.urls.size(); ++i) start_get(state, i, false);
}

void RelayClient::start_get(std::shared_ptr<GetState> state, std::size_t index, bool retried) {
    const std::string& base = config_.urls[index];
    auto url = relay_url(base, state->key);
    if (!url) {
        http_.post([state, base, why = url.error().message] {
            finish_get_leg(state, {base, RelayGet::Status::failed, std::nullopt, why});
        });
        return;
    }
    HttpRequest req;
    req.url = std::move(url.value());
    req.want_headers = {"Memento-Datetime"};
    req.user_agent = config_.user_agent;
    req.connect_timeout_ms = config_.connect_timeout_ms;
    req.timeout_ms = config_.get_timeout_ms;
    req.max_body = max_get_body;
    const bool ims = state->options.newer_than.has_value();
    if (ims)
        req.headers.push_back("If-Modified-Since: " +
                              pkarr::if_modified_since_for(*state->options.newer_than));
    if (retried) req.headers.push_back("Cache-Control: no-cache");
    std::weak_ptr<int> alive = alive_;
    http_.start(std::move(req), [this, alive, state, index, base, ims, retried](Result<HttpResponse> r) {
        RelayGet answer;
        if (!r) {
            answer.status = RelayGet::Status::failed;
            answer.error = r.error().message;
        } else if (alive.expired()) {
            answer.status = RelayGet::Status::failed;
            answer.error = "relay client closed";
        } else {
            GetResponse g;
            g.status = r->status;
            g.body = r->body;
            g.memento_datetime = r->header("Memento-Datetime");
            g.sent_if_modified_since = ims;
            g.retried = retried;
            GetVerdict v = classify_get(state->key, state->options.newer_than, g, clock_());
            if (v.retry && !http_.closed()) return start_get(state, index, true);
            answer = std::move(v.answer);
            if (v.retry) {
                answer.status = RelayGet::Status::failed;
                answer.error = "relay client closed";
            }
        }
        answer.relay = base;
        finish_get_leg(state, std::move(answer));
    });
}

void RelayClient::finish_get_leg(const std::shared_ptr<GetState>& state, RelayGet answer) {
    --state->pending;
    if (answer.status == RelayGet::Status::found) {
        const pkarr::SignedPacket& p = *answer.packet;
        const bool newer = !state->best || p.more_recent_than(*state->best);
        if (newer) state->best = p;
        if (state->fired && newer && state->on_newer) state->on_newer(p);
        if (!state->fired && !state->options.wait_all) {
            state->answers.push_back(std::move(answer));
            return state->fire();
        }
    }
    state->answers.push_back(std::move(answer));
    if (!state->fired && state->pending == 0) state->fire();
}

void RelayClient::put(const pkarr::SignedPacket& packet, PutDone done) {
    auto state = std::make_shared<PutState>();
    state->done = std::move(done);
    state->pending = config_.urls.size();
    state->outcome.relays.resize(config_.urls.size());
    if (state->pending == 0) {
        http_.post([state] { state->done(std::move(state->outcome)); });
        return;
    }
    const Bytes payload = packet.relay_payload();
    for (std::size_t i = 0; i < config_.urls.size(); ++i) {
        const std::string& base = config_.urls[i];
        auto complete = [state, i, base](RelayPut result) {
            result.relay = base;
            if (result.status == RelayPut::Status::ok) ++state->outcome.succeeded;
            state->outcome.relays[i] = std::move(result);
            if (--state->pending == 0) state->done(std::move(state->outcome));
        };
        auto url = relay_url(base, packet.public_key());
        if (!url) {
            http_.post([complete, why = url.error().message] {
                RelayPut p;
                p.error = why;
                complete(std::move(p));
            });
            continue;
        }
        HttpRequest req;
        req.method = "PUT";
        req.url = std::move(url.value());
        req.body = payload;
        // The Rust client sends no Content-Type; curl would add a form type, and Expect for large bodies.
        req.headers = {"Content-Type:", "Expect:"};
        req.want_headers = {"Pkarr-Dht-Stored-Nodes"};
        req.user_agent = config_.user_agent;
        req.connect_timeout_ms = config_.connect_timeout_ms;
        req.timeout_ms = config_.put_timeout_ms;
        req.max_body = max_put_body;
        req.truncate_body = true;
        http_.start(std::move(req), [complete](Result<HttpResponse> r) {
            if (!r) {
                RelayPut p;
                p.error = r.error().message;
                return complete(std::move(p));
            }
            complete(classify_put(r->status, r->body, r->header("Pkarr-Dht-Stored-Nodes")));
        });
    }
}

}  // namespace pkdns::relay
