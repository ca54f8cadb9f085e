"""`pkdns serve` end to end on loopback.

A `pkdns testnet` is the DHT, NSD (nsd_fixture.py) is the ICANN upstream. A zone is published
with `pkdns publish`, then `pkdns serve -c <config>` is queried with dig over UDP and TCP:
apex A (AA set), TXT under a subdomain, NXDOMAIN and NODATA with an SOA, an ICANN name from
NSD, a PKARR CNAME into ICANN and an ICANN CNAME into the key. SIGTERM stops it with exit 0.
Restarted on the same SQLite file while the testnet is down, it still answers the key from
the cache, and answers an unknown key with SERVFAIL promptly.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402
import nsd_fixture  # noqa: E402

NODES = 16


def dig(port, name, qtype="A", tcp=False):
    args = ["dig", "@127.0.0.1", "-p", str(port), name, qtype, "+tries=1", "+time=5",
            "+noall", "+comments", "+answer", "+authority"]
    if tcp:
        args.append("+tcp")
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    out = r.stdout
    status = re.search(r"status: ([A-Z]+)", out)
    flags = re.search(r";; flags: ([a-z ]*);", out)
    sections = {"ANSWER": [], "AUTHORITY": []}
    current = None
    for line in out.splitlines():
        m = re.match(r";; (ANSWER|AUTHORITY) SECTION:", line)
        if m:
            current = m.group(1)
            continue
        if not line.strip() or line.startswith(";"):
            current = None if not line.strip() else current
            continue
        if current:
            parts = line.split(None, 4)
            if len(parts) == 5:
                sections[current].append({"name": parts[0].rstrip(".").lower(), "ttl": int(parts[1]),
                                          "type": parts[3], "data": parts[4]})
    return {
        "status": status.group(1) if status else None,
        "flags": flags.group(1).split() if flags else [],
        "answer": sections["ANSWER"],
        "authority": sections["AUTHORITY"],
        "raw": out + r.stderr,
    }


def datas(reply, rtype):
    return [rr["data"] for rr in reply["answer"] if rr["type"] == rtype]


def write_config(path, port, upstream, bootstrap, db):
    boot = ", ".join('"%s"' % b for b in bootstrap)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""[dns]
listen = ["127.0.0.1:{port}"]
min_ttl = 60
allow = ["127.0.0.0/8"]
[upstream]
servers = ["{upstream}"]
timeout_ms = 1000
[dht]
bootstrap = [{boot}]
[relay]
enabled = false
[cache]
path = "{db}"
[log]
level = "debug"
""")


def serve(config):
    return h.Process([h.PKDNS_BIN, "serve", "-c", config], first_line_timeout=None)


def wait_serving(port, proc):
    return h.wait_until(lambda: proc.alive() and dig(port, "www.example.test")["status"] is not None,
                        timeout=20, interval=0.2)


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
    port = nsd_fixture.free_port()

    with nsd_fixture.NsdServer({"example.test": icann_zone}) as nsd:
        net = h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES])
        with net:
            boot = (net.first_json or {}).get("bootstrap", [])
            h.check("testnet is up", len(boot) == NODES, net.first_line)
            pub = d.publish(key_file, zone, boot[:2])
            h.check("publish exits 0", pub.returncode == 0, pub.stdout + pub.stderr)

            write_config(config, port, nsd.address, boot[-3:], db)
            with serve(config) as srv:
                up = wait_serving(port, srv)
                if not h.check("serve answers on UDP", up, srv.stderr_text()[-3000:]):
                    return
                h.check("serve logs where it listens", f"127.0.0.1:{port}" in srv.stderr_text(), srv.stderr_text())
                h.check("the cache directory was created", os.path.exists(db), db)

                a = dig(port, z32 + ".key")
                h.check("apex A over UDP", a["status"] == "NOERROR" and datas(a, "A") == ["127.0.0.1"], a["raw"])
                h.check("apex A is authoritative, RA and RD set",
                        all(f in a["flags"] for f in ("qr", "aa", "rd", "ra")), a["raw"])
                h.check("apex A owner keeps the TLD", a["answer"] and a["answer"][0]["name"] == z32 + ".key",
                        a["raw"])

                t = dig(port, "_txt.sub." + z32, "TXT", tcp=True)
                h.check("TXT under a subdomain over TCP", datas(t, "TXT") == ['"hello"'], t["raw"])
                a_tcp = dig(port, z32, tcp=True)
                h.check("apex A over TCP without the TLD", datas(a_tcp, "A") == ["127.0.0.1"], a_tcp["raw"])

                nx = dig(port, "missing." + z32 + ".key")
                h.check("NXDOMAIN for a name missing from the zone", nx["status"] == "NXDOMAIN", nx["raw"])
                soa = [rr for rr in nx["authority"] if rr["type"] == "SOA"]
                h.check("NXDOMAIN carries the zone SOA", len(soa) == 1 and soa[0]["name"] == z32 + ".key",
                        nx["raw"])

                nodata = dig(port, z32, "AAAA", tcp=True)
                h.check("NODATA: NOERROR, no answer, SOA in authority",
                        nodata["status"] == "NOERROR" and not nodata["answer"]
                        and any(rr["type"] == "SOA" for rr in nodata["authority"]), nodata["raw"])

                icann = dig(port, "www.example.test")
                h.check("ICANN name from the upstream (UDP)", datas(icann, "A") == ["192.0.2.10"], icann["raw"])
                icann_tcp = dig(port, "www.example.test", tcp=True)
                h.check("ICANN name from the upstream (TCP)", datas(icann_tcp, "A") == ["192.0.2.10"],
                        icann_tcp["raw"])
                icann_nx = dig(port, "nope.example.test")
                h.check("ICANN NXDOMAIN passes through", icann_nx["status"] == "NXDOMAIN", icann_nx["raw"])

                ext = dig(port, "ext." + z32)
                h.check("PKARR CNAME into ICANN is chased",
                        datas(ext, "CNAME") == ["www.example.test."] and datas(ext, "A") == ["192.0.2.10"],
                        ext["raw"])
                alias = dig(port, "alias.example.test")
                h.check("ICANN CNAME into the key is chased",
                        datas(alias, "CNAME") == [z32 + ".key."] and datas(alias, "A") == ["127.0.0.1"],
                        alias["raw"])

                code = srv.stop()
                h.check("SIGTERM stops serve with exit 0", code == 0, srv.stderr_text()[-3000:])
                h.check("no event-loop leak reported", "did not close cleanly" not in srv.stderr_text(),
                        srv.stderr_text()[-3000:])

        # The testnet is gone: the answers must come from the SQLite file.
        other_file, other = d.new_key(tmp, "other.seed")
        with serve(config) as srv2:
            up = wait_serving(port, srv2)
            if h.check("restarted serve answers", up, srv2.stderr_text()[-3000:]):
                again = dig(port, "_txt.sub." + z32 + ".key", "TXT")
                h.check("restart: the key answers from the SQLite cache with the DHT down",
                        datas(again, "TXT") == ['"hello"'], again["raw"] + srv2.stderr_text()[-2000:])
                started = time.monotonic()
                unknown = dig(port, other)
                h.check("an uncached key with the DHT down is SERVFAIL",
                        unknown["status"] == "SERVFAIL", unknown["raw"])
                h.check("... promptly (within 5 s)", time.monotonic() - started < 5.0, time.monotonic() - started)
                h.check("serve keeps running", srv2.alive(), srv2.stderr_text()[-2000:])
            h.check("second SIGTERM stop exits 0", srv2.stop() == 0, srv2.stderr_text()[-3000:])
    h.finish()


if __name__ == "__main__":
    main()
