#!/usr/bin/env python3
"""DNS over HTTPS (RFC 8484) on the real `pkdns serve --http 127.0.0.1:0`.

nsd serves example.test (the ICANN upstream), a pkdns testnet holds a published PKARR zone.
Checked for a PKARR name and an ICANN name: GET and POST over HTTP/1.1, h2c with prior
knowledge and h2c by Upgrade (curl), and over TLS (HTTP/2 by ALPN and HTTP/1.1, curl; kdig
+https) with a certificate the test makes with openssl; every answer carries the same records
as the UDP answer. Error statuses: 400, 405, 413, 415. Also /healthz and /metrics.
"""

import base64
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402
import nsd_fixture  # noqa: E402

NODES = 8


def write_config(path, upstream, bootstrap, tls=None):
    return h.write_serve_config(path, [upstream], bootstrap, db=":memory:", log_level="info", http=True, tls=tls)


def records(reply):
    """Sorted (type, rdata) of the answer section (TTLs count down, so they are left out)."""
    try:
        return sorted((t, rd) for t, _ttl, rd in nsd_fixture.answers(reply))
    except (ValueError, IndexError):
        return None


def b64(wire):
    return base64.urlsafe_b64encode(wire).decode().rstrip("=")


def check_doh(label, base, extra, name, qtype, expected):
    """GET and POST of one query; both must answer with `expected` records."""
    qid, wire = nsd_fixture.build_query(name, qtype, rd=True)
    for method in ("GET", "POST"):
        if method == "GET":
            st, ver, hd, body = h.curl(extra + [f"{base}/dns-query?dns={b64(wire)}"])
        else:
            st, ver, hd, body = h.curl(extra + ["-H", "content-type: application/dns-message",
                                                f"{base}/dns-query"], body=wire)
        ok = (st == 200 and hd.get("content-type") == "application/dns-message" and len(body) >= 12
              and nsd_fixture.parse_header(body)[0] == qid and records(body) == expected)
        h.check(f"{label} {method} {name}: 200 application/dns-message, same records as UDP", ok,
                f"status={st} version={ver} headers={hd} records={records(body) if len(body) >= 12 else body!r} "
                f"expected={expected}")
        cc = hd.get("cache-control", "")
        ttls = [ttl for _t, ttl, _rd in nsd_fixture.answers(body)] if st == 200 and len(body) >= 12 else []
        h.check(f"{label} {method} {name}: Cache-Control max-age = smallest answer TTL",
                bool(ttls) and cc == f"max-age={min(ttls)}", f"{cc} ttls={ttls}")
        yield ver


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    key_file, z32 = d.new_key(tmp)
    zone = d.write_zone(tmp, "home.zone", ["@ 300 IN A 127.0.0.7", '_txt 300 IN TXT "doh"'])
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                          "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                         capture_output=True, text=True, timeout=60)
    h.check("openssl made a self-signed certificate", gen.returncode == 0, gen.stderr)

    with nsd_fixture.NsdServer({"example.test": nsd_fixture.SELF_CHECK_ZONE}) as nsd:
        with h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES]) as net:
            boot = (net.first_json or {}).get("bootstrap", [])
            h.check("testnet is up", len(boot) == NODES, net.first_line)
            pub = d.publish(key_file, zone, boot[:2])
            h.check("publish exits 0", pub.returncode == 0, pub.stdout + pub.stderr)

            # ---- plain HTTP: HTTP/1.1 and h2c
            config = write_config(os.path.join(tmp, "plain.toml"), nsd.address, boot[-3:])
            with h.serve(config) as srv:
                port = srv.http_port
                if not h.check("serve reports the HTTP address it bound (port 0 asked) and logs it",
                               port and f"HTTP listening on 127.0.0.1:{port} (plain HTTP" in srv.stderr_text(),
                               srv.first_line + srv.stderr_text()[-3000:]):
                    h.finish()
                base = f"http://127.0.0.1:{port}"
                dns_port = srv.dns_port
                up = nsd_fixture.udp_query(dns_port, "www.example.test", timeout=5) is not None
                h.check("serve answers UDP", up, srv.stderr_text()[-2000:])
                pk_name = z32 + ".key"
                udp_pk = nsd_fixture.udp_query(dns_port, pk_name, timeout=10)
                udp_icann = nsd_fixture.udp_query(dns_port, "www.example.test", timeout=5)
                exp_pk = records(udp_pk) if udp_pk else None
                exp_icann = records(udp_icann) if udp_icann else None
                h.check("UDP: PKARR name answers 127.0.0.7", exp_pk == [(1, bytes([127, 0, 0, 7]))], exp_pk)
                h.check("UDP: ICANN name answers 192.0.2.10", exp_icann == [(1, bytes([192, 0, 2, 10]))], exp_icann)

                for label, extra, want_ver in (("HTTP/1.1", ["--http1.1"], "1.1"),
                                               ("h2c prior knowledge", ["--http2-prior-knowledge"], "2"),
                                               ("h2c upgrade", ["--http2"], "2")):
                    for name, expected in ((pk_name, exp_pk), ("www.example.test", exp_icann)):
                        versions = list(check_doh(label, base, extra, name, 1, expected))
                        # curl does not upgrade a POST with a body; GET must have gone over h2.
                        h.check(f"{label} {name}: spoken as HTTP/{want_ver}", versions[0] == want_ver, versions)

                # TXT under the key, once over h2c.
                qid, wire = nsd_fixture.build_query("_txt." + z32, 16, rd=True)
                st, _, _, body = h.curl(["--http2-prior-knowledge", f"{base}/dns-query?dns={b64(wire)}"])
                h.check("h2c TXT under the key", st == 200 and any(b"doh" in rd for _t, _l, rd in
                                                                  nsd_fixture.answers(body)), body)

                # NXDOMAIN: cacheable by the SOA minimum (60 in the zone).
                _, wire = nsd_fixture.build_query("nope.example.test", 1, rd=True)
                st, _, hd, body = h.curl(["--http1.1", f"{base}/dns-query?dns={b64(wire)}"])
                h.check("NXDOMAIN over DoH with max-age from the SOA",
                        st == 200 and nsd_fixture.parse_header(body)[2] == 3 and hd.get("cache-control") == "max-age=60",
                        f"{st} {hd}")

                # Errors.
                st, _, _, _ = h.curl(["--http1.1", f"{base}/dns-query?dns=%%%%"])
                h.check("GET with bad base64url -> 400", st == 400, st)
                st, _, _, _ = h.curl(["--http1.1", f"{base}/dns-query?dns={b64(b'abc')}"])
                h.check("GET with an unparsable DNS message -> 400", st == 400, st)
                st, _, _, _ = h.curl(["--http1.1", f"{base}/dns-query"])
                h.check("GET without dns= -> 400", st == 400, st)
                st, _, _, _ = h.curl(["--http1.1", "-H", "content-type: text/plain", f"{base}/dns-query"],
                                     body=wire)
                h.check("POST with a wrong Content-Type -> 415", st == 415, st)
                st, _, _, _ = h.curl(["--http2-prior-knowledge", "-H", "content-type: application/dns-message",
                                      f"{base}/dns-query"], body=b"\0" * 70000)
                h.check("POST over 65535 bytes -> 413", st == 413, st)
                st, _, hd, _ = h.curl(["--http1.1", "-X", "DELETE", f"{base}/dns-query"])
                h.check("DELETE -> 405 with Allow", st == 405 and "GET" in hd.get("allow", ""), f"{st} {hd}")

                st, _, hd, body = h.curl(["--http1.1", f"{base}/healthz"])
                h.check("/healthz is 200 JSON with DHT nodes and a working upstream",
                        st == 200 and b'"healthy":true' in body and b'"upstream":"ok"' in body, f"{st} {body!r}")
                st, _, hd, body = h.curl(["--http1.1", f"{base}/metrics"])
                text = body.decode(errors="replace")
                h.check("/metrics is Prometheus text", st == 200 and hd.get("content-type", "").startswith("text/plain")
                        and "# TYPE pkdns_dns_answers_total counter" in text, text[:500])
                https_ok = re.search(r'pkdns_dns_answers_total\{transport="https",route="pkarr",rcode="NOERROR"\} (\d+)',
                                     text)
                h.check("/metrics counts the DoH answers by transport/route/rcode",
                        https_ok and int(https_ok.group(1)) >= 6, text[:3000])
                h.check("/metrics has DHT and upstream latency histograms",
                        "pkdns_dht_lookup_seconds_bucket" in text and "pkdns_upstream_seconds_count" in text, text[-2000:])

                code = srv.stop()
                h.check("SIGTERM stops serve with exit 0", code == 0, srv.stderr_text()[-3000:])
                h.check("no event-loop leak reported", "did not close cleanly" not in srv.stderr_text(),
                        srv.stderr_text()[-3000:])

            # ---- TLS: HTTP/2 by ALPN, HTTP/1.1, kdig +https
            config = write_config(os.path.join(tmp, "tls.toml"), nsd.address, boot[-3:], tls=(cert, key))
            with h.serve(config) as srv:
                port = srv.http_port
                if not h.check("TLS serve reports its HTTPS address and logs it",
                               port and f"HTTP listening on 127.0.0.1:{port} (HTTPS" in srv.stderr_text(),
                               srv.first_line + srv.stderr_text()[-3000:]):
                    h.finish()
                base = f"https://localhost:{port}"
                tls_args = ["--cacert", cert, "--resolve", f"localhost:{port}:127.0.0.1"]
                for label, extra, want_ver in (("TLS HTTP/2", ["--http2"] + tls_args, "2"),
                                               ("TLS HTTP/1.1", ["--http1.1"] + tls_args, "1.1")):
                    for name, expected in ((pk_name, exp_pk), ("www.example.test", exp_icann)):
                        versions = list(check_doh(label, base, extra, name, 1, expected))
                        h.check(f"{label} {name}: ALPN picked HTTP/{want_ver}",
                                all(v == want_ver for v in versions), versions)
                st, _, _, _ = h.curl(["--http2", "-k", f"https://127.0.0.1:{port}/dns-query?dns=@@"])
                h.check("TLS: bad base64 -> 400", st == 400, st)

                for name, expected in ((pk_name, exp_pk), ("www.example.test", exp_icann)):
                    k = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), "+https", f"+tls-ca={cert}",
                                        "+tls-hostname=localhost", "+time=5", "+retry=0", name, "A"],
                                       capture_output=True, text=True, timeout=30)
                    want = ".".join(str(b) for b in expected[0][1]) if expected else "?"
                    h.check(f"kdig +https {name}: NOERROR over HTTP/2 with {want}",
                            k.returncode == 0 and "status: NOERROR" in k.stdout and "HTTP/2" in k.stdout
                            and re.search(r"\sA\s+" + re.escape(want) + r"\s*$", k.stdout, re.M) is not None,
                            k.stdout + k.stderr)
                code = srv.stop()
                h.check("TLS serve: SIGTERM exits 0", code == 0, srv.stderr_text()[-3000:])
                h.check("TLS serve: no event-loop leak", "did not close cleanly" not in srv.stderr_text(),
                        srv.stderr_text()[-3000:])


if __name__ == "__main__":
    h.run_main(main)
