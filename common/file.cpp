#include "common/file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace pkdns {

Result<std::string> read_bounded_file(const std::filesystem::path& path, std::size_t max_bytes) {
    const std::string name = path.string();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return make_error(name + ": is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(name + ": cannot open: " + std::strerror(errno));
    std::string text;
    char buf[4096];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_bytes)
            return make_error(name + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    if (in.bad()) return make_error(name + ": read error");
    return text;
}

}  // namespace pkdns
