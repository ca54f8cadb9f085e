#pragma once
// PKARR relay client (pkarr-spec.md §6.4): GET /{z32} and PUT /{z32} against several relays in
// parallel over one CurlMulti on the libuv loop.
//
// get: every relay is asked; the first valid packet completes `done`, and a more recent one
//      arriving later goes to `on_newer` ("first valid, then the most recent wins"). Without a
//      packet, `done` runs when every relay answered: not found when at least one relay said
//      404/304 (nothing newer), failed when all failed. With wait_all, `done` waits for every
//      relay and gets the most recent packet.
// put: every relay gets the payload; `done` runs when all answered or timed out.
//
// Every byte from a relay is hostile: bodies are read up to the largest relay payload, the
// packet is parsed with the key from the URL (signature checked), redirects are not followed.
// Callbacks run from the loop (or from close(), which completes everything pending).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "pkarr/relay/curl_multi.hpp"

namespace pkdns::relay {

// "pkdns/<version>".
std::string default_user_agent();

// Largest GET body read from a relay (pkarr's client limit; a payload is at most 1072 bytes).
inline constexpr std::size_t max_get_body = pkarr::max_signed_packet_bytes;
// Error text kept from a PUT answer.
inline constexpr std::size_t max_put_body = 512;

struct RelayClientConfig {
    std::vector<std::string> urls;  // base URLs: http(s)://host[:port][/path]
    std::uint64_t connect_timeout_ms = 2000;
    std::uint64_t get_timeout_ms = 3000;
    std::uint64_t put_timeout_ms = 10000;  // a v7 relay answers a PUT after its own DHT put
    std::string user_agent = default_user_agent();
};

// base + "/" + z32, whatever trailing slashes the base has; keeps a query string. Error for
// anything that is not an absolute http:// or https:// URL with a host.
Result<std::string> relay_url(std::string_view base, const pkarr::PublicKey& key);

// One relay's answer to a GET.
struct RelayGet {
    enum class Status { found, not_found, failed };
    std::string relay;  // base URL
    Status status = Status::failed;
    std::optional<pkarr::SignedPacket> packet;  // found
    std::string error;                          // failed: why
};

// What to do with one GET response (pure; `now` for Memento-Datetime).
struct GetResponse {
    long status = 0;
    ByteView body;
    std::optional<std::string> memento_datetime;
    bool sent_if_modified_since = false;
    bool retried = false;  // already sent once with the cache-bypass header
};
struct GetVerdict {
    bool retry = false;  // ask once more with "Cache-Control: no-cache" (pkarr-spec §6.4)
    RelayGet answer;     // when !retry (relay left empty)
};
GetVerdict classify_get(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than,
                        const GetResponse& response, pkarr::Micros now);

// One relay's answer to a PUT.
struct RelayPut {
    enum class Status { ok, conflict, failed };
    std::string relay;
    Status status = Status::failed;
    long http_status = 0;                     // 0 when no HTTP answer came
    std::optional<std::size_t> stored_nodes;  // ok: Pkarr-Dht-Stored-Nodes (absent: unknown, >= 1)
    std::string error;                        // conflict/failed: why
};
// Pure: 2xx ok, 409/428 conflict, anything else failed with the (sanitized) body text.
RelayPut classify_put(long status, ByteView body, const std::optional<std::string>& stored_nodes_header);

struct GetOutcome {
    std::optional<pkarr::SignedPacket> packet;
    std::string error;             // no packet: "" = not found, else why every relay failed
    std::vector<RelayGet> relays;  // answers received before `done` ran
};

struct PutOutcome {
    std::vector<RelayPut> relays;  // one per relay, in config order
    std::size_t succeeded = 0;
};

struct GetOptions {
    std::optional<pkarr::Micros> newer_than;  // only a more recent packet counts (If-Modified-Since)
    bool wait_all = false;                    // done only after every relay answered
};

class RelayClient {
public:
    using Clock = std::function<pkarr::Micros()>;
    using GetDone = std::function<void(GetOutcome)>;
    using OnNewer = std::function<void(const pkarr::SignedPacket&)>;
    using PutDone = std::function<void(PutOutcome)>;

    // URLs that relay_url() rejects are dropped with a warning (config validation catches them first).
    RelayClient(uv::Loop& loop, RelayClientConfig config, Clock clock = pkarr::now_micros);
    ~RelayClient();  // = close()
    RelayClient(const RelayClient&) = delete;
    RelayClient& operator=(const RelayClient&) = delete;

    void get(const pkarr::PublicKey& key, GetOptions options, GetDone done, OnNewer on_newer = nullptr);
    void put(const pkarr::SignedPacket& packet, PutDone done);
    // Cancels every request (their callbacks run now, with errors) and closes every handle.
    void close();

    const std::vector<std::string>& urls() const { return config_.urls; }
    std::size_t active_transfers() const { return http_.active(); }

private:
    struct GetState;
    struct PutState;
    void start_get(std::shared_ptr<GetState> state, std::size_t index, bool retried);
    static void finish_get_leg(const std::shared_ptr<GetState>& state, RelayGet answer);

    RelayClientConfig config_;
    Clock clock_;
    CurlMulti http_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pkdns::relay
