"""Shared helpers for pkdns integration tests (python3 stdlib only).

Usage:
    import harness as h
    r = h.run(["pubkey", path])                      # CompletedProcess (text, captured)
    h.check("pubkey exits 0", r.returncode == 0, r.stderr)
    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", "3"]) as p:
        info = p.first_json                          # first stdout line parsed as JSON
        h.wait_until(lambda: something(), timeout=10)
    cfg = h.write_serve_config(path, upstreams=[...], bootstrap=[...], http=True)
    with h.serve(cfg) as srv:                        # DNS, HTTP and DHT on port 0
        h.dig(srv.dns, "name")                       # srv.dns / srv.http / srv.dht: (host, port)
    addr = h.closed_udp_address()                    # "127.0.0.1:P", held by us, refuses datagrams
    d = h.temp_dir()                                 # removed at interpreter exit
    h.finish()                                       # prints "N passed, M failed", exits 1 on failure
    h.run_main(main)                                 # main() then finish(); an exception fails

Environment (set by ctest): PKDNS_BIN (required), PKDNS_SHARED_DIR, PKDNS_DHT_PEER_DIR,
PKDNS_BUILD_DIR, PKDNS_SOURCE_DIR. The helpers never sleep as synchronisation: waits are bounded
polls with a deadline, and every started process is stopped by PID. pkdns binds every listener
on port 0 and reports where the kernel put it; no port is guessed for pkdns.
"""

import atexit
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = [
    "PKDNS_BIN", "SHARED_DIR", "DHT_PEER_DIR", "BUILD_DIR", "SOURCE_DIR",
    "pkdns_bin", "run", "Process", "Serve", "serve", "serving", "write_serve_config",
    "closed_udp_address", "closed_tcp_address", "wait_until", "temp_dir", "check", "finish",
    "run_main", "vectors", "dig", "rr_datas", "curl", "NONCANONICAL_KEY",
]


def pkdns_bin():
    """Path of the pkdns binary under test (env PKDNS_BIN); exits 2 when it is missing."""
    path = os.environ.get("PKDNS_BIN", "")
    if not path or not os.access(path, os.X_OK):
        print(f"harness: PKDNS_BIN not set or not executable: {path!r}", file=sys.stderr)
        sys.exit(2)
    return path


