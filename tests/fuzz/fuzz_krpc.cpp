// KRPC decoder: never crashes; a decoded message encodes and decodes back to an equal message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkarr/dht/krpc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pkdns::dht;
    pkdns::ByteView input(data, size);
    (void)krpc::transaction_id(input);
    auto message = krpc::decode(input);
    if (!message) return 0;
    pkdns::Bytes encoded = krpc::encode(*message);
    auto again = krpc::decode(encoded);
    if (!again || !(*again == *message)) std::abort();
    if (krpc::encode(*again) != encoded) std::abort();
    return 0;
}
