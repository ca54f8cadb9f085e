#!/usr/bin/env python3
"""The PKARR relay API (pkarr-spec §6) of the real `pkdns serve --http 127.0.0.1:0`, with curl.

PUT: a payload from `pkdns sign` -> 204 + Pkarr-Dht-Stored-Nodes; tampered / wrong key / short
-> 400; bad key in the path -> 400; > 1104 bytes -> 413; older than stored -> 409; a burst of
PUTs -> 429. GET: 200 with the payload, Content-Type, Cache-Control, Last-Modified, CORS;
If-Modified-Since -> 304; unknown key -> 404; bad policy -> 400; OPTIONS preflight. A packet
PUT to the relay is then answered over plain DNS by the same pkdns, and is on the testnet DHT:
`pkdns resolve --bootstrap` and the JS peer (client.js get --pkarr) both read it.
"""

import email.utils
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402
import nsd_fixture  # noqa: E402

NODES = 8
PAYLOAD_TYPE = "application/pkarr.org/relays#payload"


def write_config(path, bootstrap):
    return h.write_serve_config(path, [h.closed_udp_address()], bootstrap, db=":memory:", upstream_timeout_ms=500,
                                log_level="info", http=True)


def sign(key_file, zone, ts):
    r = h.run(["sign", "--key", key_file, "--timestamp", ts, zone])
    if r.returncode != 0:
        raise RuntimeError("pkdns sign failed: " + r.stderr)
    return bytes.fromhex(r.stdout.strip())


def http_date(seconds):
    return email.utils.formatdate(seconds, usegmt=True)