PKDNS_BIN = os.environ.get("PKDNS_BIN", "")
SHARED_DIR = os.environ.get("PKDNS_SHARED_DIR", "")
DHT_PEER_DIR = os.environ.get("PKDNS_DHT_PEER_DIR", "")
BUILD_DIR = os.environ.get("PKDNS_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("PKDNS_SOURCE_DIR", "")


def run(args, input=None, timeout=30, binary=None, env=None):
    """Runs `pkdns <args>` (or `binary <args>`) to completion; text mode, output captured.

    `input` is a str fed to stdin (stdin is /dev/null otherwise). Raises
    subprocess.TimeoutExpired (after killing the child) when it exceeds `timeout` seconds.
    """
    cmd = [binary or pkdns_bin()] + [str(a) for a in args]
    return subprocess.run(cmd, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=env)


class Process:
    """A long-running command, stopped by PID on exit (SIGTERM, wait, then SIGKILL).

    with Process(cmd, first_line_timeout=10) as p:
        p.first_line   # first stdout line (str, stripped), read with a deadline
        p.first_json   # that line parsed as JSON, or None when it is not JSON
    Set first_line_timeout=None to skip reading the first line. stderr goes to a temp file
    readable via p.stderr_text() (useful in failure details).
    """

    def __init__(self, cmd, first_line_timeout=15, env=None, stop_timeout=10):
        self.cmd = [str(c) for c in cmd]
        self.first_line_timeout = first_line_timeout
        self.env = env
        self.stop_timeout = stop_timeout
        self.proc = None
        self.first_line = None
        self.first_json = None
        self.returncode = None
        self._stderr_file = None
        self._stderr_final = ""

    def start(self):
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file, env=self.env)
        if self.first_line_timeout is not None:
            try:
                self.first_line = self.read_line(self.first_line_timeout)
            except Exception:
                self.__exit__(None, None, None)
                raise
            try:
                self.first_json = json.loads(self.first_line)
            except ValueError:
                self.first_json = None
        return self

    def read_line(self, timeout):
        """Next stdout line (stripped) within `timeout` seconds; RuntimeError on timeout/EOF."""
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no stdout line from {self.cmd[:4]} within {timeout}s; "
                                       f"stderr: {self.stderr_text()[-2000:]}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 1)  # byte at a time: never consume past the newline
                if not chunk:
                    try:
                        code = self.proc.wait(timeout=5)  # stdout closes just before the exit
                    except subprocess.TimeoutExpired:
                        code = None
                    raise RuntimeError(f"{self.cmd[:4]} closed stdout (exit {code}); "
                                       f"stderr: {self.stderr_text()[-2000:]}")
                buf += chunk
        return buf.decode("utf-8", "replace").strip()

    def stderr_text(self):
        """Everything the process wrote to stderr so far (still available after exit)."""
        if self._stderr_file is None:
            return self._stderr_final
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig`, waits up to stop_timeout, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=self.stop_timeout)
            except ProcessLookupError:
                pass
        self.returncode = self.proc.returncode
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._stderr_file is not None:
            self._stderr_final = self.stderr_text()
            self._stderr_file.close()
            self._stderr_file = None
        return False


_held_sockets = []  # kept open (and the ports reserved) until the interpreter exits


def closed_udp_address():
    """"127.0.0.1:P" where nothing answers and datagrams are refused (ICMP port unreachable): a
    UDP socket of this process holds P, connected elsewhere so the kernel never delivers to it.
    Unlike a port that was free a moment ago, no other process can take it meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", 9))
    _held_sockets.append(s)
    return "127.0.0.1:%d" % s.getsockname()[1]


def closed_tcp_address():
    """"127.0.0.1:P" where connections are refused: a TCP socket of this process is bound to P
    and never listens."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _held_sockets.append(s)
    return "127.0.0.1:%d" % s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls predicate() until it returns a truthy value (returned) or `timeout` seconds pass
    (returns the last falsy value). Exceptions from predicate count as falsy."""
    deadline = time.monotonic() + timeout
    result = None
    while True:
        try:
            result = predicate()
        except Exception:
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            return result
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


_temp_dirs = []


def _cleanup_temp_dirs():
    for d in _temp_dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_temp_dirs)


def temp_dir(prefix="pkdns-it-"):
    """A fresh directory, removed when the interpreter exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    _temp_dirs.append(d)
    return d


_results = []  # (name, ok, detail)


def check(name, condition, detail=""):
    """Records one assertion and prints it. Returns bool(condition) so callers can branch."""
    ok = bool(condition)
    _results.append((name, ok, detail))
    line = f"{'PASS' if ok else 'FAIL'}: {name}"
    if not ok and detail:
        line += f"\n    {str(detail).strip()[:2000]}"
    print(line, flush=True)
    return ok


def finish():
    """Prints "N passed, M failed" and exits (1 when anything failed or nothing was checked)."""
    passed = sum(1 for _, ok, _ in _results if ok)
    failed = len(_results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not _results else 0)


def run_main(main):
    """Runs a test's main() and then finish(). An exception escaping main() is a failed check
    (with its traceback), so neither an early return nor a crash can end in exit 0 unnoticed."""
    try:
        main()
    except Exception:  # noqa: BLE001 - reported as a failure, not swallowed
        check("the test ran to its end without an exception", False, traceback.format_exc())
    finish()


def vectors():
    """The shared pkarr test vectors (PKDNS_SHARED_DIR/vectors/pkarr-vectors.json) as JSON."""
    base = SHARED_DIR or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    with open(os.path.join(base, "vectors", "pkarr-vectors.json"), encoding="utf-8") as f:
        return json.load(f)


# A valid key whose last character is swapped within its half of the alphabet: not canonical,
# so pkdns answers "<anything>.<it>" NXDOMAIN by itself (no DHT, no upstream needed).
NONCANONICAL_KEY = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewt"


def dig(addr, name, qtype="A", tcp=False, extra=(), tool="dig", timeout=30):
    """Asks addr (a port on 127.0.0.1, or a (host, port) pair such as Serve.dns) with dig (or
    tool="kdig") and parses the text output:
    {"status", "flags" (list), "answer"/"authority"/"additional" (lists of {name, ttl, type,
    data}; names lowercased without the final dot, OPT pseudo records skipped), "raw"}.
    status is None when no reply arrived."""
    host, port = addr if isinstance(addr, tuple) else ("127.0.0.1", addr)
    args = [tool, "@" + host, "-p", str(port), name, qtype, "+time=5"]
    args.append("+retry=0" if tool == "kdig" else "+tries=1")
    if tcp:
        args.append("+tcp")
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    out = r.stdout
    status = re.search(r"status: ([A-Z]+)", out)
    flags = re.search(r"^;; flags: ([a-z ]*);", out, re.I | re.M)
    sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
    current = None
    for line in out.splitlines():
        m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if m:
            current = m.group(1)
            continue
        if not line.strip():
            current = None
            continue
        if line.startswith(";"):
            continue
        if current:
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] != "OPT":
                try:
                    ttl = int(parts[1])
                except ValueError:
                    continue
                sections[current].append({"name": parts[0].rstrip(".").lower(), "ttl": ttl,
                                          "type": parts[3], "data": parts[4].strip()})
    return {
        "status": status.group(1) if status else None,
        "flags": flags.group(1).lower().split() if flags else [],
        "answer": sections["ANSWER"],
        "authority": sections["AUTHORITY"],
        "additional": sections["ADDITIONAL"],
        "raw": " ".join(args) + "\n" + out + r.stderr,
    }


def rr_datas(reply, rtype, section="answer"):
    """The rdata strings of the `rtype` records in one section of a dig() reply."""
    return [rr["data"] for rr in reply[section] if rr["type"] == rtype]


def curl(args, body=None, max_time=20):
    """Runs curl with `args`; returns (status, http_version, headers (lowercase names, last
    wins), body bytes). status is 0 when no HTTP response arrived. `body` (bytes) is POSTed/PUT
    with --data-binary."""
    with tempfile.TemporaryDirectory(prefix="pkdns-curl-") as d:
        out, hdr = os.path.join(d, "out"), os.path.join(d, "hdr")
        cmd = ["curl", "-s", "--max-time", str(max_time), "-o", out, "-D", hdr, "-w",
               "%{http_code} %{http_version}"]
        if body is not None:
            path = os.path.join(d, "body")
            with open(path, "wb") as f:
                f.write(body)
            cmd += ["--data-binary", "@" + path]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=max_time + 20)
        parts = r.stdout.split()
        status = int(parts[0]) if parts and parts[0].isdigit() else 0
        version = parts[1] if len(parts) > 1 else ""
        headers = {}
        if os.path.exists(hdr):
            with open(hdr, encoding="latin-1") as f:
                for line in f:
                    if ":" in line and not line.startswith("HTTP/"):
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
        data = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                data = f.read()
    return status, version, headers, data


def write_serve_config(path, upstreams=(), bootstrap=(), db=None, upstream_timeout_ms=1000, min_ttl=60,
                       log_level="debug", http=False, tls=None, relay_urls=None, extra=""):
    """A `pkdns serve` config: DNS on 127.0.0.1:0, the DHT node on port 0 and, with http=True
    (or tls=(cert, key)), HTTP on 127.0.0.1:0; no rate limits, loopback clients. Relays are off
    unless `relay_urls` lists some. `upstreams`/`bootstrap` are "IP:PORT" strings; `extra` is
    appended verbatim (TOML)."""
    def toml_list(items):
        return "[" + ", ".join('"%s"' % i for i in items) + "]"
    if db is None:
        db = os.path.join(os.path.dirname(os.path.abspath(path)), "pkdns.db")
    relay = "enabled = false" if relay_urls is None else f"enabled = true\nurls = {toml_list(relay_urls)}"
    http_section = ""
    if http or tls:
        http_section = '[http]\nlisten = "127.0.0.1:0"\n'
        if tls:
            http_section += f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""[dns]
listen = ["127.0.0.1:0"]
min_ttl = {min_ttl}
allow = ["127.0.0.0/8"]
query_rate_limit = 0
[upstream]
servers = {toml_list(upstreams)}
timeout_ms = {upstream_timeout_ms}
[dht]
port = 0
bootstrap = {toml_list(bootstrap)}
query_rate_limit = 0
[relay]
{relay}
[cache]
path = "{db}"
[log]
level = "{log_level}"
{http_section}{extra}
""")
    return path


def _host_port(text):
    """("127.0.0.1", 53) from "127.0.0.1:53", ("::1", 53) from "[::1]:53"."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Serve(Process):
    """`pkdns serve [-c config] [args]`, started once it printed its bound addresses (its first
    stdout line, e.g. {"dns":["127.0.0.1:41234"],"http":"127.0.0.1:40001","dht":"0.0.0.0:6881"}):

    with Serve(config) as srv:
        srv.dns        # (host, port) of the first DNS listener; srv.dns_all: all of them
        srv.http       # (host, port) of the HTTP listener, None without [http] listen
        srv.dht        # (host, port) of the DHT node
        srv.dns_port, srv.http_port
    Start-up failing (exit, or no such line within first_line_timeout) raises RuntimeError with
    serve's stderr. Every listener is bound when the line is printed: no wait is needed after.
    """

    def __init__(self, config=None, args=(), first_line_timeout=30, env=None):
        cmd = [pkdns_bin(), "serve"] + (["-c", config] if config else []) + [str(a) for a in args]
        super().__init__(cmd, first_line_timeout=first_line_timeout, env=env)
        self.dns_all = []
        self.dns = self.http = self.dht = None

    def start(self):
        super().start()
        info = self.first_json
        try:
            self.dns_all = [_host_port(a) for a in info["dns"]]
            self.dns = self.dns_all[0]
            self.http = _host_port(info["http"]) if "http" in info else None
            self.dht = _host_port(info["dht"])
        except (TypeError, KeyError, IndexError, ValueError):
            self.__exit__(None, None, None)
            raise RuntimeError(f"serve's first stdout line is not its bound addresses: {self.first_line!r}; "
                               f"stderr: {self.stderr_text()[-2000:]}")
        return self

    @property
    def dns_port(self):
        return self.dns[1]

    @property
    def http_port(self):
        return self.http[1] if self.http else None


def serve(config=None, extra_args=()):
    """A Serve for `pkdns serve -c config [extra_args]` (enter it with `with`)."""
    return Serve(config, extra_args)


def serving(srv):
    """True when a started Serve is alive and answers a locally answered name over UDP (one
    query, bounded by dig's timeout): its sockets are bound once the first line is out."""
    return srv.alive() and dig(srv.dns, "probe." + NONCANONICAL_KEY)["status"] is not None
