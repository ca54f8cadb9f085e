"""`pkdns serve` end to end on loopback.

A `pkdns testnet` is the DHT, NSD (nsd_fixture.py) is the ICANN upstream. A zone is published
with `pkdns publish`, then `pkdns serve -c <config>` is queried with dig over UDP and TCP:
apex A (AA set), TXT under a subdomain, NXDOMAIN and NODATA with an SOA, an ICANN name from
NSD, a PKARR CNAME into ICANN and an ICANN CNAME into the key. SIGTERM stops it with exit 0.
Restarted on the same SQLite file while the testnet is down, it still answers the key from
the cache, and answers an unknown key with SERVFAIL promptly.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402
import nsd_fixture  # noqa: E402

NODES = 16


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    key_file, z32 = d.new_key(tmp)
    zone = d.write_zone(tmp, "home.zone", [
        "@ 300 IN A 127.0.0.1",
        '_txt.sub 300 IN TXT "hello"',
        "ext 300 IN CNAME www.example.test.",
    ])
    icann_zone = nsd_fixture.SELF_CHECK_ZONE + f"alias IN CNAME {z32}.key.\n"
    db = os.path.join(tmp, "state", "cache", "pkdns.db")  # the directories do not exist yet
    config = os.path.join(tmp, "pkdns.toml")

    with nsd_fixture.NsdServer({"example.test": icann_zone}) as nsd:
        net = h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES])
        with net:
            boot = (net.first_json or {}).get("bootstrap", [])
            h.check("testnet is up", len(boot) == NODES, net.first_line)
            pub = d.publish(key_file, zone, boot[:2])
            h.check("publish exits 0", pub.returncode == 0, pub.stdout + pub.stderr)

            h.write_serve_config(config, upstreams=[nsd.address], bootstrap=boot[-3:], db=db)
            with h.serve(config) as srv:
                dns = srv.dns
                h.check("serve reports the DNS and DHT addresses the kernel picked (port 0 asked)",
                        dns[0] == "127.0.0.1" and dns[1] > 0 and len(srv.dns_all) == 1 and srv.dht[1] > 0
                        and srv.http is None, srv.first_line)
                if not h.check("serve answers on UDP", h.serving(srv), srv.stderr_text()[-3000:]):
                    return
                h.check("serve logs where it listens", f"listening on 127.0.0.1:{dns[1]}" in srv.stderr_text(),
                        srv.stderr_text())
                h.check("the cache directory was created", os.path.exists(db), db)

                a = h.dig(dns, z32 + ".key")
                h.check("apex A over UDP", a["status"] == "NOERROR" and h.rr_datas(a, "A") == ["127.0.0.1"], a["raw"])
                h.check("apex A is authoritative, RA and RD set",
                        all(f in a["flags"] for f in ("qr", "aa", "rd", "ra")), a["raw"])
                h.check("apex A owner keeps the TLD", a["answer"] and a["answer"][0]["name"] == z32 + ".key",
                        a["raw"])

                t = h.dig(dns, "_txt.sub." + z32, "TXT", tcp=True)
                h.check("TXT under a subdomain over TCP", h.rr_datas(t, "TXT") == ['"hello"'], t["raw"])
                a_tcp = h.dig(dns, z32, tcp=True)
                h.check("apex A over TCP without the TLD", h.rr_datas(a_tcp, "A") == ["127.0.0.1"], a_tcp["raw"])

                nx = h.dig(dns, "missing." + z32 + ".key")
                h.check("NXDOMAIN for a name missing from the zone", nx["status"] == "NXDOMAIN", nx["raw"])
                soa = [rr for rr in nx["authority"] if rr["type"] == "SOA"]
                h.check("NXDOMAIN carries the zone SOA", len(soa) == 1 and soa[0]["name"] == z32 + ".key",
                        nx["raw"])

                nodata = h.dig(dns, z32, "AAAA", tcp=True)
                h.check("NODATA: NOERROR, no answer, SOA in authority",
                        nodata["status"] == "NOERROR" and not nodata["answer"]
                        and any(rr["type"] == "SOA" for rr in nodata["authority"]), nodata["raw"])

                icann = h.dig(dns, "www.example.test")
                h.check("ICANN name from the upstream (UDP)", h.rr_datas(icann, "A") == ["192.0.2.10"], icann["raw"])
                icann_tcp = h.dig(dns, "www.example.test", tcp=True)
                h.check("ICANN name from the upstream (TCP)", h.rr_datas(icann_tcp, "A") == ["192.0.2.10"],
                        icann_tcp["raw"])
                icann_nx = h.dig(dns, "nope.example.test")
                h.check("ICANN NXDOMAIN passes through", icann_nx["status"] == "NXDOMAIN", icann_nx["raw"])

                ext = h.dig(dns, "ext." + z32)
                h.check("PKARR CNAME into ICANN is chased",
                        h.rr_datas(ext, "CNAME") == ["www.example.test."] and h.rr_datas(ext, "A") == ["192.0.2.10"],
                        ext["raw"])
                alias = h.dig(dns, "alias.example.test")
                h.check("ICANN CNAME into the key is chased",
                        h.rr_datas(alias, "CNAME") == [z32 + ".key."] and h.rr_datas(alias, "A") == ["127.0.0.1"],
                        alias["raw"])

                code = srv.stop()
                h.check("SIGTERM stops serve with exit 0", code == 0, srv.stderr_text()[-3000:])
                h.check("no event-loop leak reported", "did not close cleanly" not in srv.stderr_text(),
                        srv.stderr_text()[-3000:])

        # The testnet is gone: the answers must come from the SQLite file.
        other_file, other = d.new_key(tmp, "other.seed")
        with h.serve(config) as srv2:
            dns = srv2.dns
            if h.check("restarted serve answers", h.serving(srv2), srv2.stderr_text()[-3000:]):
                again = h.dig(dns, "_txt.sub." + z32 + ".key", "TXT")
                h.check("restart: the key answers from the SQLite cache with the DHT down",
                        h.rr_datas(again, "TXT") == ['"hello"'], again["raw"] + srv2.stderr_text()[-2000:])
                started = time.monotonic()
                unknown = h.dig(dns, other)
                h.check("an uncached key with the DHT down is SERVFAIL",
                        unknown["status"] == "SERVFAIL", unknown["raw"])
                h.check("... promptly (within 5 s)", time.monotonic() - started < 5.0, time.monotonic() - started)
                h.check("serve keeps running", srv2.alive(), srv2.stderr_text()[-2000:])
            h.check("second SIGTERM stop exits 0", srv2.stop() == 0, srv2.stderr_text()[-3000:])


if __name__ == "__main__":
    h.run_main(main)
