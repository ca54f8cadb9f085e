#!/usr/bin/env python3
"""A throw-away NSD authoritative server on 127.0.0.1 for integration tests (stdlib only).

    with NsdServer({"example.com": ZONE_TEXT}) as nsd:
        ... query 127.0.0.1:nsd.port ...

Everything (config, zone files, pid file, xfrd state) lives in a temp dir; NSD runs in the
foreground (-d) without chroot and without dropping privileges, and is stopped by PID.
Self-check: `python3 tests/integration/nsd_fixture.py` starts a zone, queries it, prints ok.
"""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NSD_BIN = os.environ.get("NSD_BIN", "/usr/sbin/nsd")


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now (bounded attempts)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port on 127.0.0.1")


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def build_query(name, qtype=1, qid=None, rd=False, edns_size=None):
    """(id, wire); edns_size adds an OPT record advertising that UDP payload size."""
    qid = random.randrange(0, 65536) if qid is None else qid
    flags = 0x0100 if rd else 0
    opt = b""
    if edns_size is not None:
        opt = b"\x00" + struct.pack(">HHIH", 41, edns_size, 0, 0)
    return qid, (struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if opt else 0) + encode_name(name)
                 + struct.pack(">HH", qtype, 1) + opt)


def parse_header(reply):
    """(id, flags, rcode, qdcount, ancount, nscount, arcount) of a reply."""
    if len(reply) < 12:
        raise ValueError("reply shorter than a DNS header")
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    return qid, flags, flags & 0x0F, qd, an, ns, ar


def skip_name(msg, off):
    """Offset just past a (possibly compressed) name starting at off."""
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
    raise ValueError("name too long")


def answers(reply):
    """[(type, ttl, rdata)] of the answer section."""
    _, _, _, qd, an, _, _ = parse_header(reply)
    off = 12
    for _ in range(qd):
        off = skip_name(reply, off) + 4
    out = []
    for _ in range(an):
        off = skip_name(reply, off)
        rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", reply[off:off + 10])
        off += 10
        out.append((rtype, ttl, reply[off:off + rdlen]))
        off += rdlen
    return out


def udp_query(port, name, qtype=1, timeout=1.0, host="127.0.0.1", edns_size=None, rd=False):
    """One UDP query; returns the raw reply bytes or None on timeout / mismatched ID."""
    qid, wire = build_query(name, qtype, rd=rd, edns_size=edns_size)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        try:
            reply, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
    if len(reply) < 12 or parse_header(reply)[0] != qid:
        return None
    return reply


class NsdServer:
    def __init__(self, zones, verbosity=1, extra_server_conf="", port=None):
        """zones: {"example.com": "<zone file text>"}. port: listen there (e.g. to come back
        where a stopped server was) instead of a fresh free port."""
        self.zones = dict(zones)
        self.verbosity = verbosity
        self.extra_server_conf = extra_server_conf
        self.requested_port = port
        self.dir = None
        self.port = None
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _write_config(self):
        d = self.dir
        lines = [
            "server:",
            "  ip-address: 127.0.0.1",
            "  port: %d" % self.port,
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            '  zonesdir: "%s"' % d,
            '  pidfile: "%s/nsd.pid"' % d,
            '  database: ""',
            '  xfrdfile: "%s/xfrd.state"' % d,
            '  xfrdir: "%s"' % d,
            '  zonelistfile: "%s/zone.list"' % d,
            '  logfile: "%s/nsd.log"' % d,
            "  verbosity: %d" % self.verbosity,
            "  server-count: 1",
            "  hide-version: yes",
            self.extra_server_conf,
            "remote-control:",
            "  control-enable: no",
        ]
        for i, (origin, text) in enumerate(self.zones.items()):
            fname = "zone%d.zone" % i
            with open(os.path.join(d, fname), "w") as f:
                f.write(text)
            lines += ["zone:", "  name: %s" % origin, '  zonefile: "%s"' % fname]
        conf = os.path.join(d, "nsd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return conf

    def log(self):
        try:
            with open(os.path.join(self.dir, "nsd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout=15.0, probe_name=None):
        """Starts NSD and waits (bounded) until it answers a query for probe_name (default: the
        first zone's apex SOA). A port race with another process is retried a few times."""
        self.dir = tempfile.mkdtemp(prefix="pkdns-nsd-")
        probe = probe_name or next(iter(self.zones))
        last = ""
        for _attempt in range(3 if self.requested_port is None else 1):
            self.port = self.requested_port or free_port()
            conf = self._write_config()
            check = subprocess.run([NSD_BIN.replace("nsd", "nsd-checkconf"), conf], capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError("nsd-checkconf: " + check.stderr.strip() + check.stdout.strip())
            self.proc = subprocess.Popen([NSD_BIN, "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if udp_query(self.port, probe, qtype=6, timeout=0.2) is not None:
                    return self
            last = self.log() + (self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else "")
            self.stop(keep_dir=True)
        self.stop()
        raise RuntimeError("nsd did not start: " + last.strip())

    def stop(self, keep_dir=False):
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        if self.dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


SELF_CHECK_ZONE = """$ORIGIN example.test.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 60
@       IN NS  ns1.example.test.
ns1     IN A   127.0.0.1
www     IN A   192.0.2.10
"""


def main():
    with NsdServer({"example.test": SELF_CHECK_ZONE}) as nsd:
        reply = udp_query(nsd.port, "www.example.test", qtype=1)
        if reply is None:
            print("FAIL: no reply from nsd on", nsd.address)
            return 1
        _, flags, rcode, _, ancount, _, _ = parse_header(reply)
        if rcode != 0 or ancount != 1 or not flags & 0x0400 or answers(reply) != [(1, 300, bytes([192, 0, 2, 10]))]:
            print("FAIL: unexpected reply rcode=%d ancount=%d flags=%#x" % (rcode, ancount, flags))
            return 1
        nx = udp_query(nsd.port, "nope.example.test")
        if nx is None or parse_header(nx)[2] != 3:
            print("FAIL: expected NXDOMAIN for nope.example.test")
            return 1
        print("checked: nsd on %s answers www.example.test A 192.0.2.10 (AA) and NXDOMAIN for a missing name"
              % nsd.address)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
