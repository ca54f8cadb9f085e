#pragma once
// A tiny HTTP/1.1 responder on the test's own loop (common/uv_tcp.hpp), standing in for a PKARR
// relay: it records every request and answers what `handler` returns, one request per
// connection ("Connection: close"). Replies can be held until release_held(), or never sent.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "common/uv_tcp.hpp"
#include "support/uv_loop.hpp"

namespace pkdns::relay::test {

struct HttpRequestSeen {
    std::string method, path;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
    std::optional<std::string> header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        if (it == headers.end()) return std::nullopt;
        return it->second;
    }
};

struct Reply {
    int status = 200;
    std::vector<std::string> headers;  // extra "Name: value" lines
    std::string body;
    std::optional<std::string> raw;  // sent as-is instead of a formatted response
    bool hold = false;               // sent only on release_held()
    bool never = false;              // never answered (a stalled relay)
};

class HttpResponder {
public:
    using Handler = std::function<Reply(const HttpRequestSeen&)>;

    HttpResponder(uv::Loop& loop, Handler handler) : listener_(loop), handler_(std::move(handler)) {
        REQUIRE(listener_.bind(pkdns::test::loopback()).ok());
        REQUIRE(listener_.listen(64, [this](std::unique_ptr<uv::TcpConnection> c) { accept(std::move(c)); })
                    .ok());
        port_ = listener_.local_address().value().port;
    }

    std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    const std::vector<HttpRequestSeen>& requests() const { return requests_; }
    std::size_t held() const { return held_.size(); }
    void release_held() {
        auto held = std::move(held_);
        held_.clear();
        for (auto& [conn, reply] : held) send(*conn, reply);
    }

private:
    struct Conn {
        std::unique_ptr<uv::TcpConnection> tcp;
        std::string buffer;
        bool answered = false;
    };

    void accept(std::unique_ptr<uv::TcpConnection> c) {
        auto conn = std::make_shared<Conn>();
        conn->tcp = std::move(c);
        Conn* raw = conn.get();
        conn->tcp->set_on_eof([raw] { raw->tcp->shutdown(200); });
        REQUIRE(conn->tcp->start_read([this, raw](ByteView d) { on_data(*raw, d); }).ok());
        conns_.push_back(std::move(conn));
    }

    void on_data(Conn& c, ByteView d) {
        if (c.answered) return;
        c.buffer += std::string(as_chars(d));
        auto end = c.buffer.find("\r\n\r\n");
        if (end == std::string::npos) return;
        HttpRequestSeen req;
        std::string head = c.buffer.substr(0, end);
        std::size_t pos = head.find("\r\n");
        std::string line = head.substr(0, pos);
        auto sp1 = line.find(' '), sp2 = line.rfind(' ');
        req.method = line.substr(0, sp1);
        req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
        while (pos != std::string::npos && pos < head.size()) {
            std::size_t next = head.find("\r\n", pos + 2);
            std::string h =
                head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            auto colon = h.find(':');
            if (colon != std::string::npos) {
                std::string name = h.substr(0, colon);
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char ch) { return std::tolower(ch); });
                std::string value = h.substr(colon + 1);
                value.erase(0, value.find_first_not_of(' '));
                req.headers[name] = value;
            }
            pos = next;
        }
        std::size_t length = 0;
        if (auto cl = req.header("content-length")) length = std::stoul(*cl);
        if (c.buffer.size() < end + 4 + length) return;  // body still coming
        req.body = c.buffer.substr(end + 4, length);
        c.answered = true;
        requests_.push_back(req);
        Reply reply = handler_(req);
        if (reply.never) return;
        if (reply.hold) {
            held_.emplace_back(&c, std::move(reply));
            return;
        }
        send(c, reply);
    }

    static std::string reason(int status) {
        switch (status) {
            case 200:
                return "OK";
            case 204:
                return "No Content";
            case 304:
                return "Not Modified";
            case 404:
                return "Not Found";
            default:
                return "Status";
        }
    }

    void send(Conn& c, const Reply& r) {
        std::string out;
        if (r.raw) {
            out = *r.raw;
        } else {
            out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
            if (r.status != 204 && r.status != 304)
                out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
            out += "Connection: close\r\n";
            for (const auto& h : r.headers) out += h + "\r\n";
            out += "\r\n" + r.body;
        }
        if (c.tcp->write(as_bytes(out)).ok()) c.tcp->shutdown(500);
    }

    uv::TcpListener listener_;
    Handler handler_;
    std::uint16_t port_ = 0;
    std::vector<std::shared_ptr<Conn>> conns_;
    std::vector<std::pair<Conn*, Reply>> held_;
    std::vector<HttpRequestSeen> requests_;
};

}  // namespace pkdns::relay::test
