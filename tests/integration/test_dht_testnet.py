"""pkdns testnet / publish / resolve end to end on loopback.

Starts `pkdns testnet --nodes 32`, publishes from one process and resolves from another (each
with a different slice of the bootstrap list), checks that a newer publish replaces an older one
and that an older one never replaces a newer one, that an unknown key fails clearly, that
bootstrap host names go through the configured DNS server (a fake one on loopback), and that the
testnet exits 0 on SIGTERM.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402

NODES = 32


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    key_file, z32 = d.new_key(tmp)
    zone1 = d.write_zone(tmp, "v1.zone", ["@ 300 IN A 127.0.0.1", '_foo 300 IN TXT "v1"'])
    zone2 = d.write_zone(tmp, "v2.zone", ["@ 300 IN A 127.0.0.2", '_foo 300 IN TXT "v2"'])
    zone_old = d.write_zone(tmp, "old.zone", ['_foo 300 IN TXT "older"'])

    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES]) as net:
        info = net.first_json or {}
        boot = info.get("bootstrap", [])
        h.check("testnet prints exactly {\"bootstrap\": [...]} first",
                list(info.keys()) == ["bootstrap"] and len(boot) == NODES
                and all(b.startswith("127.0.0.1:") for b in boot), net.first_line)
        h.check("testnet ports are distinct", len(set(boot)) == NODES, boot)
        writer_boot = boot[:2]
        reader_boot = boot[-2:]

        r1 = d.publish(key_file, zone1, writer_boot)
        h.check("publish v1 exits 0", r1.returncode == 0, r1.stdout + r1.stderr)
        h.check("publish v1 prints the key", r1.parsed.get("key") == z32, r1.stdout)
        h.check("publish v1 stored at >= 20 nodes", r1.parsed.get("stored", 0) >= 20, r1.stdout)
        ts1 = r1.parsed.get("timestamp", 0)
        now_us = int(time.time() * 1e6)
        h.check("publish v1 timestamp is about now", abs(now_us - ts1) < 120e6, f"{ts1} vs {now_us}")

        g1 = d.resolve(z32, reader_boot)
        h.check("resolve from another process exits 0", g1.returncode == 0, g1.stdout + g1.stderr)
        j1 = g1.json or {}
        h.check("resolve returns the published timestamp", j1.get("timestamp") == ts1, g1.stdout)
        h.check("resolve returns the TXT record", d.txt_values(j1, "_foo.") == ['"v1"'], g1.stdout)
        h.check("resolve returns the apex A record",
                any(rr["type"] == "A" and rr["data"] == "127.0.0.1" and rr["name"] == z32
                    for rr in j1.get("records", [])), g1.stdout)

        g_sub = d.resolve("_foo." + z32, reader_boot, extra=["--type", "TXT"], json_output=False)
        h.check("text resolve of _foo.<key> TXT prints the record",
                g_sub.returncode == 0 and f"_foo.{z32}." in g_sub.stdout and '"v1"' in g_sub.stdout
                and "127.0.0.1" not in g_sub.stdout.split("\n", 2)[-1], g_sub.stdout + g_sub.stderr)

        r2 = d.publish(key_file, zone2, boot[10:12])
        ts2 = r2.parsed.get("timestamp", 0)
        h.check("publish v2 exits 0 and stores at >= 20 nodes",
                r2.returncode == 0 and r2.parsed.get("stored", 0) >= 20, r2.stdout + r2.stderr)
        h.check("publish v2 has a newer timestamp", ts2 > ts1, f"{ts2} <= {ts1}")
        g2 = d.resolve(z32, reader_boot)
        j2 = g2.json or {}
        h.check("newer publish replaces the older one",
                g2.returncode == 0 and j2.get("timestamp") == ts2 and d.txt_values(j2, "_foo.") == ['"v2"'],
                g2.stdout + g2.stderr)

        r_old = d.publish(key_file, zone_old, writer_boot, extra=["--timestamp", str(ts1 - 1)])
        h.check("publishing an older timestamp fails (exit 1, nobody stored it)",
                r_old.returncode == 1 and r_old.parsed.get("stored", 0) == 0, r_old.stdout + r_old.stderr)
        h.check("the failure names the reason (newer item stored / 302)",
                "302" in r_old.stderr or "newer" in r_old.stderr, r_old.stderr)
        g3 = d.resolve(z32, boot[20:22])
        j3 = g3.json or {}
        h.check("an older publish never replaces a newer one",
                g3.returncode == 0 and j3.get("timestamp") == ts2 and d.txt_values(j3, "_foo.") == ['"v2"'],
                g3.stdout + g3.stderr)

        r_same = d.publish(key_file, zone2, writer_boot, extra=["--timestamp", str(ts2)])
        h.check("republishing the identical packet (same timestamp) succeeds",
                r_same.returncode == 0 and r_same.parsed.get("stored", 0) >= 20, r_same.stdout + r_same.stderr)

        _, other = d.new_key(tmp, "other.seed")
        start = time.monotonic()
        g_none = d.resolve(other, reader_boot)
        took = time.monotonic() - start
        h.check("resolving an unpublished key exits 1 with a reason",
                g_none.returncode == 1 and "no signed packet" in g_none.stderr, g_none.stdout + g_none.stderr)
        h.check("... and returns promptly (< 10 s)", took < 10, f"{took:.1f}s")

        bad = h.run(["resolve", "not-a-key", "--bootstrap", boot[0]])
        h.check("resolve of a name without a key is a usage error (exit 2)", bad.returncode == 2, bad.stderr)

        # Host-name bootstrap entries go through --upstream, never the system resolver.
        port = boot[0].split(":")[1]
        with d.FakeDns({"boot.pkdns.test": "127.0.0.1"}) as dns:
            g_dns = d.resolve(z32, [f"boot.pkdns.test:{port}"], extra=["--upstream", dns.address])
            h.check("bootstrap by host name via the configured DNS server works",
                    g_dns.returncode == 0 and (g_dns.json or {}).get("timestamp") == ts2, g_dns.stdout + g_dns.stderr)
            h.check("the fake DNS server saw the A query", "boot.pkdns.test" in dns.queries, dns.queries)
            start = time.monotonic()
            g_nx = d.resolve(z32, [f"missing.pkdns.test:{port}"], extra=["--upstream", dns.address])
            took = time.monotonic() - start
            h.check("an unresolvable bootstrap name fails clearly and promptly",
                    g_nx.returncode == 1 and "missing.pkdns.test" in g_nx.stderr and took < 10,
                    f"{took:.1f}s rc={g_nx.returncode} {g_nx.stderr}")
        start = time.monotonic()
        g_dead = d.resolve(z32, ["boot.pkdns.test:6881"], extra=["--upstream", h.closed_udp_address()])
        took = time.monotonic() - start
        h.check("a dead DNS upstream fails clearly within a bounded time",
                g_dead.returncode == 1 and "boot.pkdns.test" in g_dead.stderr and took < 15,
                f"{took:.1f}s rc={g_dead.returncode} {g_dead.stderr}")

        h.check("testnet still running", net.alive(), net.stderr_text()[-2000:])
        rc = net.stop()
        h.check("testnet exits 0 on SIGTERM", rc == 0, f"rc={rc} {net.stderr_text()[-2000:]}")

    # Fixed port base: ports are consecutive. The range was free a moment ago; a start that
    # fails because a port got taken meanwhile is retried on another range.
    with d.PortRangeProcess(lambda base: [h.PKDNS_BIN, "testnet", "--nodes", 3, "--port-base", base], 3) as small:
        want = [f"127.0.0.1:{small.port_base + i}" for i in range(3)]
        got = (small.first_json or {}).get("bootstrap")
        h.check("testnet --port-base uses consecutive ports", got == want, f"{got} vs {want}")
        rc = small.stop(sig=2)
        h.check("testnet exits 0 on SIGINT", rc == 0, small.stderr_text()[-1000:])

    bad = h.run(["testnet", "--nodes", 0])
    h.check("testnet --nodes 0 is a usage error (exit 2)", bad.returncode == 2, bad.stderr)


if __name__ == "__main__":
    h.run_main(main)
