"""`pkdns serve` and its ICANN upstreams, end to end on loopback with NSD (nsd_fixture.py).

(a) Failover: the first upstream is a UDP socket owned by the test that never answers, the
    second a closed loopback port, the third NSD: the answer arrives, within the timeout budget,
    and the silent upstream was asked first.
(b) TC -> TCP: an RRset larger than pkdns' EDNS size (1232) makes NSD truncate its UDP reply;
    pkdns must retry over TCP and hand dig the whole RRset (TCP, and UDP with +bufsize=4096);
    a client without EDNS gets TC.
(c) Caching: NXDOMAIN, NODATA (SOA in authority) and a positive answer are served from the cache
    after NSD is stopped by PID (the wire cache, and without EDNS the answer cache behind it),
    with TTLs <= the SOA minimum (negatives) and counted down;
    a SERVFAIL (NSD down) is not cached: once NSD is back on its port the same question is
    answered.
No DHT is involved: the bootstrap list is empty.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import nsd_fixture  # noqa: E402

TIMEOUT_MS = 500
SOA_MINIMUM = 120
BIG_COUNT = 24
BIG_TEXTS = ["%02d-" % i + "x" * 96 for i in range(BIG_COUNT)]  # 24 x ~113 wire bytes ~ 2.7 kB

ZONE = f"""$ORIGIN up.test.
$TTL 300
@       IN SOA ns1.up.test. hostmaster.up.test. 1 7200 3600 1209600 {SOA_MINIMUM}
@       IN NS  ns1.up.test.
ns1     IN A   127.0.0.1
www     IN A   192.0.2.10
other   IN A   192.0.2.11
fresh   IN A   192.0.2.12
""" + "".join(f'big     IN TXT "{t}"\n' for t in BIG_TEXTS)


def timed_dig(port, name, qtype="A", **kw):
    started = time.monotonic()
    r = h.dig(port, name, qtype, **kw)
    return r, time.monotonic() - started


def soa_ttls(reply):
    return [rr["ttl"] for rr in reply["authority"] if rr["type"] == "SOA" and rr["name"] == "up.test"]


def drain(sock, limit=100):
    """Every datagram waiting on a non-blocking read of `sock` (at most `limit`)."""
    sock.settimeout(0)
    out = []
    for _ in range(limit):
        try:
            out.append(sock.recvfrom(65535)[0])
        except BlockingIOError:
            break
    return out


def part_failover(tmp, nsd):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.1", 0))
        silent_addr = "127.0.0.1:%d" % silent.getsockname()[1]
        dead_addr = h.closed_udp_address()
        config = h.write_serve_config(os.path.join(tmp, "failover.toml"),
                                      upstreams=[silent_addr, dead_addr, nsd.address],
                                      db=os.path.join(tmp, "failover.db"), upstream_timeout_ms=TIMEOUT_MS)
        with h.serve(config) as srv:
            port = srv.dns_port
            if not h.check("failover: serve answers", h.serving(srv), srv.stderr_text()[-3000:]):
                return
            # Timed with a raw query (no dig start-up): two upstream timeouts plus slack.
            started = time.monotonic()
            raw = nsd_fixture.udp_query(port, "www.up.test", timeout=5.0, rd=True)
            elapsed = time.monotonic() - started
            h.check("failover: silent + dead upstreams first, NSD third -> the answer arrives",
                    raw is not None and nsd_fixture.parse_header(raw)[2] == 0
                    and [a[2] for a in nsd_fixture.answers(raw)] == [bytes([192, 0, 2, 10])],
                    (raw or b"").hex() + srv.stderr_text()[-2000:])
            budget = 2 * TIMEOUT_MS / 1000 + 1.0
            h.check(f"failover: ... within the timeout budget ({elapsed:.2f} s < {budget:.1f} s)",
                    elapsed < budget, elapsed)
            r = h.dig(port, "www.up.test")
            h.check("failover: dig then gets it (cached)", h.rr_datas(r, "A") == ["192.0.2.10"], r["raw"])
            seen = drain(silent)  # serve may also have sent its own queries (e.g. ". NS")
            h.check("failover: the silent first upstream was asked (a query for www.up.test)",
                    any(len(q) > 12 and nsd_fixture.encode_name("www.up.test") in q.lower() for q in seen),
                    [q[:48] for q in seen])
            r2 = h.dig(port, "other.up.test", tcp=True)
            h.check("failover: a second name (client over TCP) is answered too",
                    h.rr_datas(r2, "A") == ["192.0.2.11"], r2["raw"])
            h.check("failover: SIGTERM exit 0", srv.stop() == 0, srv.stderr_text()[-2000:])
    finally:
        silent.close()


def part_truncation(port, nsd):
    direct = nsd_fixture.udp_query(nsd.port, "big.up.test", qtype=16, edns_size=1232)
    h.check("TC: NSD itself truncates the big TXT RRset at EDNS 1232 (precondition)",
            direct is not None and nsd_fixture.parse_header(direct)[1] & 0x0200, direct and direct[:12])

    want = sorted('"%s"' % t for t in BIG_TEXTS)
    tcp = h.dig(port, "big.up.test", "TXT", tcp=True)
    h.check(f"TC: dig over TCP gets all {BIG_COUNT} TXT records (pkdns retried upstream over TCP)",
            tcp["status"] == "NOERROR" and sorted(h.rr_datas(tcp, "TXT")) == want, tcp["raw"][-3000:])
    udp = h.dig(port, "big.up.test", "TXT", extra=["+bufsize=4096", "+ignore"])
    h.check(f"TC: dig over UDP with +bufsize=4096 gets all {BIG_COUNT} records and no TC",
            udp["status"] == "NOERROR" and sorted(h.rr_datas(udp, "TXT")) == want and "tc" not in udp["flags"],
            udp["raw"][-3000:])
    small = h.dig(port, "big.up.test", "TXT", extra=["+noedns", "+ignore"])
    h.check("TC: a client without EDNS (512 bytes) gets TC and fewer records",
            "tc" in small["flags"] and len(h.rr_datas(small, "TXT")) < BIG_COUNT, small["raw"][-3000:])


def part_caching(port, nsd_box, srv):
    nsd = nsd_box[0]
    nx1 = h.dig(port, "nope.up.test")
    nx1_ttls = soa_ttls(nx1)
    h.check("cache: NXDOMAIN from NSD with the SOA in authority",
            nx1["status"] == "NXDOMAIN" and len(nx1_ttls) == 1 and nx1_ttls[0] <= SOA_MINIMUM, nx1["raw"])
    nd1 = h.dig(port, "www.up.test", "TXT")
    h.check("cache: NODATA from NSD (NOERROR, no answer, SOA)",
            nd1["status"] == "NOERROR" and not nd1["answer"] and len(soa_ttls(nd1)) == 1, nd1["raw"])
    pos1 = h.dig(port, "www.up.test", tcp=True)
    h.check("cache: positive answer from NSD", h.rr_datas(pos1, "A") == ["192.0.2.10"], pos1["raw"])
    pos1_ttl = pos1["answer"][0]["ttl"] if pos1["answer"] else 0
    nx1_ttl = (nx1_ttls or [0])[0]

    nsd_port = nsd.port
    nsd.stop()
    nsd_box[0] = None
    h.check("cache: NSD stopped by PID no longer answers",
            nsd_fixture.udp_query(nsd_port, "www.up.test", timeout=0.3) is None)

    nx2 = h.dig(port, "nope.up.test")
    nx2_ttls = soa_ttls(nx2)
    h.check("cache: NXDOMAIN served from the cache with NSD down, SOA in authority, TTL <= SOA minimum",
            nx2["status"] == "NXDOMAIN" and len(nx2_ttls) == 1 and nx2_ttls[0] <= SOA_MINIMUM
            and nx2_ttls[0] <= nx1_ttl, nx2["raw"])
    # Whole seconds are counted down: poll (bounded) until at least one has passed.
    counted = h.wait_until(lambda: (soa_ttls(h.dig(port, "nope.up.test")) or [1 << 31])[0] < nx1_ttl,
                           timeout=10.0, interval=0.25)
    h.check("cache: the cached NXDOMAIN's SOA TTL counts down", counted,
            h.dig(port, "nope.up.test")["raw"])
    nx_tcp = h.dig(port, "nope.up.test", tcp=True)
    h.check("cache: ... and over TCP too (same NXDOMAIN + SOA)",
            nx_tcp["status"] == "NXDOMAIN" and len(soa_ttls(nx_tcp)) == 1, nx_tcp["raw"])

    nd1_ttl = (soa_ttls(nd1) or [0])[0]

    def nodata_counted_down():
        r = h.dig(port, "www.up.test", "TXT")
        t = soa_ttls(r)
        return r if r["status"] == "NOERROR" and not r["answer"] and len(t) == 1 and t[0] < nd1_ttl else None
    nd2 = h.wait_until(nodata_counted_down, timeout=10.0, interval=0.25)
    h.check("cache: NODATA served from the cache with NSD down, SOA TTL <= SOA minimum and counted down",
            nd2 and nd1_ttl <= SOA_MINIMUM, h.dig(port, "www.up.test", "TXT")["raw"] + str(nd1_ttl))

    def positive_counted_down():
        r = h.dig(port, "www.up.test")
        return r if h.rr_datas(r, "A") == ["192.0.2.10"] and r["answer"][0]["ttl"] < pos1_ttl else None
    pos2 = h.wait_until(positive_counted_down, timeout=10.0, interval=0.25)
    h.check("cache: the positive answer is served from the cache with NSD down, TTL counted down",
            pos2, h.dig(port, "www.up.test")["raw"] + str(pos1_ttl))

    # Without EDNS the finalized bytes differ, so the wire cache in front cannot answer: these
    # come from the answer cache behind it.
    nx3 = h.dig(port, "NOPE.up.test", extra=["+noedns"])
    h.check("cache: NXDOMAIN from the answer cache (no EDNS, other case), SOA TTL <= SOA minimum",
            nx3["status"] == "NXDOMAIN" and len(soa_ttls(nx3)) == 1 and soa_ttls(nx3)[0] < nx1_ttl, nx3["raw"])
    nd3 = h.dig(port, "www.up.test", "TXT", extra=["+noedns"])
    h.check("cache: NODATA from the answer cache (no EDNS), SOA TTL counted down",
            nd3["status"] == "NOERROR" and not nd3["answer"] and len(soa_ttls(nd3)) == 1
            and soa_ttls(nd3)[0] < nd1_ttl, nd3["raw"])
    pos3 = h.dig(port, "www.up.test", extra=["+noedns"], tcp=True)
    h.check("cache: positive answer from the answer cache (no EDNS, TCP), TTL counted down",
            h.rr_datas(pos3, "A") == ["192.0.2.10"] and pos3["answer"][0]["ttl"] < pos1_ttl, pos3["raw"])

    fail, elapsed = timed_dig(port, "fresh.up.test")
    h.check("cache: an uncached name with the only upstream down is SERVFAIL", fail["status"] == "SERVFAIL",
            fail["raw"])
    h.check(f"cache: ... within the timeout budget ({elapsed:.2f} s)", elapsed < TIMEOUT_MS / 1000 + 2.0)

    nsd2 = nsd_fixture.NsdServer({"up.test": ZONE}, port=nsd_port)
    nsd_box[0] = nsd2
    nsd2.start()
    back = h.dig(port, "fresh.up.test")
    h.check("cache: SERVFAIL was not cached: NSD back on its port -> the same question is answered",
            back["status"] == "NOERROR" and h.rr_datas(back, "A") == ["192.0.2.12"],
            back["raw"] + srv.stderr_text()[-2000:])


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    nsd_box = [nsd_fixture.NsdServer({"up.test": ZONE})]
    try:
        nsd = nsd_box[0].start()
        part_failover(tmp, nsd)

        config = h.write_serve_config(os.path.join(tmp, "serve.toml"), upstreams=[nsd.address],
                                      db=os.path.join(tmp, "serve.db"), upstream_timeout_ms=TIMEOUT_MS)
        with h.serve(config) as srv:
            port = srv.dns_port
            if h.check("serve (NSD only upstream) answers", h.serving(srv), srv.stderr_text()[-3000:]):
                part_truncation(port, nsd)
                part_caching(port, nsd_box, srv)
                h.check("serve still running, SIGTERM exit 0", srv.alive() and srv.stop() == 0,
                        srv.stderr_text()[-2000:])
    finally:
        if nsd_box[0] is not None:
            nsd_box[0].stop()


if __name__ == "__main__":
    h.run_main(main)
