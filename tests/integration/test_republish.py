"""`pkdns serve` republishing its `[[publish]]` zone (issue 5).

A `pkdns testnet` is the DHT. `serve` gets a config with one [[publish]] entry and a short
republish_interval (4 s; below 60 is accepted for tests). Checked:
- check-config accepts the config, and rejects a broken zone naming the file and line;
  serve refuses to start with it (exit 2, the file named);
- the zone published by serve at start is resolvable with `pkdns resolve`;
- the testnet is stopped: the next republish fails and is logged; a fresh testnet (new node
  ids, empty stores) started on the same ports has the record back after the retry, through a
  publish serve made after the restart;
- the zone file replaced by rename (as editors save) is re-signed and the new record resolvable
  within seconds;
- SIGTERM stops serve with exit 0;
- keep-alive: a packet PUT to the relay API ([http] listen) is listed in the SQLite keep_alive
  table, and a restarted serve loads it again.
"""

import os
import re
import sqlite3
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dht_harness as d  # noqa: E402

NODES = 12
INTERVAL = 4


def write_config(path, bootstrap, db, key_file, zone, http=False):
    extra = ""
    if key_file:
        extra += f'[[publish]]\nkey = "{key_file}"\nzone = "{zone}"\nrepublish_interval = {INTERVAL}\n'
    h.write_serve_config(path, [h.closed_udp_address()], bootstrap, db=db, upstream_timeout_ms=500, http=http,
                         extra=extra)


def testnet(port_base=None):
    """A pkdns testnet on consecutive ports from port_base, or on a fresh range (retried when a
    port of it was taken meanwhile) when port_base is None; .port_base is the one in use."""
    def make_cmd(base):
        return [h.PKDNS_BIN, "testnet", "--nodes", NODES, "--port-base", base]
    if port_base is None:
        return d.PortRangeProcess(make_cmd, NODES)
    p = h.Process(make_cmd(port_base))
    p.port_base = port_base
    return p


def txt_on_dht(z32, boot):
    r = d.resolve(z32, boot[:2], timeout=30)
    return d.txt_values(r.json) if r.returncode == 0 else []


def publish_count(srv):
    return len(re.findall(r"republisher: published zone", srv.stderr_text()))


def failure_count(srv):
    return len(re.findall(r"republisher: publishing zone \S+ \(timestamp \d+\): .* failed; retrying in",
                          srv.stderr_text()))


def put_relay(http_port, z32, payload):
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/{z32}", data=payload, method="PUT")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def keep_alive_rows(db):
    con = sqlite3.connect(db, timeout=5)
    try:
        return [bytes(r[0]) for r in con.execute("SELECT key FROM keep_alive")]
    finally:
        con.close()


def keep_alive_phase(tmp, db, boot):
    """A packet PUT to the relay API is kept alive: its key is persisted and loaded again after
    a restart of serve."""
    if not h.check("testnet for the keep-alive phase", len(boot) == NODES, boot):
        return
    key2, z32b = d.new_key(tmp, "relay.seed")
    zone2 = d.write_zone(tmp, "relay.zone", ['@ 300 IN TXT "kept"'])
    r = h.run(["sign", "--key", key2, "--timestamp", int(time.time() * 1_000_000), zone2])
    if not h.check("pkdns sign for the relay PUT", r.returncode == 0, r.stderr):
        return
    payload = bytes.fromhex(r.stdout.strip())
    config = os.path.join(tmp, "relay.toml")
    write_config(config, boot[-3:], db, None, None, http=True)
    with h.serve(config) as srv:
        http_port = srv.http_port
        h.check("serve's DHT node bootstrapped (relay phase)",
                h.wait_until(lambda: "DHT bootstrap done" in srv.stderr_text(), timeout=20),
                srv.stderr_text()[-3000:])
        # HTTP is bound (first line) and the DHT joined: one PUT, no retries that could hide a failure.
        status = put_relay(http_port, z32b, payload)
        h.check("PUT to the relay API accepted", status in (200, 204), f"{status} {srv.stderr_text()[-6000:]}")
        rows = h.wait_until(lambda: keep_alive_rows(db), timeout=10, interval=0.2)
        h.check("the accepted key is persisted in the keep_alive table", rows and len(rows) == 1
                and len(rows[0]) == 32, rows)
        h.check("serve stops with exit 0 (relay)", srv.stop() == 0, srv.stderr_text()[-2000:])
    with h.serve(config) as srv:
        loaded = h.wait_until(lambda: "keeping 1 relay packets alive" in srv.stderr_text(), timeout=20,
                              interval=0.2)
        h.check("after a restart serve keeps the key alive again", loaded, srv.stderr_text()[-2000:])
        h.check("serve stops with exit 0 (relay restart)", srv.stop() == 0, srv.stderr_text()[-2000:])


