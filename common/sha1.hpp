#pragma once
// SHA-1 for BEP44 targets and node ids (ldns provides it; libsodium has none).

#include <array>
#include <cstdint>

#include "common/bytes.hpp"

namespace pkdns {

using Sha1 = std::array<std::uint8_t, 20>;
Sha1 sha1(ByteView data);

}  // namespace pkdns
