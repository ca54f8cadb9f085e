#include "storage/schema.hpp"

#include <array>

namespace pkdns::storage {

namespace {

// Step 1: the signed packet cache (packet_cache.cpp). Times are µs since the Unix epoch;
// `packet` holds the canonical bytes pk|sig|ts|dns.
constexpr std::string_view step_packets = R"sql(
CREATE TABLE packets (
    key         BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),
    timestamp   INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    packet      BLOB NOT NULL,
    last_access INTEGER NOT NULL
);
CREATE INDEX packets_by_last_access ON packets (last_access, key);
)sql";

// Step 2: keys kept alive on the DHT after a PUT to our relay API (keep_alive.cpp); the packet
// itself stays in `packets`.
constexpr std::string_view step_keep_alive = R"sql(
CREATE TABLE keep_alive (
    key         BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),
    accepted_at INTEGER NOT NULL
);
)sql";

constexpr std::array<std::string_view, 2> steps{step_packets, step_keep_alive};

}  // namespace

std::span<const std::string_view> schema_migrations() {
    return steps;
}

}  // namespace pkdns::storage