def main():
    h.pkdns_bin()
    tmp = h.temp_dir()
    key_file, z32 = d.new_key(tmp)
    zone = d.write_zone(tmp, "home.zone", ['@ 300 IN A 127.0.0.1', '_v 300 IN TXT "one"'])
    db = os.path.join(tmp, "pkdns.db")
    config = os.path.join(tmp, "pkdns.toml")

    # A broken zone: check-config and serve both name the file and the line.
    bad_zone = d.write_zone(tmp, "bad.zone", ['@ 300 IN A 127.0.0.1', 'www 300 IN A not-an-ip'])
    bad_config = os.path.join(tmp, "bad.toml")
    write_config(bad_config, ["127.0.0.1:1"], db, key_file, bad_zone)
    r = h.run(["check-config", "-c", bad_config])
    h.check("check-config rejects a broken [[publish]] zone", r.returncode == 1, r.stdout + r.stderr)
    h.check("check-config names the zone file and line", bad_zone in r.stderr and "line 2" in r.stderr, r.stderr)
    r = h.run(["serve", "-c", bad_config], timeout=30)
    h.check("serve exits 2 with a broken zone", r.returncode == 2, r.stderr[-2000:])
    h.check("serve names the zone file", bad_zone in r.stderr and "line 2" in r.stderr, r.stderr[-2000:])

    net = testnet()
    with net:
        boot = (net.first_json or {}).get("bootstrap", [])
        if not h.check("testnet is up", len(boot) == NODES, net.first_line):
            return
        write_config(config, boot[-3:], db, key_file, zone)
        r = h.run(["check-config", "-c", config])
        h.check("check-config accepts the [[publish]] config", r.returncode == 0, r.stdout + r.stderr)

        with h.serve(config) as srv:
            found = h.wait_until(lambda: '"one"' in txt_on_dht(z32, boot), timeout=30, interval=0.5)
            if not h.check("the zone published by serve is on the DHT", found, srv.stderr_text()[-3000:]):
                return
            h.check("serve warns about the short interval", "below 60 s" in srv.stderr_text(),
                    srv.stderr_text()[-2000:])

            # Drop everything: stop the testnet by PID, start a fresh one on the same ports.
            failures_before = failure_count(srv)
            net.stop()
            # With no DHT the republish fails, is logged and retried (backoff capped at the interval).
            failed = h.wait_until(lambda: failure_count(srv) > failures_before,
                                  timeout=3 * INTERVAL + 20, interval=0.5)
            h.check("a republish without DHT fails and is reported", failed, srv.stderr_text()[-3000:])
            before_restart = publish_count(srv)
            net2 = testnet(net.port_base)
            with net2:
                boot2 = (net2.first_json or {}).get("bootstrap", [])
                h.check("fresh testnet on the same ports", boot2 == boot, f"{boot} vs {boot2}")
                # Either the fresh DHT does not have it yet, or serve has already republished.
                first = txt_on_dht(z32, boot2)
                h.check("the fresh testnet starts without the record (or serve already republished)",
                        '"one"' not in first or publish_count(srv) > before_restart, first)
                back = h.wait_until(lambda: publish_count(srv) > before_restart
                                    and '"one"' in txt_on_dht(z32, boot2),
                                    timeout=6 * INTERVAL + 30, interval=0.5)
                h.check("the record is back on the DHT after the interval", back,
                        srv.stderr_text()[-4000:])

                # Edit the zone as editors do (write a new file, rename it over the old one).
                tmp_zone = zone + ".new"
                with open(tmp_zone, "w", encoding="utf-8") as f:
                    f.write('@ 300 IN A 127.0.0.1\n_v 300 IN TXT "two"\nwww 300 IN A 127.0.0.2\n')
                os.rename(tmp_zone, zone)
                # Only the change detection re-signs (a republish re-puts the old bytes).
                edited = h.wait_until(lambda: '"two"' in txt_on_dht(z32, boot2), timeout=15, interval=0.5)
                h.check("the edited zone is published within seconds", edited, srv.stderr_text()[-4000:])
                h.check("serve logged the zone change", "zone file " + zone + " changed" in srv.stderr_text(),
                        srv.stderr_text()[-2000:])
                r = d.resolve("www." + z32, boot2[:2], extra=["--type", "A"], timeout=30)
                h.check("the new name resolves", r.returncode == 0 and "127.0.0.2" in r.stdout,
                        r.stdout + r.stderr)
            code = srv.stop()
            h.check("serve stops with exit 0", code == 0, srv.stderr_text()[-2000:])
    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", NODES]) as net3:
        keep_alive_phase(tmp, db, (net3.first_json or {}).get("bootstrap", []))


if __name__ == "__main__":
    h.run_main(main)
