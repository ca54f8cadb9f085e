#pragma once
// BIND-style zone files for one PKARR key: the origin is the key (`@` = the key, relative names
// get the key appended), $TTL and $ORIGIN work as in RFC 1035. Every owner name must end up at
// or below the key.

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::pkarr {

// Larger files cannot fit a 1000-byte packet anyway; the cap keeps reading bounded.
inline constexpr std::size_t max_zone_file_bytes = 1 << 20;

// Errors read "<file>: line N: <reason>" (or "<file>: <reason>" when no line applies).
Result<std::vector<dns::Record>> load_zone_file(const std::filesystem::path& file, const PublicKey& key);

// The same for text already in memory; `source` names it in errors.
Result<std::vector<dns::Record>> parse_zone(std::string_view text, const PublicKey& key,
                                            std::string_view source);

}  // namespace pkdns::pkarr
