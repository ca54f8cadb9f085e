#pragma once
// z-base-32 (alphabet ybndrfg8ejkmcpqxot1uwisza345h769, MSB-first bit stream, no padding).
// Encoding is always lowercase. Decoding is case-sensitive like pkarr's codec.

#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace pkdns::pkarr {

std::string zbase32_encode(ByteView bytes);

// Returns floor(len*5/8) bytes (pkarr >= 3 semantics); leftover bits of the last character are
// ignored here. Error for any character outside the alphabet (names the offset).
Result<Bytes> zbase32_decode(std::string_view text);

// True when `text` is exactly what zbase32_encode produces for some bytes: every character is
// in the alphabet, the leftover (padding) bits are all zero, and no character is pure padding
// (a length of 1, 3 or 6 mod 8 is never produced). Equivalent to
// encode(decode(text)) == text.
bool zbase32_is_canonical(std::string_view text);

}  // namespace pkdns::pkarr
