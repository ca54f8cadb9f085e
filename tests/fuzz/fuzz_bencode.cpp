// Strict bencode decoder: never crashes; whatever decodes re-encodes to the identical bytes
// (the decoder accepts canonical input only) and decodes again to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkarr/dht/bencode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pkdns::dht;
    pkdns::ByteView input(data, size);
    auto value = bencode::decode(input);
    if (!value) return 0;
    pkdns::Bytes encoded = bencode::encode(*value);
    if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) std::abort();
    auto again = bencode::decode(encoded);
    if (!again || !(*again == *value)) std::abort();
    return 0;
}
