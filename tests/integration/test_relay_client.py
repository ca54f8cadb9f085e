"""pkdns as a PKARR relay client, against relays implemented here with http.server on 127.0.0.1.

1. `pkdns publish --relay URL` then `pkdns resolve --relay URL`: a round trip with no DHT at
   all (a UDP socket given as --upstream proves no bootstrap name is ever looked up), the
   relay sees PUT /<z32> with the relay payload and a pkdns/<version> User-Agent.
2. Hostile or broken relays: garbage bodies, a relay for another key, HTTP 500, a closed port:
   clear errors naming the relay, exit 1, and a good relay next to a bad one still wins.
3. --bootstrap and --relay together (a `pkdns testnet`): publish stores on both; resolve takes
   the most recent packet of either source.
4. `pkdns serve` with a dead DHT bootstrap and `[relay] urls = [that relay]` answers the key
   over dig from the relay; with `--no-relays` the relay is never asked and the answer is
   SERVFAIL/NXDOMAIN, promptly.
"""

import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ZONE = """$TTL 300
@    IN A    192.0.2.10
www  IN A    192.0.2.11
_t   IN TXT  "relay-round-trip"
"""


class Relay:
    """A minimal relay: stores PUT bodies per key, serves them on GET (no verification).
    mode "garbage" answers every GET with junk and every PUT with 500."""

    def __init__(self, mode="store", garbage=b"\x00garbage\xff" * 20):
        self.mode = mode
        self.garbage = garbage
        self.store = {}
        self.requests = []  # (method, path, headers dict)
        self.lock = threading.Lock()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                with relay.lock:
                    relay.requests.append((self.command, self.path, dict(self.headers)))

            def do_PUT(self):
                self._record()
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(n, 4096))
                if relay.mode == "garbage":
                    self._send(500, b"storage exploded")
                    return
                with relay.lock:
                    relay.store[self.path.rstrip("/").rsplit("/", 1)[-1]] = body
                self._send(204, b"", {"Pkarr-Dht-Stored-Nodes": "3"})

            def do_GET(self):
                self._record()
                if relay.mode == "garbage":
                    self._send(200, relay.garbage)
                    return
                key = self.path.split("?")[0].rsplit("/", 1)[-1]
                with relay.lock:
                    body = relay.store.get(key)
                if body is None:
                    self._send(404, b"")
                else:
                    self._send(200, body, {"Content-Type": "application/pkarr.org/relays#payload"})

            def _send(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status != 204:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        return False

    def count(self, method):
        with self.lock:
            return sum(1 for m, _, _ in self.requests if m == method)


def udp_sink():
    """A bound UDP socket standing in for --upstream: any DNS query pkdns sends lands here."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def sink_received(s):
    try:
        s.recv(4096)
        return True
    except BlockingIOError:
        return False


def both_sources(tmp, key_file, zone, z32, relay):
    with Relay() as empty, h.Process([h.PKDNS_BIN, "testnet", "--nodes", "8"]) as net:
        boot = (net.first_json or {}).get("bootstrap", [])
        h.check("testnet started", len(boot) == 8, net.first_line)
        puts_before = relay.count("PUT")
        p = h.run(["publish", "--key", key_file, zone, "--bootstrap", boot[0], "--relay", relay.url], timeout=60)
        stored = [int(l.split(":")[1]) for l in p.stdout.splitlines() if l.startswith("stored:")]
        h.check("publish --bootstrap --relay: exit 0, stored on DHT nodes and on the relay",
                p.returncode == 0 and stored and stored[0] > 0 and "relays: 1 of 1 stored it" in p.stdout
                and relay.count("PUT") == puts_before + 1, p.stdout + p.stderr)
        ts = [int(l.split(":")[1]) for l in p.stdout.splitlines() if l.startswith("timestamp:")]
        # The DHT has it, this relay does not: resolve with both finds it through the DHT.
        r = h.run(["resolve", z32, "--bootstrap", boot[3], "--relay", empty.url, "--json"], timeout=60)
        try:
            j = json.loads(r.stdout)
        except ValueError:
            j = {}
        h.check("resolve --bootstrap --relay (relay has nothing): found through the DHT",
                r.returncode == 0 and j.get("source") == "DHT" and j.get("nodes_answered", 0) > 0
                and ts and j.get("timestamp") == ts[0], r.stdout + r.stderr)
        h.check("resolve --bootstrap --relay asked the relay too", empty.count("GET") == 1, empty.requests)


def main():
    tmp = h.temp_dir()
    key_file = os.path.join(tmp, "k.key")
    r = h.run(["keygen", "--out", key_file])
    h.check("keygen", r.returncode == 0, r.stderr)
    z32 = h.run(["pubkey", key_file]).stdout.strip()
    zone = os.path.join(tmp, "z.zone")
    with open(zone, "w", encoding="utf-8") as f:
        f.write(ZONE)
    other_key = os.path.join(tmp, "other.key")
    h.run(["keygen", "--out", other_key])
    other_z32 = h.run(["pubkey", other_key]).stdout.strip()

    with Relay() as good, Relay(mode="garbage") as bad:
        # 1. Round trip without any DHT.
        sink = udp_sink()
        upstream = "127.0.0.1:%d" % sink.getsockname()[1]
        started = time.monotonic()
        p = h.run(["publish", "--key", key_file, zone, "--relay", good.url + "/", "--upstream", upstream],
                  timeout=60)
        out = p.stdout
        h.check("publish --relay exits 0", p.returncode == 0, out + p.stderr)
        h.check("publish prints the relay's outcome (ok, HTTP 204, stored nodes)",
                "relay %s/: ok (HTTP 204, stored on 3 DHT nodes)" % good.url in out, out)
        h.check("publish prints 'relays: 1 of 1 stored it' and no DHT 'stored:' line",
                "relays: 1 of 1 stored it" in out and "stored:" not in out.replace("stored it", "").replace(
                    "stored on", ""), out)
        with good.lock:
            puts = [(m, path, hdr) for m, path, hdr in good.requests if m == "PUT"]
            stored = good.store.get(z32)
        h.check("the relay saw one PUT /<z32> (trailing slash of the base joined once)",
                len(puts) == 1 and puts[0][1] == "/" + z32, good.requests)
        h.check("PUT User-Agent is pkdns/<version>",
                puts and puts[0][2].get("User-Agent", "").startswith("pkdns/"), puts)
        h.check("PUT body is a relay payload (sig 64 + ts 8 + DNS)", stored is not None and 84 <= len(stored) <= 1072,
                stored)
        h.check("publish asked the relay for the newest packet first (GET before PUT)",
                [m for m, _, _ in good.requests][:2] == ["GET", "PUT"], good.requests)

        res = h.run(["resolve", "www." + z32, "--type", "A", "--json", "--relay", good.url, "--upstream", upstream],
                    timeout=60)
        try:
            j = json.loads(res.stdout)
        except ValueError:
            j = {}
        h.check("resolve --relay exits 0", res.returncode == 0, res.stdout + res.stderr)
        h.check("resolve --relay returns the published A record",
                [rr.get("data") for rr in j.get("records", [])] == ["192.0.2.11"], res.stdout)
        h.check("resolve --json names the relay as the source", good.url in j.get("source", ""), res.stdout)
        txt = h.run(["resolve", "_t." + z32, "--type", "TXT", "--relay", good.url, "--upstream", upstream],
                    timeout=60)
        h.check("resolve (text) shows the TXT record and the relay line",
                txt.returncode == 0 and '"relay-round-trip"' in txt.stdout and ";; relay " + good.url + ": found"
                in txt.stdout, txt.stdout + txt.stderr)
        elapsed = time.monotonic() - started
        h.check("no DHT: nothing was sent to --upstream (no bootstrap name lookup)", not sink_received(sink))
        h.check("publish + 2 resolves over a loopback relay are quick (< 15 s)", elapsed < 15, elapsed)
        sink.close()

        # 2. Broken relays.
        g = h.run(["resolve", z32, "--relay", bad.url], timeout=60)
        h.check("garbage relay: resolve exits 1", g.returncode == 1, g.stdout + g.stderr)
        h.check("garbage relay: the error names the relay and says the packet is invalid",
                bad.url in g.stderr and "invalid packet" in g.stderr, g.stderr)
        h.check("garbage relay: nothing printed on stdout", g.stdout.strip() == "", g.stdout)

        both = h.run(["resolve", z32, "--relay", bad.url, "--relay", good.url, "--json"], timeout=60)
        h.check("a bad relay next to a good one: resolve exits 0 with the good relay's packet",
                both.returncode == 0 and good.url in both.stdout and '"status":"failed"' in both.stdout,
                both.stdout + both.stderr)

        # A relay serving another key's packet under our key: rejected by the signature check.
        with good.lock:
            good.store[other_z32] = good.store[z32]
        w = h.run(["resolve", other_z32, "--relay", good.url], timeout=60)
        h.check("a packet signed by another key is rejected (exit 1, invalid packet)",
                w.returncode == 1 and "invalid packet" in w.stderr, w.stdout + w.stderr)

        nf_key = os.path.join(tmp, "nf.key")
        h.run(["keygen", "--out", nf_key])
        nf = h.run(["resolve", h.run(["pubkey", nf_key]).stdout.strip(), "--relay", good.url], timeout=60)
        h.check("unknown key: exit 1 with 'not found'", nf.returncode == 1 and "not found" in nf.stderr,
                nf.stdout + nf.stderr)

        pb = h.run(["publish", "--key", key_file, zone, "--relay", bad.url], timeout=60)
        h.check("publish to a failing relay: exit 1", pb.returncode == 1, pb.stdout + pb.stderr)
        h.check("publish to a failing relay: per-relay error with the status and text",
                "relay %s: error: HTTP 500: storage exploded" % bad.url in pb.stdout, pb.stdout + pb.stderr)

        dead_url = "http://" + h.closed_tcp_address()
        t0 = time.monotonic()
        dd = h.run(["resolve", z32, "--relay", dead_url], timeout=60)
        h.check("closed relay port: exit 1 quickly with the relay named",
                dd.returncode == 1 and dead_url in dd.stderr and time.monotonic() - t0 < 10, dd.stderr)

        bad_url = h.run(["resolve", z32, "--relay", "ftp://127.0.0.1/x"], timeout=30)
        h.check("a non-http relay URL is a usage error (exit 2)", bad_url.returncode == 2, bad_url.stderr)

        # 3. DHT and relays together.
        both_sources(tmp, key_file, zone, z32, good)

        # 4. serve: DHT bootstrap is a dead loopback port; the relay answers.
        dead_boot = h.closed_udp_address()
        mute_upstream = udp_sink()  # never answers; PKARR names do not need it
        upstream = "127.0.0.1:%d" % mute_upstream.getsockname()[1]
        for use_relays in (True, False):
            cfg = h.write_serve_config(os.path.join(tmp, "serve-%s.toml" % use_relays), upstreams=[upstream],
                                       bootstrap=[dead_boot], db=os.path.join(tmp, "cache-%s.db" % use_relays),
                                       relay_urls=[good.url])
            gets_before = good.count("GET")
            args = [] if use_relays else ["--no-relays"]
            with h.serve(cfg, args) as proc:
                port = proc.dns
                serving = h.serving(proc)
                h.check("serve (%s) is up" % ("relays" if use_relays else "--no-relays"), serving,
                        proc.stderr_text()[-2000:])
                t0 = time.monotonic()
                a = h.dig(port, "www." + z32, "A")
                took = time.monotonic() - t0
                if use_relays:
                    h.check("serve + relay, dead DHT: www.<key> A answered from the relay",
                            a["status"] == "NOERROR" and h.rr_datas(a, "A") == ["192.0.2.11"], a["raw"])
                    h.check("serve + relay: answered within 5 s", took < 5, took)
                    h.check("serve asked the relay (GET /<z32>)", good.count("GET") > gets_before, good.requests)
                    a2 = h.dig(port, z32, "A")
                    h.check("serve + relay: the apex A from the same packet",
                            h.rr_datas(a2, "A") == ["192.0.2.10"], a2["raw"])
                    h.check("serve logs the relays in use", "PKARR relays: " + good.url in proc.stderr_text(),
                            proc.stderr_text()[-3000:])
                else:
                    h.check("serve --no-relays, dead DHT: SERVFAIL or NXDOMAIN, no answer",
                            a["status"] in ("SERVFAIL", "NXDOMAIN") and not a["answer"], a["raw"])
                    h.check("serve --no-relays: the reply came promptly (< 8 s)", took < 8, took)
                    h.check("serve --no-relays never asked the relay", good.count("GET") == gets_before,
                            good.requests)
                    h.check("serve --no-relays logs that relays are disabled",
                            "PKARR relays: disabled" in proc.stderr_text(), proc.stderr_text()[-3000:])
            h.check("serve (%s) stopped with exit 0" % ("relays" if use_relays else "--no-relays"),
                    proc.returncode == 0, proc.stderr_text()[-2000:])
        mute_upstream.close()


if __name__ == "__main__":
    h.run_main(main)
