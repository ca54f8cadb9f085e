#include "pkarr/dht/krpc.hpp"

#include <algorithm>
#include <cstring>

#include "pkarr/dht/bencode.hpp"

namespace pkdns::dht::krpc {

using bencode::Dict;
using bencode::List;
using bencode::Value;

namespace {

Result<std::vector<NodeInfo>> decode_compact_nodes(ByteView bytes, std::size_t entry, const char* what) {
    if (bytes.size() % entry != 0)
        return pkdns::make_error(std::string(what) + " length " + std::to_string(bytes.size()) +
                                 " is not a multiple of " + std::to_string(entry));
    std::vector<NodeInfo> out;
    out.reserve(bytes.size() / entry);
    for (std::size_t off = 0; off < bytes.size(); off += entry) {
        ByteView e = bytes.subspan(off, entry);
        NodeInfo n;
        n.id = NodeId::from_bytes(e.first(NodeId::size)).value();
        n.address = Address::from_compact(e.subspan(NodeId::size)).value();
        out.push_back(n);
    }
    return out;
}

Bytes encode_compact_nodes(std::span<const NodeInfo> nodes, bool v6) {
    Bytes out;
    for (const NodeInfo& n : nodes) {
        if (n.address.is_v6() != v6) continue;
        out.insert(out.end(), n.id.bytes().begin(), n.id.bytes().end());
        n.address.append_compact(out);
    }
    return out;
}

}  // namespace

Result<std::vector<NodeInfo>> decode_nodes(ByteView bytes) {
    return decode_compact_nodes(bytes, compact_node_v4_size, "nodes");
}
Result<std::vector<NodeInfo>> decode_nodes6(ByteView bytes) {
    return decode_compact_nodes(bytes, compact_node_v6_size, "nodes6");
}
Bytes encode_nodes(std::span<const NodeInfo> nodes) {
    return encode_compact_nodes(nodes, false);
}
Bytes encode_nodes6(std::span<const NodeInfo> nodes) {
    return encode_compact_nodes(nodes, true);
}

std::string_view method_name(Method m) {
    switch (m) {
        case Method::ping:
            return "ping";
        case Method::find_node:
            return "find_node";
        case Method::get_peers:
            return "get_peers";
        case Method::announce_peer:
            return "announce_peer";
        case Method::get:
            return "get";
        case Method::put:
            return "put";
    }
    return "?";
}

namespace {

std::optional<Method> method_from(std::string_view s) {
    for (Method m : {Method::ping, Method::find_node, Method::get_peers, Method::announce_peer, Method::get,
                     Method::put})
        if (method_name(m) == s) return m;
    return std::nullopt;
}

// Reads typed fields out of one dict, remembering the first problem.
class Fields {
public:
    explicit Fields(const Dict& d, const char* where) : d_(d), where_(where) {}

    const Value* get(std::string_view key) const {
        auto it = d_.find(key);
        return it == d_.end() ? nullptr : &it->second;
    }

    std::optional<Bytes> string(std::string_view key, std::size_t min = 0, std::size_t max = SIZE_MAX) {
        const Value* v = get(key);
        if (v == nullptr) return std::nullopt;
        if (!v->is_string()) return bad(key, "is not a string");
        const Bytes& s = v->as_string();
        if (s.size() < min || s.size() > max) return bad(key, "has bad length " + std::to_string(s.size()));
        return s;
    }

    template <std::size_t N>
    std::optional<std::array<std::uint8_t, N>> fixed(std::string_view key) {
        auto s = string(key, N, N);
        if (!s) return std::nullopt;
        std::array<std::uint8_t, N> out{};
        std::memcpy(out.data(), s->data(), N);
        return out;
    }

    std::optional<NodeId> id(std::string_view key) {
        auto raw = fixed<NodeId::size>(key);
        if (!raw) return std::nullopt;
        return NodeId(*raw);
    }

    std::optional<std::int64_t> integer(std::string_view key) {
        const Value* v = get(key);
        if (v == nullptr) return std::nullopt;
        if (!v->is_int()) return bad(key, "is not an integer");
        return v->as_int();
    }

    // Required variants: record "missing" when absent.
    template <class T>
    T require(std::optional<T> v, std::string_view key) {
        if (!v && error_.empty()) error_ = std::string(where_) + " is missing '" + std::string(key) + "'";
        return v ? std::move(*v) : T{};
    }

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

private:
    std::nullopt_t bad(std::string_view key, const std::string& what) {
        if (error_.empty()) error_ = std::string(where_) + " '" + std::string(key) + "' " + what;
        return std::nullopt;
    }

