#pragma once
// Logging goes through spdlog to stderr (journald collects it). One setup call at start-up.

#include <string_view>

#include <spdlog/spdlog.h>

namespace pkdns::log {

// level: trace, debug, info, warn, error, critical, off. Returns false for an unknown level.
bool setup(std::string_view level);

}  // namespace pkdns::log
