#pragma once
// Reading a whole file that must stay small (config, zone, key files): a file that grows past
// the bound while we read it is an error, not an allocation the size of the file.

#include <cstddef>
#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace pkdns {

// The bytes of `path`; errors name the path ("is a directory", "cannot open: <errno>",
// "larger than N bytes", "read error").
Result<std::string> read_bounded_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace pkdns