def main():
    h.pkdns_bin()
    peer = h.DHT_PEER_DIR
    tmp = h.temp_dir()
    key_file, z32 = d.new_key(tmp)
    other_file, other = d.new_key(tmp, "other.seed")
    zone1 = d.write_zone(tmp, "v1.zone", ["@ 300 IN A 127.0.0.8"])
    zone2 = d.write_zone(tmp, "v2.zone", ["@ 300 IN A 127.0.0.9", '_relay 300 IN TXT "put-via-relay"'])
    ts = int(time.time()) * 1_000_000 + 424242  # sub-second part on purpose (IMS precision)
    p1 = sign(key_file, zone1, ts)
    p_old = sign(key_file, zone1, ts - 5_000_000)
    p2 = sign(key_file, zone2, ts + 1_000_000)

    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES]) as net:
        boot = (net.first_json or {}).get("bootstrap", [])
        h.check("testnet is up", len(boot) == NODES, net.first_line)
        config = write_config(os.path.join(tmp, "pkdns.toml"), boot[-3:])
        with h.serve(config) as srv:
            port = srv.http_port
            if not h.check("serve reports its HTTP address", port, srv.first_line + srv.stderr_text()[-3000:]):
                h.finish()
            dns_port = srv.dns_port
            base = f"http://127.0.0.1:{port}"
            url = f"{base}/{z32}"
            # The first PUT must reach nodes: wait (bounded) for the DHT bootstrap.
            h.check("serve's DHT node bootstrapped from the testnet",
                    h.wait_until(lambda: "DHT bootstrap done" in srv.stderr_text(), timeout=20),
                    srv.stderr_text()[-3000:])

            st, _, hd, body = h.curl(["-X", "PUT", url], body=p1)
            h.check("PUT of a `pkdns sign` payload -> 204", st == 204 and body == b"", f"{st} {hd} {body!r}")
            stored = hd.get("pkarr-dht-stored-nodes", "")
            h.check("... with Pkarr-Dht-Stored-Nodes >= 1", stored.isdigit() and int(stored) >= 1, hd)
            h.check("... and CORS headers", hd.get("access-control-allow-origin") == "*"
                    and "Pkarr-Dht-Stored-Nodes" in hd.get("access-control-expose-headers", ""), hd)

            st, _, hd, body = h.curl([url])
            h.check("GET -> 200 with the payload bytes", st == 200 and body == p1, f"{st} {len(body)}")
            h.check("GET Content-Type is the relay payload type", hd.get("content-type") == PAYLOAD_TYPE, hd)
            h.check("GET Cache-Control public, max-age=300 (TTL clamped to the relay minimum)",
                    hd.get("cache-control") == "public, max-age=300", hd)
            h.check("GET Last-Modified is the packet timestamp (seconds)",
                    hd.get("last-modified") == http_date(ts // 1_000_000), hd)
            h.check("GET has CORS allow-origin *", hd.get("access-control-allow-origin") == "*", hd)

            st, _, hd, body = h.curl(["-H", "If-Modified-Since: " + http_date(ts // 1_000_000 + 1), url])
            h.check("If-Modified-Since after the timestamp -> 304, no body, headers kept",
                    st == 304 and body == b"" and hd.get("last-modified") == http_date(ts // 1_000_000)
                    and hd.get("content-type") == PAYLOAD_TYPE, f"{st} {hd}")
            st, _, _, body = h.curl(["-H", "If-Modified-Since: " + http_date(ts // 1_000_000 - 1), url])
            h.check("If-Modified-Since before the timestamp -> 200", st == 200 and body == p1, st)

            st, _, hd, body = h.curl(["-X", "OPTIONS", "-H", "Origin: https://app.example",
                                      "-H", "Access-Control-Request-Method: PUT", url])
            h.check("OPTIONS preflight -> 204 allowing PUT from any origin",
                    st == 204 and "PUT" in hd.get("access-control-allow-methods", "")
                    and hd.get("access-control-allow-origin") == "*", f"{st} {hd}")

            st, _, _, body = h.curl(["-X", "PUT", url], body=p_old)
            h.check("PUT of an older packet -> 409", st == 409, f"{st} {body!r}")
            tampered = bytearray(p1)
            tampered[-1] ^= 0x01
            st, _, _, body = h.curl(["-X", "PUT", url], body=bytes(tampered))
            h.check("PUT of a tampered payload -> 400", st == 400, f"{st} {body!r}")
            st, _, _, _ = h.curl(["-X", "PUT", f"{base}/{other}"], body=p1)
            h.check("PUT under another key -> 400", st == 400, st)
            st, _, _, _ = h.curl(["-X", "PUT", f"{base}/not-a-key"], body=p1)
            h.check("PUT with a bad key in the path -> 400", st == 400, st)
            st, _, _, _ = h.curl(["-X", "PUT", url], body=b"\x01" * 1200)
            h.check("PUT over 1104 bytes -> 413", st == 413, st)

            st, _, _, body = h.curl(["-X", "PUT", url], body=p2)
            h.check("PUT of a newer packet -> 204", st == 204, f"{st} {body!r}")
            st, _, _, body = h.curl([url])
            h.check("GET now serves the newer packet", st == 200 and body == p2, st)
            st, _, _, _ = h.curl([f"{url}?policy=Whenever"])
            h.check("GET with a bad policy -> 400", st == 400, st)
            st, _, _, _ = h.curl([f"{base}/{other}"])
            h.check("GET of a key nobody published -> 404", st == 404, st)

            # The same pkdns answers the PUT packet over plain DNS.
            reply = nsd_fixture.udp_query(dns_port, z32 + ".key", timeout=5)
            ans = nsd_fixture.answers(reply) if reply else []
            h.check("dig-style UDP query answers the relay packet (127.0.0.9)",
                    [rd for t, _, rd in ans if t == 1] == [bytes([127, 0, 0, 9])], ans)
            txt = h.dig(srv.dns, "_relay." + z32, "TXT")
            h.check("dig TXT under the key", h.rr_datas(txt, "TXT") == ['"put-via-relay"'], txt["raw"])

            # A burst of PUTs from one client is rate limited. Sent from this process (no curl
            # start-up per request), so the burst outruns the refill on a slow machine too.
            codes = []
            for _ in range(40):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                try:
                    conn.request("PUT", f"/{z32}", body=b"short")
                    codes.append(conn.getresponse().status)
                finally:
                    conn.close()
                if codes[-1] == 429:
                    break
            h.check("a burst of PUTs gets 429", 429 in codes and set(codes) <= {400, 429}, codes)

            code = srv.stop()
            h.check("SIGTERM stops serve with exit 0", code == 0, srv.stderr_text()[-3000:])
            h.check("no event-loop leak reported", "did not close cleanly" not in srv.stderr_text(),
                    srv.stderr_text()[-3000:])

        # The relay published to the DHT: readable without pkdns serve.
        r = d.resolve(z32, boot[:2])
        j = r.json or {}
        h.check("pkdns resolve --bootstrap reads the PUT packet from the testnet",
                r.returncode == 0 and j.get("timestamp") == ts + 1_000_000
                and d.txt_values(j, "_relay.") == ['"put-via-relay"'], r.stdout + r.stderr)
        if not peer or not os.path.isdir(os.path.join(peer, "node_modules")):
            h.check("PKDNS_DHT_PEER_DIR holds an installed dht-peer (run `make dht-peer`)", False, repr(peer))
        else:
            g = d.run_node(peer, "client.js", ["get", "--bootstrap", ",".join(boot[:2]), "--z32", z32, "--pkarr"])
            gj = g.json or {}
            answers = (gj.get("pkarr") or {}).get("answers", [])
            h.check("the JS peer (client.js get --pkarr) verifies the PUT packet",
                    g.returncode == 0 and gj.get("ok") and gj.get("seq") == ts + 1_000_000
                    and any(a.get("type") == "TXT" and a.get("data") == "put-via-relay" for a in answers),
                    g.stdout + g.stderr)


if __name__ == "__main__":
    h.run_main(main)
