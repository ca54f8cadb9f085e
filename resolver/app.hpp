#pragma once
// The composition root of `pkdns serve` (design.md §4): one libuv loop running the SQLite
// packet cache, the DHT node, the upstream forwarder, the query pipeline and the UDP/TCP
// listeners, until SIGINT or SIGTERM.

namespace pkdns::conf {
struct Config;
}

namespace pkdns::resolver {

// Runs the daemon. Returns the process exit code: 0 after a graceful stop, 2 when start-up
// fails (cache not openable, listen or DHT address not bindable; one clear log line), 1 when
// the loop did not shut down cleanly.
int run_serve(const conf::Config& config);

}  // namespace pkdns::resolver
