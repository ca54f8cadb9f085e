"""Shared helpers for pkdns integration tests (python3 stdlib only).

Usage:
    import harness as h
    r = h.run(["pubkey", path])                      # CompletedProcess (text, captured)
    h.check("pubkey exits 0", r.returncode == 0, r.stderr)
    with h.Process([h.PKDNS_BIN, "testnet", "--nodes", "3"]) as p:
        info = p.first_json                          # first stdout line parsed as JSON
        h.wait_until(lambda: something(), timeout=10)
    port = h.free_udp_port()
    d = h.temp_dir()                                 # removed at interpreter exit
    h.finish()                                       # prints "N passed, M failed", exits 1 on failure

Environment (set by ctest): PKDNS_BIN (required), PKDNS_SHARED_DIR, PKDNS_DHT_PEER_DIR,
PKDNS_BUILD_DIR, PKDNS_SOURCE_DIR. The helpers never sleep as synchronisation: waits are bounded
polls with a deadline, and every started process is stopped by PID.
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

__all__ = [
    "PKDNS_BIN", "SHARED_DIR", "DHT_PEER_DIR", "BUILD_DIR", "SOURCE_DIR",
    "pkdns_bin", "run", "Process", "free_udp_port", "free_tcp_port", "wait_until",
    "temp_dir", "check", "finish", "vectors", "dig", "rr_datas", "write_serve_config", "serve",
    "wait_serving", "NONCANONICAL_KEY",
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
                    raise RuntimeError(f"no stdout line from {self.cmd[:3]} within {timeout}s; "
                                       f"stderr: {self.stderr_text()[-2000:]}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 1)  # byte at a time: never consume past the newline
                if not chunk:
                    raise RuntimeError(f"{self.cmd[:3]} closed stdout (exit {self.proc.poll()}); "
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


def _free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port():
    """An ephemeral UDP port on 127.0.0.1 that was free a moment ago."""
    return _free_port(socket.SOCK_DGRAM)


def free_tcp_port():
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port(socket.SOCK_STREAM)


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


def vectors():
    """The shared pkarr test vectors (PKDNS_SHARED_DIR/vectors/pkarr-vectors.json) as JSON."""
    base = SHARED_DIR or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    with open(os.path.join(base, "vectors", "pkarr-vectors.json"), encoding="utf-8") as f:
        return json.load(f)


# A valid key whose last character is swapped within its half of the alphabet: not canonical,
# so pkdns answers "<anything>.<it>" NXDOMAIN by itself (no DHT, no upstream needed).
NONCANONICAL_KEY = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewt"


def dig(port, name, qtype="A", tcp=False, extra=(), tool="dig", timeout=30):
    """Asks 127.0.0.1:port with dig (or tool="kdig") and parses the text output:
    {"status", "flags" (list), "answer"/"authority"/"additional" (lists of {name, ttl, type,
    data}; names lowercased without the final dot, OPT pseudo records skipped), "raw"}.
    status is None when no reply arrived."""
    args = [tool, "@127.0.0.1", "-p", str(port), name, qtype, "+time=5"]
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


def write_serve_config(path, port, upstreams=(), bootstrap=(), db=None, upstream_timeout_ms=1000,
                       min_ttl=60, log_level="debug", extra=""):
    """A `pkdns serve` config on 127.0.0.1:port: no rate limits, relays off, loopback clients.
    `upstreams`/`bootstrap` are "IP:PORT" strings; `extra` is appended verbatim (TOML)."""
    def toml_list(items):
        return "[" + ", ".join('"%s"' % i for i in items) + "]"
    if db is None:
        db = os.path.join(os.path.dirname(os.path.abspath(path)), "pkdns.db")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""[dns]
listen = ["127.0.0.1:{port}"]
min_ttl = {min_ttl}
allow = ["127.0.0.0/8"]
query_rate_limit = 0
[upstream]
servers = {toml_list(upstreams)}
timeout_ms = {upstream_timeout_ms}
[dht]
bootstrap = {toml_list(bootstrap)}
query_rate_limit = 0
[relay]
enabled = false
[cache]
path = "{db}"
[log]
level = "{log_level}"
{extra}
""")
    return path


def serve(config, extra_args=()):
    """A harness.Process for `pkdns serve -c config [extra_args]` (enter it with `with`)."""
    return Process([pkdns_bin(), "serve", "-c", config] + [str(a) for a in extra_args], first_line_timeout=None)


def wait_serving(port, proc, timeout=20):
    """Polls until serve answers a locally answered name on UDP (bounded); truthy when it does."""
    return wait_until(lambda: proc.alive() and dig(port, "probe." + NONCANONICAL_KEY)["status"] is not None,
                      timeout=timeout, interval=0.2)


def http_port(proc, timeout=20):
    """The HTTP port from serve's 'HTTP listening on ADDR:PORT' line (port 0 was asked for)."""
    found = {}

    def ready():
        m = re.search(r"HTTP listening on 127\.0\.0\.1:(\d+)", proc.stderr_text())
        if m:
            found["port"] = int(m.group(1))
        return "port" in found or not proc.alive()

    wait_until(ready, timeout=timeout, interval=0.1)
    return found.get("port")
