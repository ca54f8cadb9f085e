// z-base-32 decode/encode and PublicKey parsing on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pkarr/keys.hpp"
#include "pkarr/zbase32.hpp"

using namespace pkdns;
using namespace pkdns::pkarr;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto decoded = zbase32_decode(text);
    if (decoded.ok()) {
        if (decoded->size() != size * 5 / 8) std::abort();
        const std::string again = zbase32_encode(decoded.value());
        // Canonical text is exactly what the encoder produces; anything else differs.
        if (zbase32_is_canonical(text) != (again == text)) std::abort();
        auto round = zbase32_decode(again);
        if (!round.ok() || round.value() != decoded.value()) std::abort();
    } else if (zbase32_is_canonical(text)) {
        std::abort();
    }

    auto strict = PublicKey::from_z32(text);
    if (strict.ok() && strict->to_z32() != text) std::abort();
    auto lenient = PublicKey::parse(text);
    if (lenient.ok()) {
        // Whatever text it came from, the key re-parses from its canonical form.
        auto again = PublicKey::from_z32(lenient->to_z32());
        if (!again.ok() || again.value() != lenient.value()) std::abort();
    }
    if (strict.ok() && (!lenient.ok() || lenient.value() != strict.value())) std::abort();
    return 0;
}
