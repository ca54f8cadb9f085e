"""DHT helpers for the pkdns integration tests (python3 stdlib only), on top of harness.py.

    import dht_harness as d
    key_file, z32 = d.new_key(tmp)            # seed file + its z32 key (via `pkdns pubkey`)
    zone = d.write_zone(tmp, "a.zone", ['@ 300 IN A 127.0.0.1', '_foo 300 IN TXT "bar"'])
    r = d.publish(key_file, zone, bootstrap)  # CompletedProcess + r.parsed {key,timestamp,stored}
    r = d.resolve(z32, bootstrap)             # --json; r.json is the parsed output or None
    with d.FakeDns({"boot.pkdns.test": "127.0.0.1"}) as dns: dns.address -> "127.0.0.1:P"
    with d.js_testnet(peer_dir, 10) as js: js.first_json["bootstrap"]   # JS DHT testnet
"""

import json
import os
import re
import socket
import struct
import threading

import harness as h


def new_key(directory, name="key.seed"):
    """A fresh random seed file (64 hex chars) and its z32 public key."""
    path = os.path.join(directory, name)
    with open(path, "w", encoding="ascii") as f:
        f.write(os.urandom(32).hex())
    os.chmod(path, 0o600)
    r = h.run(["pubkey", path])
    if r.returncode != 0:
        raise RuntimeError(f"pkdns pubkey failed: {r.stderr}")
    return path, r.stdout.strip()


def write_zone(directory, name, lines):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _bootstrap_args(bootstrap):
    args = []
    for b in bootstrap:
        args += ["--bootstrap", b]
    return args


def publish(key_file, zone, bootstrap, extra=(), timeout=60):
    r = h.run(["publish", "--key", key_file, zone] + _bootstrap_args(bootstrap) + list(extra), timeout=timeout)
    parsed = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(key|timestamp|stored): (\S+)$", line.strip())
        if m:
            parsed[m.group(1)] = m.group(2)
    if "timestamp" in parsed:
        parsed["timestamp"] = int(parsed["timestamp"])
    if "stored" in parsed:
        parsed["stored"] = int(parsed["stored"])
    r.parsed = parsed
    return r


def resolve(name, bootstrap, extra=(), json_output=True, timeout=60):
    args = ["resolve", name] + _bootstrap_args(bootstrap) + list(extra)
    if json_output:
        args.append("--json")
    r = h.run(args, timeout=timeout)
    r.json = None
    if json_output and r.returncode == 0:
        try:
            r.json = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r.json = None
    return r


def txt_values(resolved_json, name_prefix=None):
    """TXT rdata strings (as printed, quotes kept) from `pkdns resolve --json` output."""
    out = []
    for rr in (resolved_json or {}).get("records", []):
        if rr.get("type") == "TXT" and (name_prefix is None or rr.get("name", "").startswith(name_prefix)):
            out.append(rr.get("data"))
    return out


def node_cmd(peer_dir, script, args):
    return ["node", os.path.join(peer_dir, script)] + [str(a) for a in args]


def run_node(peer_dir, script, args, timeout=60):
    """Runs a dht-peer script to completion; r.json is its last stdout line parsed (or None)."""
    import subprocess
    r = subprocess.run(node_cmd(peer_dir, script, args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, cwd=peer_dir)
    r.json = None
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if lines:
        try:
            r.json = json.loads(lines[-1])
        except ValueError:
            pass
    return r


class FakeDns:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP) answering A queries from a dict;
    other names get NXDOMAIN. Counts the queries it saw (self.queries: list of names)."""

    def __init__(self, names):
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        return False

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply:
                self.sock.sendto(reply, peer)

    def _answer(self, data):
        if len(data) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        if qd != 1 or flags & 0x8000:
            return None
        pos, labels = 12, []
        while pos < len(data) and data[pos] != 0:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        pos += 1
        if pos + 4 > len(data):
            return None
        qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
        question = data[12:pos + 4]
        name = ".".join(labels).lower()
        self.queries.append(name)
        ip = self.names.get(name)
        if ip is None or qtype != 1:
            rcode = 3 if ip is None else 0
            return struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, 0, 0, 0) + question
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


def free_port_range(count, low=20000, high=60000, attempts=50):
    """A base port P such that P..P+count-1 were all free UDP ports on 127.0.0.1 a moment ago.
    Only for peers that cannot take port 0 (testnet.js, a testnet restarted on the same ports)."""
    import random
    for _ in range(attempts):
        base = random.randrange(low, high - count)
        socks = []
        try:
            for i in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range found")


class PortRangeProcess(h.Process):
    """A harness.Process whose command needs `count` consecutive free ports: make_cmd(base) builds
    it. The range is only free "a moment ago", so a start that fails (the process exits before
    its first line, e.g. a port got taken) is retried on a fresh range. self.port_base is the
    range in use."""

    def __init__(self, make_cmd, count, attempts=3, **kw):
        super().__init__([], **kw)
        self.make_cmd = make_cmd
        self.count = count
        self.attempts = attempts
        self.port_base = None

    def start(self):
        for attempt in range(self.attempts):
            self.port_base = free_port_range(self.count)
            self.cmd = [str(c) for c in self.make_cmd(self.port_base)]
            try:
                return super().start()
            except RuntimeError:
                if attempt + 1 == self.attempts:
                    raise
        return self


def js_testnet(peer_dir, nodes, extra_bootstrap=()):
    """A harness.Process running dht-peer's testnet.js (enter it with `with`). testnet.js binds
    consecutive ports from --port-base (it cannot take port 0), so the range is picked here."""
    def make_cmd(base):
        args = ["--nodes", nodes, "--port-base", base]
        if extra_bootstrap:
            args += ["--extra-bootstrap", ",".join(extra_bootstrap)]
        return node_cmd(peer_dir, "testnet.js", args)
    return PortRangeProcess(make_cmd, nodes, first_line_timeout=60)
