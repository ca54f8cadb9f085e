"""PKARR zones through `pkdns serve`, end to end on loopback.

1. A `pkdns testnet` is the DHT. Two zones are published with `pkdns publish` and queried with
   dig (kdig for some) over UDP and TCP, with the `.key` TLD and without:
   - NS delegation below the apex: a referral (NOERROR, no answer, NS in authority, glue A in
     additional, AA clear), for a name under the cut, the cut itself and the glue's own name;
   - wildcard `*.wild`: answers `x.wild` and `a.b.wild` (owner = the name asked), NODATA for
     the wildcard's parent and for another type, not used at the apex, an exact name wins,
     a name under an exact name is NXDOMAIN, and a wildcard CNAME into key2 is chased;
   - CNAME into another key: key1's `www` -> key2's apex and `www2` -> `sub.<key2>.key.`, each
     answered with the chain (CNAME then key2's A), owners with or without the TLD as asked.
2. A JS testnet (bittorrent-dht, PKDNS_DHT_PEER_DIR) is the DHT: one key published with
   `client.js put --pkarr`, one with `pkdns publish`; `pkdns serve --bootstrap <JS nodes>`
   answers apex A, TXT under a subdomain and NXDOMAIN (with SOA) for both, over UDP and TCP.
No ICANN upstream is needed: the upstream list points at a closed loopback port.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402

NODES = 16
JS_NODES = 12


def names_types(section):
    return [(rr["name"], rr["type"], rr["data"]) for rr in section]


def start_serve(tmp, name, bootstrap, extra_args=()):
    config = h.write_serve_config(os.path.join(tmp, name + ".toml"), upstreams=[h.closed_udp_address()],
                                  bootstrap=bootstrap, db=os.path.join(tmp, name + ".db"), upstream_timeout_ms=300)
    return h.serve(config, extra_args)


def wait_bootstrapped(srv):
    """Serve logged that its DHT node joined (bounded); the first lookups then go to the network."""
    return h.wait_until(lambda: "DHT bootstrap done" in srv.stderr_text(), timeout=15, interval=0.1)


def check_referral(port, z1, tld, tcp, tool="dig"):
    sfx = "." + tld if tld else ""
    how = f"{tool} {'TCP' if tcp else 'UDP'}{', TLD' if tld else ''}"
    cut, ns1 = f"delegated.{z1}{sfx}", f"ns1.delegated.{z1}{sfx}"
    r = h.dig(port, "host." + cut, "A", tcp=tcp, tool=tool)
    h.check(f"NS referral ({how}): NOERROR, no answer, AA clear",
            r["status"] == "NOERROR" and not r["answer"] and "aa" not in r["flags"] and "qr" in r["flags"], r["raw"])
    h.check(f"NS referral ({how}): NS {cut} -> {ns1} in authority",
            names_types(r["authority"]) == [(cut, "NS", ns1 + ".")], r["raw"])
    h.check(f"NS referral ({how}): glue A 127.0.0.53 in additional",
            names_types(r["additional"]) == [(ns1, "A", "127.0.0.53")], r["raw"])


def part_cpp(tmp):
    key1, z1 = d.new_key(tmp, "k1.seed")
    key2, z2 = d.new_key(tmp, "k2.seed")
    zone1 = d.write_zone(tmp, "k1.zone", [
        "@ 300 IN A 127.0.0.1",
        '_txt.sub 300 IN TXT "hello"',
        "delegated 300 IN NS ns1.delegated",
        "ns1.delegated 300 IN A 127.0.0.53",
        '*.wild 300 IN TXT "wildcard"',
        '@ 300 IN TXT "apex"',
        'exact.wild 300 IN TXT "exact"',
        f"www 300 IN CNAME {z2}.",
        f"www2 300 IN CNAME sub.{z2}.key.",
        f"*.cn 300 IN CNAME {z2}.",
    ])
    zone2 = d.write_zone(tmp, "k2.zone", ["@ 300 IN A 127.0.0.2", "sub 300 IN A 127.0.0.22"])

    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES]) as net:
        boot = (net.first_json or {}).get("bootstrap", [])
        if not h.check("pkdns testnet is up", len(boot) == NODES, net.first_line):
            return
        for kf, zf, what in ((key1, zone1, "key1"), (key2, zone2, "key2")):
            p = d.publish(kf, zf, boot[:2])
            h.check(f"pkdns publish {what} exits 0", p.returncode == 0, p.stdout + p.stderr)

        with start_serve(tmp, "cpp", boot[-3:]) as srv:
            port = srv.dns
            if not h.check("serve answers and its DHT node bootstrapped",
                           h.serving(srv) and wait_bootstrapped(srv), srv.stderr_text()[-3000:]):
                return
            apex = h.dig(port, z1 + ".key")
            h.check("apex A (sanity)", h.rr_datas(apex, "A") == ["127.0.0.1"] and "aa" in apex["flags"],
                    apex["raw"] + srv.stderr_text()[-2000:])

            # NS delegation
            check_referral(port, z1, "key", tcp=False)
            check_referral(port, z1, "", tcp=True)
            check_referral(port, z1, "key", tcp=True, tool="kdig")
            cut = h.dig(port, f"delegated.{z1}.key", "A")
            h.check("NS referral at the cut itself (A asked): NS in authority, no answer, AA clear",
                    cut["status"] == "NOERROR" and not cut["answer"] and "aa" not in cut["flags"]
                    and h.rr_datas(cut, "NS", "authority") == [f"ns1.delegated.{z1}.key."], cut["raw"])

            glue = h.dig(port, f"ns1.delegated.{z1}.key", "A", tcp=True)
            h.check("NS referral for the glue name below the cut (not answered from the glue, AA clear)",
                    glue["status"] == "NOERROR" and not glue["answer"] and "aa" not in glue["flags"]
                    and h.rr_datas(glue, "NS", "authority") == [f"ns1.delegated.{z1}.key."]
                    and h.rr_datas(glue, "A", "additional") == ["127.0.0.53"], glue["raw"])

            # Wildcard
            for name, tcp, tool in ((f"x.wild.{z1}.key", False, "dig"), (f"a.b.wild.{z1}", True, "dig"),
                                    (f"A.b.WILD.{z1}.key", True, "kdig")):
                r = h.dig(port, name, "TXT", tcp=tcp, tool=tool)
                h.check(f"wildcard: {name.split('.' + z1)[0]} TXT ({tool}{' TCP' if tcp else ''}) -> "
                        f"\"wildcard\" with the asked name as owner, AA",
                        r["status"] == "NOERROR" and names_types(r["answer"]) == [(name.lower(), "TXT", '"wildcard"')]
                        and "aa" in r["flags"], r["raw"])
            ex = h.dig(port, f"exact.wild.{z1}.key", "TXT")
            h.check("wildcard: an exact name wins over *.wild",
                    h.rr_datas(ex, "TXT") == ['"exact"'], ex["raw"])
            parent = h.dig(port, f"wild.{z1}.key", "TXT")
            h.check("wildcard: not used for its parent (wild: empty non-terminal -> NODATA with SOA)",
                    parent["status"] == "NOERROR" and not parent["answer"]
                    and h.rr_datas(parent, "SOA", "authority"), parent["raw"])
            ap = h.dig(port, f"{z1}.key", "TXT", tcp=True)
            h.check("wildcard: not used at the apex (apex TXT is its own record)",
                    h.rr_datas(ap, "TXT") == ['"apex"'], ap["raw"])
            other_type = h.dig(port, f"x.wild.{z1}.key", "A")
            h.check("wildcard: another type at a wildcard name -> NODATA with SOA",
                    other_type["status"] == "NOERROR" and not other_type["answer"]
                    and h.rr_datas(other_type, "SOA", "authority"), other_type["raw"])
            under_exact = h.dig(port, f"y.exact.wild.{z1}.key", "TXT")
            h.check("wildcard: a name below an exact name (no wildcard there) -> NXDOMAIN",
                    under_exact["status"] == "NXDOMAIN", under_exact["raw"])

            wc = h.dig(port, f"any.cn.{z1}.key")
            h.check("wildcard CNAME into key2: any.cn -> key2 apex, chased",
                    names_types(wc["answer"]) == [(f"any.cn.{z1}.key", "CNAME", f"{z2}.key."),
                                                  (f"{z2}.key", "A", "127.0.0.2")], wc["raw"])

            # CNAME into another key, with and without the TLD
            for tld, tcp in (("key", False), ("", True), ("key", True)):
                sfx = "." + tld if tld else ""
                how = f"{'TCP' if tcp else 'UDP'}, {'with' if tld else 'without'} TLD"
                r = h.dig(port, f"www.{z1}{sfx}", tcp=tcp)
                h.check(f"CNAME into key2's apex ({how}): www -> {z2[:8]}..{sfx} A 127.0.0.2",
                        r["status"] == "NOERROR" and names_types(r["answer"]) == [
                            (f"www.{z1}{sfx}", "CNAME", f"{z2}{sfx}."), (f"{z2}{sfx}", "A", "127.0.0.2")],
                        r["raw"])
                r2 = h.dig(port, f"www2.{z1}{sfx}", tcp=tcp)
                h.check(f"CNAME into sub.key2.key ({how}): www2 -> sub.{z2[:8]}...key A 127.0.0.22",
                        r2["status"] == "NOERROR" and names_types(r2["answer"]) == [
                            (f"www2.{z1}{sfx}", "CNAME", f"sub.{z2}.key."), (f"sub.{z2}.key", "A", "127.0.0.22")],
                        r2["raw"])
            kd = h.dig(port, f"www.{z1}.key", tool="kdig")
            h.check("CNAME into key2 (kdig): same chain",
                    names_types(kd["answer"]) == [(f"www.{z1}.key", "CNAME", f"{z2}.key."),
                                                  (f"{z2}.key", "A", "127.0.0.2")], kd["raw"])
            h.check("serve SIGTERM exit 0", srv.stop() == 0, srv.stderr_text()[-2000:])


def core_checks(port, z32, txt_name, txt, apex_ip, who):
    a = h.dig(port, z32 + ".key")
    h.check(f"JS DHT, {who}: apex A over UDP (AA)",
            h.rr_datas(a, "A") == [apex_ip] and "aa" in a["flags"], a["raw"])
    t = h.dig(port, f"{txt_name}.{z32}", "TXT", tcp=True)
    h.check(f"JS DHT, {who}: TXT {txt_name} over TCP", h.rr_datas(t, "TXT") == [f'"{txt}"'], t["raw"])
    nx = h.dig(port, f"missing.{z32}.key", tool="kdig")
    h.check(f"JS DHT, {who}: NXDOMAIN with the apex SOA (kdig)",
            nx["status"] == "NXDOMAIN" and [rr["name"] for rr in nx["authority"] if rr["type"] == "SOA"] == [z32 + ".key"],
            nx["raw"])


def part_js(tmp):
    peer = h.DHT_PEER_DIR
    if not peer or not os.path.isdir(os.path.join(peer, "node_modules")):
        h.check("PKDNS_DHT_PEER_DIR holds an installed dht-peer (run `make dht-peer`)", False, repr(peer))
        return
    with d.js_testnet(peer, JS_NODES) as js:
        jboot = (js.first_json or {}).get("bootstrap", [])
        if not h.check(f"JS testnet ({JS_NODES} nodes) started", len(jboot) == JS_NODES, js.first_line):
            return
        js_file, js_z32 = d.new_key(tmp, "js.seed")
        with open(js_file, encoding="ascii") as f:
            seed = f.read().strip()
        w = d.run_node(peer, "client.js", ["put", "--bootstrap", ",".join(jboot[:1]), "--seed", seed, "--pkarr",
                                           "--txt", "_txt.sub=from-js", "--a", "@=127.0.0.3"])
        h.check("client.js put --pkarr succeeds", w.returncode == 0 and (w.json or {}).get("ok"), w.stdout + w.stderr)

        cpp_file, cpp_z32 = d.new_key(tmp, "cpp-on-js.seed")
        zone = d.write_zone(tmp, "cpp-on-js.zone", ["@ 300 IN A 127.0.0.4", '_txt.sub 300 IN TXT "from-pkdns"'])
        p = d.publish(cpp_file, zone, jboot[1:2])
        h.check("pkdns publish onto the JS testnet exits 0", p.returncode == 0 and p.parsed.get("stored", 0) > 0,
                p.stdout + p.stderr)

        boot_args = []
        for b in jboot[-2:]:
            boot_args += ["--bootstrap", b]
        with start_serve(tmp, "js", [], boot_args) as srv:
            port = srv.dns
            if not h.check("serve --bootstrap <JS nodes> answers and bootstrapped",
                           h.serving(srv) and wait_bootstrapped(srv), srv.stderr_text()[-3000:]):
                return
            core_checks(port, js_z32, "_txt.sub", "from-js", "127.0.0.3", "client.js key")
            core_checks(port, cpp_z32, "_txt.sub", "from-pkdns", "127.0.0.4", "pkdns publish key")
            h.check("serve (JS DHT) SIGTERM exit 0", srv.stop() == 0, srv.stderr_text()[-2000:])


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    part_cpp(tmp)
    part_js(tmp)


if __name__ == "__main__":
    h.run_main(main)