    const Dict& d_;
    const char* where_;
    std::string error_;
};

Result<Query> decode_query(Method method, const Dict& a) {
    Fields f(a, "query arguments");
    Query q;
    q.method = method;
    q.id = f.require(f.id("id"), "id");
    switch (method) {
        case Method::ping:
            break;
        case Method::find_node:
            q.target = f.require(f.id("target"), "target");
            break;
        case Method::get_peers:
            q.info_hash = f.require(f.id("info_hash"), "info_hash");
            break;
        case Method::announce_peer: {
            q.info_hash = f.require(f.id("info_hash"), "info_hash");
            q.token = f.require(f.string("token"), "token");
            auto implied = f.integer("implied_port");
            q.implied_port = implied.value_or(0) != 0;
            auto port = f.integer("port");
            if (port) {
                if (*port < 0 || *port > 65535)
                    return pkdns::make_error("announce_peer port out of range", error_protocol);
                q.port = static_cast<std::uint16_t>(*port);
            } else if (!q.implied_port && f.ok()) {
                return pkdns::make_error("announce_peer is missing 'port'", error_protocol);
            }
            break;
        }
        case Method::get:
            q.target = f.require(f.id("target"), "target");
            q.seq = f.integer("seq");
            break;
        case Method::put:
            q.token = f.require(f.string("token"), "token");
            q.v = f.require(f.string("v"), "v");
            q.k = f.fixed<32>("k");
            q.sig = f.fixed<64>("sig");
            q.seq = f.integer("seq");
            q.cas = f.integer("cas");
            q.salt = f.string("salt");
            if (f.ok() && q.k) {
                if (!q.sig) return pkdns::make_error("mutable put is missing 'sig'", error_protocol);
                if (!q.seq) return pkdns::make_error("mutable put is missing 'seq'", error_protocol);
            }
            if (f.ok() && !q.k && (q.sig || q.salt || q.cas))
                return pkdns::make_error("put has sig/salt/cas but no 'k'", error_protocol);
            // mainline sends `target` in puts too; servers derive it from k/salt (or v) instead.
            q.target = f.id("target");
            break;
    }
    if (!f.ok()) return pkdns::make_error(f.error(), error_protocol);
    return q;
}

Result<Response> decode_response(const Dict& r) {
    Fields f(r, "response");
    Response out;
    out.id = f.require(f.id("id"), "id");
    if (auto nodes = f.string("nodes")) {
        auto parsed = decode_nodes(*nodes);
        if (!parsed) return parsed.error();
        out.nodes = std::move(parsed).value();
    }
    if (auto nodes6 = f.string("nodes6")) {
        auto parsed = decode_nodes6(*nodes6);
        if (!parsed) return parsed.error();
        out.nodes6 = std::move(parsed).value();
    }
    out.token = f.string("token");
    if (const Value* values = f.get("values")) {
        if (!values->is_list()) return pkdns::make_error("response 'values' is not a list");
        std::vector<Address> peers;
        for (const Value& p : values->as_list()) {
            if (!p.is_string()) return pkdns::make_error("response 'values' entry is not a string");
            auto a = Address::from_compact(p.as_string());
            if (!a) return a.error();
            peers.push_back(*a);
        }
        out.values = std::move(peers);
    }
    out.v = f.string("v");
    out.k = f.fixed<32>("k");
    out.sig = f.fixed<64>("sig");
    out.seq = f.integer("seq");
    if (!f.ok()) return pkdns::make_error(f.error());
    return out;
}

Result<ErrorReply> decode_error(const Value& e) {
    if (!e.is_list()) return pkdns::make_error("error 'e' is not a list");
    const List& l = e.as_list();
    if (l.size() < 2 || !l[0].is_int() || !l[1].is_string())
        return pkdns::make_error("error 'e' must be [integer, string]");
    ErrorReply out;
    out.code = l[0].as_int();
    out.message = std::string(l[1].as_text());
    return out;
}

}  // namespace

std::optional<Bytes> transaction_id(ByteView datagram) {
    bencode::DecodeLimits limits;
    limits.require_sorted_keys = false;
    auto v = bencode::decode(datagram, limits);
    if (!v) return std::nullopt;
    const Value* t = v->find("t");
    if (t == nullptr || !t->is_string() || t->as_string().empty() ||
        t->as_string().size() > max_transaction_id)
        return std::nullopt;
    return t->as_string();
}

Result<Message> decode(ByteView datagram) {
    if (datagram.size() > max_message_size) return pkdns::make_error("KRPC message larger than 64 KiB");
    if (datagram.empty() || datagram[0] != 'd') return pkdns::make_error("KRPC message is not a dictionary");
    bencode::DecodeLimits limits;
    limits.max_depth = 8;
    auto root = bencode::decode(datagram, limits);
    if (!root) return root.error();
    Fields top(root->as_dict(), "message");
    Message m;
    auto t = top.string("t", 1, max_transaction_id);
    auto y = top.string("y", 1, 1);
    if (!top.ok()) return pkdns::make_error(top.error());
    if (!t) return pkdns::make_error("message is missing 't'");
    if (!y) return pkdns::make_error("message is missing 'y'");
    m.t = std::move(*t);

    if (const Value* version = top.get("v");
        version != nullptr && version->is_string() && version->as_string().size() == 4) {
        Version ver{};
        std::memcpy(ver.data(), version->as_string().data(), 4);
        m.version = ver;
    }
    if (auto ip = top.string("ip")) {
        auto a = Address::from_compact(*ip);
        if (!a) return pkdns::make_error("message 'ip': " + a.error().message);
        m.ip = *a;
    }
    if (auto ro = top.integer("ro")) {
        if (*ro != 0 && *ro != 1) return pkdns::make_error("message 'ro' must be 0 or 1");
        m.read_only = *ro == 1;
    }
    if (!top.ok()) return pkdns::make_error(top.error());

    switch ((*y)[0]) {
        case 'q': {
            auto q = top.string("q", 1, 32);
            if (!q) return pkdns::make_error(top.ok() ? "query is missing 'q'" : top.error(), error_protocol);
            auto method = method_from(as_chars(*q));
            if (!method)
                return pkdns::make_error("unknown method '" + std::string(as_chars(*q)) + "'",
                                         error_method_unknown);
            const Value* a = top.get("a");
            if (a == nullptr || !a->is_dict())
                return pkdns::make_error("query is missing the 'a' dictionary", error_protocol);
            auto query = decode_query(*method, a->as_dict());
            if (!query) return query.error();
            m.body = std::move(query).value();
            return m;
        }
        case 'r': {
            const Value* r = top.get("r");
            if (r == nullptr || !r->is_dict())
                return pkdns::make_error("response is missing the 'r' dictionary");
            auto resp = decode_response(r->as_dict());
            if (!resp) return resp.error();
            m.body = std::move(resp).value();
            return m;
        }
        case 'e': {
            const Value* e = top.get("e");
            if (e == nullptr) return pkdns::make_error("error message is missing 'e'");
            auto err = decode_error(*e);
            if (!err) return err.error();
            m.body = std::move(err).value();
            return m;
        }
        default:
            return pkdns::make_error("message 'y' must be q, r or e");
    }
}

namespace {

void put_str(Dict& d, const char* key, ByteView bytes) {
    d[key] = Value(bytes);
}
template <std::size_t N>
void put_str(Dict& d, const char* key, const std::array<std::uint8_t, N>& bytes) {
    d[key] = Value(ByteView(bytes.data(), N));
}

Dict encode_query(const Query& q) {
    Dict a;
    put_str(a, "id", q.id.view());
    if (q.target) put_str(a, "target", q.target->view());
    if (q.info_hash) put_str(a, "info_hash", q.info_hash->view());
    if (q.port) a["port"] = Value(bencode::Int{*q.port});
    if (q.implied_port) a["implied_port"] = Value(1);
    if (q.token) put_str(a, "token", *q.token);
    if (q.seq) a["seq"] = Value(*q.seq);
    if (q.cas) a["cas"] = Value(*q.cas);
    if (q.k) put_str(a, "k", *q.k);
    if (q.sig) put_str(a, "sig", *q.sig);
    if (q.salt) put_str(a, "salt", *q.salt);
    if (q.v) put_str(a, "v", *q.v);
    return a;
}

Dict encode_response(const Response& r) {
    Dict d;
    put_str(d, "id", r.id.view());
    if (r.nodes) d["nodes"] = Value(encode_nodes(*r.nodes));
    if (r.nodes6) d["nodes6"] = Value(encode_nodes6(*r.nodes6));
    if (r.token) put_str(d, "token", *r.token);
    if (r.values) {
        List peers;
        for (const Address& a : *r.values) peers.emplace_back(a.compact());
        d["values"] = Value(std::move(peers));
    }
    if (r.v) put_str(d, "v", *r.v);
    if (r.k) put_str(d, "k", *r.k);
    if (r.sig) put_str(d, "sig", *r.sig);
    if (r.seq) d["seq"] = Value(*r.seq);
    return d;
}

}  // namespace

Bytes encode(const Message& m) {
    Dict root;
    put_str(root, "t", m.t);
    if (m.version) put_str(root, "v", *m.version);
    if (m.ip) root["ip"] = Value(m.ip->compact());
    if (m.read_only) root["ro"] = Value(1);
    if (m.is_query()) {
        root["y"] = Value::str("q");
        root["q"] = Value::str(method_name(m.query().method));
        root["a"] = Value(encode_query(m.query()));
    } else if (m.is_response()) {
        root["y"] = Value::str("r");
        root["r"] = Value(encode_response(m.response()));
    } else {
        root["y"] = Value::str("e");
        root["e"] = Value(List{Value(m.error().code), Value::str(m.error().message)});
    }
    return bencode::encode(Value(std::move(root)));
}

Message make_query(Query query, Bytes t) {
    Message m;
    m.t = std::move(t);
    m.body = std::move(query);
    return m;
}

Message make_response(Response response, Bytes t) {
    Message m;
    m.t = std::move(t);
    m.body = std::move(response);
    return m;
}

Message make_error(std::int64_t code, std::string message, Bytes t) {
    Message m;
    m.t = std::move(t);
    m.body = ErrorReply{code, std::move(message)};
    return m;
}

}  // namespace pkdns::dht::krpc
