#pragma once
// HTTP dates (RFC 9110 §5.6.7) for Last-Modified, If-Modified-Since and Memento-Datetime.
// Whole seconds since the Unix epoch, UTC. Pure: no clock, no locale.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace pkdns::pkarr {

// Latest instant an HTTP date can show: 9999-12-31 23:59:59.
inline constexpr std::uint64_t max_http_date_seconds = 253402300799;

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:36 GMT". Seconds past year 9999 are clamped.
std::string format_http_date(std::uint64_t unix_seconds);

// Accepts the three forms recipients must accept (like Rust's httpdate crate, which pkarr uses):
// IMF-fixdate, RFC 850 ("Sunday, 06-Nov-94 08:49:36 GMT") and asctime ("Sun Nov  6 08:49:36 1994").
// The weekday must match the date; years 1970..9999 only.
Result<std::uint64_t> parse_http_date(std::string_view text);

}  // namespace pkdns::pkarr
