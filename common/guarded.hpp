#pragma once
// Runs a callback that C code (libuv, libh2o, libcurl) invoked: a C++ exception stops here, logged
// with `what`, instead of unwinding through C frames (design.md §4).

#include <exception>

#include <spdlog/spdlog.h>

namespace pkdns {

template <class F>
void guarded(const char* what, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        spdlog::error("uncaught exception in {} callback: {}", what, e.what());
    } catch (...) {
        spdlog::error("uncaught exception in {} callback", what);
    }
}

}  // namespace pkdns
