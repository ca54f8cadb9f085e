#pragma once
// The pkdns database schema as an append-only list of migration steps; PRAGMA user_version is
// the number of steps applied. Never edit a released step: add a new one.

#include <span>
#include <string_view>

namespace pkdns::storage {

std::span<const std::string_view> schema_migrations();

}  // namespace pkdns::storage
