// HttpApi with synchronous fakes: the input picks the method, path, query, headers and body.
// Nothing may crash, and the respond callback must run exactly once.
//
// Input layout: lines "METHOD\nPATH\nQUERY\nname: value\n...\n\nBODY" (missing parts are empty).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pkarr/signed_packet.hpp"
#include <variant>

#include "resolver/server/http_api.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/query.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;
using namespace pkdns::server;

namespace {

std::string_view next_line(std::string_view& in) {
    auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    return line;
}

HttpApi& api() {
    static std::uint64_t mono = 0;
    static pkarr::Micros wall = 1'700'000'000'000'000;
    static HttpApi instance = [] {
        HttpBackends b;
        // DoH: parse_request as the Frontend runs it, then a fixed NOERROR answer built by the
        // real finalize(), sometimes now and sometimes through the reply function.
        b.dns = [](ByteView message, const ClientInfo&, MakeReply later) -> Outcome {
            static Bytes out;
            auto parsed = parse_request(message);
            if (auto* rejection = std::get_if<Rejection>(&parsed)) {
                if (rejection->reply.empty()) return Outcome{};
                out = std::move(rejection->reply);
                return Outcome{Verdict::answer, out};
            }
            const Request& request = std::get<Request>(parsed);
            out = finalize(request, dns::Packet{}, Transport::https);
            if ((request.id & 1) == 0) return Outcome{Verdict::answer, out};
            later()(out);
            return Outcome{Verdict::later, {}};
        };
        b.lookup = [](const pkarr::PublicKey& key, PacketStore::Admit admit, PacketStore::Done done) {
            PacketLookup r;
            r.status = (key.bytes()[0] & 1) ? PacketLookup::Status::not_found : PacketLookup::Status::failed;
            if (!admit()) r.status = PacketLookup::Status::rate_limited;
            done(r);
        };
        b.cached = [](const pkarr::PublicKey&) { return std::shared_ptr<const pkarr::SignedPacket>(); };
        b.offer = [](const pkarr::SignedPacket& p) {
            return (p.timestamp() & 1) ? PacketStore::Offer::older : PacketStore::Offer::stored;
        };
        b.publish = [](const pkarr::SignedPacket& p, HttpBackends::PublishDone done) {
            if (p.timestamp() & 2) return done(make_error("no closest nodes"));
            done(std::size_t{3});
        };
        b.metrics = [] { return std::string("x 1\n"); };
        HttpApiConfig config;
        config.trusted_proxies = {Cidr::parse("127.0.0.0/8").value()};
        HttpClocks clocks;
        clocks.wall_micros = [] { return wall; };
        clocks.mono_ms = [] { return mono += 100; };
        return HttpApi(config, b, clocks);
    }();
    return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    HttpRequest req;
    req.method = std::string(next_line(in));
    req.path = std::string(next_line(in));
    req.query = std::string(next_line(in));
    for (int i = 0; i < 32 && !in.empty(); ++i) {
        std::string_view line = next_line(in);
        if (line.empty()) break;
        auto colon = line.find(':');
        std::string name(line.substr(0, colon));
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view value =
            colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        req.headers.push_back({name, std::string(value)});
    }
    req.body = std::string(in);
    req.peer = SocketAddress::parse("127.0.0.1:1").value();

    // Helpers on the raw input too.
    (void)base64url_decode(req.query);
    (void)doh_cache_control(as_bytes(req.body));
    (void)client_address(req, {Cidr::parse("0.0.0.0/0").value()});

    int calls = 0;
    api().handle(req, [&calls](HttpResponse r) {
        ++calls;
        if (r.status < 100 || r.status > 599) std::abort();
    });
    if (calls != 1) std::abort();
    return 0;
}
