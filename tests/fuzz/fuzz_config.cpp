// parse_config on arbitrary text: an error or a Config, never a crash. A parsed Config must
// survive the to_toml round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "conf/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = pkdns::conf::parse_config(text, "fuzz.toml", "/base");
    if (!config) return 0;
    auto again = pkdns::conf::parse_config(pkdns::conf::to_toml(*config), "round-trip.toml", "/base");
    if (!again || !(*again == *config)) std::abort();
    pkdns::conf::Overrides overrides;
    overrides.listen.emplace_back(text.substr(0, 64));
    (void)pkdns::conf::apply_overrides(*config, overrides);
    return 0;
}
