#pragma once
// Helpers for the storage tests: a temporary directory removed at the end, and signed packets
// built from fixed seeds.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::storage::test {

class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/pkdns-storage-test-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string file(std::string_view name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline void write_file(const std::string& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

inline pkarr::Keypair keypair(std::uint8_t n) {
    pkarr::Keypair::Seed seed{};
    seed.fill(n);
    return pkarr::Keypair::from_seed(seed);
}

inline dns::Record txt(std::string_view owner, std::string_view text, std::uint32_t ttl = 300) {
    dns::Record r;
    r.name = dns::Name::parse(owner).value();
    r.type = dns::type::TXT;
    r.ttl = ttl;
    r.rdata.push_back(static_cast<std::uint8_t>(text.size()));
    r.rdata.insert(r.rdata.end(), text.begin(), text.end());
    return r;
}

inline pkarr::SignedPacket sign(const pkarr::Keypair& kp, std::vector<dns::Record> records, pkarr::Micros ts,
                                pkarr::Micros last_seen) {
    auto p = pkarr::SignedPacket::sign(kp, records, ts).value();
    p.set_last_seen(last_seen);
    return p;
}

inline pkarr::SignedPacket packet(std::uint8_t seed, pkarr::Micros ts, std::string_view text = "hello",
                                  pkarr::Micros last_seen = 1'000'000) {
    return sign(keypair(seed), {txt("_test", text)}, ts, last_seen);
}

}  // namespace pkdns::storage::test
