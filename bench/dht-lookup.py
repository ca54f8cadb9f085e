#!/usr/bin/env python3
"""DHT lookup benchmark (loopback only; a benchmark, not a test).

Starts a 50-node `pkdns testnet` and a 20-node JS testnet (bittorrent-dht, shared/tools/dht-peer),
publishes K PKARR keys to each with `pkdns publish`, then resolves every key on each network with
`pkdns resolve` and with `node client.js get --pkarr`, in the same run. Prints p50/p99 of:
  - lookup: time inside the tool (pkdns `lookup_ms`, client.js `get_ms`; excludes process start-up
    and, for client.js, its bootstrap);
  - wall: the whole command as a user runs it (process start, bootstrap, lookup, verification).

Usage: bench/dht-lookup.py [--keys K] [--pkdns BIN] [--peer DIR]
Defaults: K=20, BIN=build/pkdns, DIR=build/dht-peer (make dht-peer).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--pkdns", default=os.path.join(HERE, "..", "build", "pkdns"))
    ap.add_argument("--peer", default=os.path.join(HERE, "..", "build", "dht-peer"))
    args = ap.parse_args()
    os.environ["PKDNS_BIN"] = os.path.abspath(args.pkdns)
    import harness as h
    import dht_harness as d

    peer = os.path.abspath(args.peer)
    if not os.path.isdir(os.path.join(peer, "node_modules")):
        sys.exit(f"dht-peer not installed in {peer} (run `make dht-peer`)")
    tmp = h.temp_dir("pkdns-bench-")
    keys = [d.new_key(tmp, f"k{i}.seed") for i in range(args.keys)]
    zone = d.write_zone(tmp, "bench.zone", ["@ 300 IN A 127.0.0.1", '_bench 300 IN TXT "hello"'])

    results = {}
    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", 50]) as cpp, d.js_testnet(peer, 20) as js:
        nets = {"pkdns testnet (50)": cpp.first_json["bootstrap"], "JS testnet (20)": js.first_json["bootstrap"]}
        for net, boot in nets.items():
            stored = []
            for key_file, _ in keys:
                p = d.publish(key_file, zone, boot[:1])
                if p.returncode != 0:
                    sys.exit(f"publish failed on {net}: {p.stderr}")
                stored.append(p.parsed["stored"])
            print(f"{net}: published {len(keys)} keys, stored at {min(stored)}..{max(stored)} nodes", flush=True)
            reader = boot[-1:]
            series = {"pkdns resolve": ([], []), "client.js get": ([], [])}
            for _, z32 in keys:
                t0 = time.monotonic()
                r = d.resolve(z32, reader)
                wall = (time.monotonic() - t0) * 1000
                if r.returncode != 0 or not r.json:
                    sys.exit(f"pkdns resolve failed on {net}: {r.stderr}")
                series["pkdns resolve"][0].append(r.json["lookup_ms"])
                series["pkdns resolve"][1].append(wall)
                t0 = time.monotonic()
                g = d.run_node(peer, "client.js", ["get", "--bootstrap", ",".join(reader), "--z32", z32, "--pkarr"])
                wall = (time.monotonic() - t0) * 1000
                if g.returncode != 0 or not g.json or not g.json.get("ok"):
                    sys.exit(f"client.js get failed on {net}: {g.stdout} {g.stderr}")
                series["client.js get"][0].append(g.json["get_ms"])
                series["client.js get"][1].append(wall)
            results[net] = series

    print()
    print(f"{'network':<20} {'tool':<15} {'lookup p50':>11} {'lookup p99':>11} {'wall p50':>9} {'wall p99':>9}   (ms, K={args.keys})")
    for net, series in results.items():
        for tool, (lookup, wall) in series.items():
            print(f"{net:<20} {tool:<15} {pct(lookup, 50):>11.1f} {pct(lookup, 99):>11.1f} "
                  f"{pct(wall, 50):>9.1f} {pct(wall, 99):>9.1f}")
    print(json.dumps({"keys": args.keys, "results": {
        net: {tool: {"lookup_p50": pct(l, 50), "lookup_p99": pct(l, 99), "wall_p50": pct(w, 50), "wall_p99": pct(w, 99)}
              for tool, (l, w) in series.items()} for net, series in results.items()}}))


if __name__ == "__main__":
    main()
