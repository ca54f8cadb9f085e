#include "resolver/upstream/attempts.hpp"

#include <utility>

namespace pkdns::upstream {

namespace {

Step step(Step::Kind kind, std::size_t upstream) {
    Step s;
    s.kind = kind;
    s.upstream = upstream;
    return s;
}

}  // namespace

dns::Packet make_query(const dns::Question& question, std::uint16_t id, bool dnssec_ok,
                       std::uint16_t udp_size) {
    dns::Packet q;
    q.id = id;
    q.flags = dns::flag::RD;
    q.questions.push_back(question);
    dns::Record opt;  // owner = root
    opt.type = dns::type::OPT;
    opt.klass = udp_size;
    opt.ttl = dnssec_ok ? 0x8000u : 0u;  // extended rcode 0, version 0, DO flag
    q.additional.push_back(std::move(opt));
    return q;
}

bool reply_matches(const dns::Packet& query, const dns::Packet& reply) {
    if ((reply.flags & dns::flag::QR) == 0 || reply.id != query.id || reply.opcode() != 0) return false;
    if (reply.questions.size() != 1 || query.questions.size() != 1) return false;
    const auto& a = query.questions.front();
    const auto& b = reply.questions.front();
    return a.name == b.name && a.type == b.type && a.klass == b.klass;  // Name == ignores case
}

Attempts::Attempts(const dns::Question& question, bool dnssec_ok, AttemptsConfig config)
    : config_(config), query_(make_query(question, 0, dnssec_ok, config.edns_udp_size)) {}

Step Attempts::start() {
    if (phase_ != Phase::placing) return Step{};
    if (config_.upstreams.empty())
        return finish(make_error("no upstream servers configured", forward_error::all_failed));
    return step(Step::Kind::send_udp, upstream_);
}

Bytes Attempts::udp_placed(std::uint64_t socket, std::uint16_t id, std::uint64_t now_ms) {
    if (phase_ != Phase::placing) return {};
    phase_ = Phase::udp;
    socket_ = socket;
    query_.id = id;
    wire_ = dns::encode_packet(query_);
    deadline_ = now_ms + config_.timeout_ms;
    return wire_;
}

Step Attempts::udp_failed(std::string_view why) {
    if (phase_ != Phase::placing && phase_ != Phase::udp) return Step{};
    return next_upstream(why);
}

Step Attempts::on_udp(std::uint64_t socket, const SocketAddress& from, ByteView datagram,
                      std::uint64_t now_ms) {
    // Spoofing defence: the socket, the upstream's address, our ID and our question must match.
    if (phase_ != Phase::udp || socket != socket_ || from != config_.upstreams[upstream_]) return Step{};
    if (datagram.size() < 12 || get_u16(datagram.data()) != query_.id) return Step{};
    auto reply = dns::parse_packet(datagram);
    if (!reply || !reply_matches(query_, reply.value())) return Step{};
    if ((reply->flags & dns::flag::TC) == 0) return finish(std::move(reply).value());
    phase_ = Phase::tcp;
    socket_ = 0;
    deadline_ = now_ms + config_.timeout_ms;
    Step tcp = step(Step::Kind::send_tcp, upstream_);
    put_u16(tcp.frame, static_cast<std::uint16_t>(wire_.size()));
    tcp.frame.insert(tcp.frame.end(), wire_.begin(), wire_.end());
    return tcp;
}

Step Attempts::on_tcp_data(ByteView data) {
    if (phase_ != Phase::tcp) return Step{};
    tcp_buffer_.insert(tcp_buffer_.end(), data.begin(), data.end());
    if (tcp_buffer_.size() < 2) return Step{};
    const std::size_t length = get_u16(tcp_buffer_.data());
    if (tcp_buffer_.size() < 2 + length) return Step{};  // bounded: length <= 65535
    auto reply = dns::parse_packet(ByteView(tcp_buffer_).subspan(2, length));
    if (!reply) return next_upstream("bad tcp reply: " + reply.error().message);
    // One query per connection: any other message means the upstream is broken.
    if (!reply_matches(query_, reply.value())) return next_upstream("tcp reply does not match the query");
    return finish(std::move(reply).value());
}

Step Attempts::on_tcp_closed(std::string_view why) {
    if (phase_ != Phase::tcp) return Step{};
    return next_upstream(why);
}

Step Attempts::on_time(std::uint64_t now_ms) {
    if (!deadline_ || now_ms < *deadline_) return Step{};
    return next_upstream(phase_ == Phase::tcp ? "tcp timeout" : "udp timeout");
}

Step Attempts::next_upstream(std::string_view why) {
    std::string failed = config_.upstreams[upstream_].to_string() + ": ";
    failed += why;
    if (!reasons_.empty()) reasons_ += "; ";
    reasons_ += failed;
    ++upstream_;
    socket_ = 0;
    wire_.clear();
    tcp_buffer_.clear();
    deadline_.reset();
    Step next;
    if (upstream_ < config_.upstreams.size()) {
        phase_ = Phase::placing;
        next = step(Step::Kind::send_udp, upstream_);
    } else {
        next = finish(make_error("all upstreams failed: " + reasons_, forward_error::all_failed));
    }
    next.failed = std::move(failed);
    return next;
}

Step Attempts::finish(Result<dns::Packet> result) {
    phase_ = Phase::finished;
    socket_ = 0;
    deadline_.reset();
    Step done = step(Step::Kind::finished, upstream_);
    done.result = std::move(result);
    return done;
}

}  // namespace pkdns::upstream
