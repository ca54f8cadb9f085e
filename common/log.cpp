#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pkdns::log {

bool setup(std::string_view level) {
    auto lvl = spdlog::level::from_str(std::string(level));
    if (lvl == spdlog::level::off && level != "off") return false;
    static auto logger = spdlog::stderr_color_mt("pkdns");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(lvl);
    return true;
}

}  // namespace pkdns::log
