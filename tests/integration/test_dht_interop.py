"""pkdns against an independent DHT implementation (bittorrent-dht 11 + pkarr 1.3, the JS peer
in PKDNS_DHT_PEER_DIR), all on loopback.

1. A JS testnet (15 nodes): `pkdns publish` -> `client.js get --pkarr` decodes and verifies it;
   `client.js put --pkarr` -> `pkdns resolve` returns its records; a newer pkdns publish is
   what JS reads next.
2. A mixed network: a pkdns testnet (10 nodes), a JS testnet (10 nodes) joined to it with
   --extra-bootstrap, and a second pkdns testnet joined to the JS nodes with --bootstrap. Records
   cross in both directions, whichever side the writer and the reader bootstrap from.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402


def js_get(peer, z32, bootstrap):
    return d.run_node(peer, "client.js", ["get", "--bootstrap", ",".join(bootstrap), "--z32", z32, "--pkarr"])


def js_put(peer, seed, bootstrap, txt, a):
    return d.run_node(peer, "client.js", ["put", "--bootstrap", ",".join(bootstrap), "--seed", seed, "--pkarr",
                                          "--txt", txt, "--a", a])


def js_answers(r):
    return ((r.json or {}).get("pkarr") or {}).get("answers", [])


def has_answer(answers, name, rtype, data):
    return any(a.get("name") == name and a.get("type") == rtype and a.get("data") == data for a in answers)


def js_key(tmp, name):
    """A seed usable by client.js and pkdns alike, with its z32 key."""
    path, z32 = d.new_key(tmp, name)
    with open(path, encoding="ascii") as f:
        return path, f.read().strip(), z32


def part_js_testnet(peer, tmp):
    with d.js_testnet(peer, 15) as js:
        boot = (js.first_json or {}).get("bootstrap", [])
        if not h.check("JS testnet (15 nodes) started", len(boot) == 15, js.first_line):
            return
        key_file, _, z32 = js_key(tmp, "a.seed")
        zone = d.write_zone(tmp, "a.zone", ["@ 300 IN A 127.0.0.1", '_foo 300 IN TXT "from-pkdns"'])
        p = d.publish(key_file, zone, boot[:1])
        h.check("pkdns publish to the JS testnet exits 0", p.returncode == 0, p.stdout + p.stderr)
        h.check("every JS node stored it (stored = 15)", p.parsed.get("stored") == 15, p.stdout)
        ts = p.parsed.get("timestamp")
        g = js_get(peer, z32, boot[-1:])
        h.check("client.js get --pkarr verifies the pkdns packet", g.returncode == 0 and (g.json or {}).get("ok"),
                g.stdout + g.stderr)
        h.check("JS sees the pkdns timestamp as seq", (g.json or {}).get("seq") == ts, g.stdout)
        ans = js_answers(g)
        h.check("JS decodes the pkdns records",
                has_answer(ans, "_foo." + z32, "TXT", "from-pkdns") and has_answer(ans, z32, "A", "127.0.0.1"),
                ans)

        zone2 = d.write_zone(tmp, "a2.zone", ['_foo 300 IN TXT "second"'])
        p2 = d.publish(key_file, zone2, boot[3:4])
        ts2 = p2.parsed.get("timestamp", 0)
        h.check("a second pkdns publish (newer) is stored by the JS nodes",
                p2.returncode == 0 and p2.parsed.get("stored", 0) >= 10 and ts2 > ts, p2.stdout + p2.stderr)
        g2 = js_get(peer, z32, boot[-2:-1])
        h.check("client.js get returns the newer packet",
                (g2.json or {}).get("seq") == ts2 and has_answer(js_answers(g2), "_foo." + z32, "TXT", "second"),
                g2.stdout + g2.stderr)

        _, seed_b, z32_b = js_key(tmp, "b.seed")
        w = js_put(peer, seed_b, boot[:1], "_foo=from-js", "@=127.0.0.3")
        h.check("client.js put --pkarr succeeds", w.returncode == 0 and (w.json or {}).get("ok"), w.stdout + w.stderr)
        seq_b = (w.json or {}).get("seq")
        r = d.resolve(z32_b, boot[7:8])
        j = r.json or {}
        h.check("pkdns resolve reads the JS-published packet", r.returncode == 0, r.stdout + r.stderr)
        h.check("... with the JS seq as timestamp", j.get("timestamp") == seq_b, r.stdout)
        h.check("... and its records",
                d.txt_values(j, "_foo.") == ['"from-js"']
                and any(x["type"] == "A" and x["data"] == "127.0.0.3" for x in j.get("records", [])), r.stdout)
        h.check("JS testnet dropped nothing at its loopback guard",
                "dropped by loopback guard=" not in js.stderr_text()
                or "dropped by loopback guard=0" in js.stderr_text(), js.stderr_text()[-500:])


def part_mixed(peer, tmp):
    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", 10]) as cpp:
        cboot = (cpp.first_json or {}).get("bootstrap", [])
        if not h.check("pkdns testnet (10 nodes) started", len(cboot) == 10, cpp.first_line):
            return
        with d.js_testnet(peer, 10, extra_bootstrap=cboot[:2]) as js:
            jboot = (js.first_json or {}).get("bootstrap", [])
            if not h.check("JS testnet (10 nodes) joined via --extra-bootstrap", len(jboot) == 10, js.first_line):
                return
            with h.Process([h.PKDNS_BIN, "testnet", "--nodes", 5, "--bootstrap", jboot[0]]) as cpp2:
                c2boot = (cpp2.first_json or {}).get("bootstrap", [])
                h.check("second pkdns testnet joined the JS nodes via --bootstrap", len(c2boot) == 5, cpp2.first_line)

                # pkdns writer bootstrapping from pkdns nodes; JS reader bootstrapping from JS nodes.
                key_file, _, z32 = js_key(tmp, "m.seed")
                zone = d.write_zone(tmp, "m.zone", ['_mixed 300 IN TXT "cpp-to-js"'])
                p = d.publish(key_file, zone, cboot[:1])
                h.check("mixed: pkdns publish exits 0 and stores at >= 20 nodes",
                        p.returncode == 0 and p.parsed.get("stored", 0) >= 20, p.stdout + p.stderr)
                g = js_get(peer, z32, jboot[-1:])
                h.check("mixed: client.js get (JS bootstrap) reads the pkdns packet",
                        g.returncode == 0 and (g.json or {}).get("seq") == p.parsed.get("timestamp")
                        and has_answer(js_answers(g), "_mixed." + z32, "TXT", "cpp-to-js"), g.stdout + g.stderr)
                r = d.resolve(z32, c2boot[-1:])
                h.check("mixed: pkdns resolve via the second pkdns testnet reads it too",
                        r.returncode == 0 and (r.json or {}).get("timestamp") == p.parsed.get("timestamp"),
                        r.stdout + r.stderr)

                # JS writer bootstrapping from JS nodes; pkdns reader bootstrapping from pkdns nodes.
                _, seed, z32_j = js_key(tmp, "n.seed")
                w = js_put(peer, seed, jboot[:1], "_mixed=js-to-cpp", "@=127.0.0.4")
                h.check("mixed: client.js put succeeds", w.returncode == 0 and (w.json or {}).get("ok"),
                        w.stdout + w.stderr)
                h.check("mixed: the JS put reached pkdns nodes as well (stored_at > 10)",
                        (w.json or {}).get("stored_at", 0) > 10, w.stdout)
                r2 = d.resolve(z32_j, cboot[-1:])
                j2 = r2.json or {}
                h.check("mixed: pkdns resolve (pkdns bootstrap) reads the JS packet",
                        r2.returncode == 0 and j2.get("timestamp") == (w.json or {}).get("seq")
                        and d.txt_values(j2, "_mixed.") == ['"js-to-cpp"'], r2.stdout + r2.stderr)
                rc2 = cpp2.stop()
                h.check("mixed: second pkdns testnet exits 0", rc2 == 0, cpp2.stderr_text()[-1000:])
        rc = cpp.stop()
        h.check("mixed: pkdns testnet exits 0 on SIGTERM", rc == 0, cpp.stderr_text()[-1000:])


def main():
    h.pkdns_bin()
    peer = h.DHT_PEER_DIR
    if not peer or not os.path.isdir(os.path.join(peer, "node_modules")):
        h.check("PKDNS_DHT_PEER_DIR holds an installed dht-peer (run `make dht-peer`)", False, repr(peer))
        h.finish()
    tmp = h.temp_dir()
    part_js_testnet(peer, tmp)
    part_mixed(peer, tmp)


if __name__ == "__main__":
    h.run_main(main)
