"""Hostile input against the real `pkdns serve`: random datagrams, truncated headers,
compression loops, responses sent as queries, oversized / zero-length / stalled TCP frames and
half-open connections. After each attack a well-formed query from another client must still be
answered (with its own ID), and the daemon must stop cleanly at the end.

The probe name ends in a non-canonical key label, which pkdns answers NXDOMAIN by itself, so
the test needs no upstream and no DHT (both point at closed loopback ports).
"""

import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import nsd_fixture  # noqa: E402

NONCANONICAL = h.NONCANONICAL_KEY


def query(qid, name, qtype=1, flags=0x0100):
    _, wire = nsd_fixture.build_query(name, qtype, qid=qid)
    return wire[:2] + struct.pack(">H", flags) + wire[4:]


def udp_probe(port, timeout=3.0):
    """A fresh client asks the probe name: the reply's rcode, None on silence or a wrong ID."""
    reply = nsd_fixture.udp_query(port, "probe." + NONCANONICAL, timeout=timeout, rd=True)
    return None if reply is None else nsd_fixture.parse_header(reply)[2]


def tcp_probe(port, timeout=3.0):
    """The same over a fresh TCP connection."""
    qid, msg = nsd_fixture.build_query("tcp." + NONCANONICAL, rd=True)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">H", len(msg)) + msg)
        hdr = recv_exact(s, 2)
        if hdr is None:
            return None
        body = recv_exact(s, struct.unpack(">H", hdr)[0])
    if body is None or len(body) < 12:
        return None
    rid, flags = struct.unpack(">HH", body[:4])
    return flags & 0x0F if rid == qid else None


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def still_answers(port, what):
    h.check(f"after {what}: a UDP client is answered NXDOMAIN with its ID", udp_probe(port) == 3)
    h.check(f"after {what}: a TCP client is answered NXDOMAIN with its ID", tcp_probe(port) == 3)


def closed_by_server(sock, timeout=15.0):
    """True when the server closes the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    h.pkdns_bin()
    rng = random.Random(20261125)
    tmp = h.temp_dir()
    dead = h.closed_udp_address()  # upstream and bootstrap are unreachable
    config = h.write_serve_config(os.path.join(tmp, "pkdns.toml"), upstreams=[dead], bootstrap=[dead],
                                  upstream_timeout_ms=500, log_level="info")
    with h.serve(config) as srv:
        port = srv.dns_port
        if not h.check("serve starts and answers", srv.alive() and udp_probe(port) is not None,
                       srv.stderr_text()[-3000:]):
            h.finish()
        still_answers(port, "start-up")

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(300):
                s.sendto(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 700))), ("127.0.0.1", port))
            for n in range(0, 12):  # every truncated header length
                s.sendto(bytes(rng.randrange(256) for _ in range(n)), ("127.0.0.1", port))
            # A question name that is a pointer to itself, and one pointing past the end.
            s.sendto(struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01",
                     ("127.0.0.1", port))
            s.sendto(struct.pack(">HHHHHH", 8, 0x0100, 1, 0, 0, 0) + b"\xc3\xff" + b"\x00\x01\x00\x01",
                     ("127.0.0.1", port))
        # A response sent as a query must not be answered (no reflection loops). A fresh socket:
        # replies to the garbage above (any ID) cannot arrive on it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            s.sendto(query(9, "r." + NONCANONICAL, flags=0x8180), ("127.0.0.1", port))
            try:
                s.recvfrom(65535)
                got_reply_to_response = True
            except socket.timeout:
                got_reply_to_response = False
            h.check("a response sent as a query gets no reply", not got_reply_to_response)
        still_answers(port, "random datagrams, truncated headers and compression loops")

        # A pointer loop over UDP gets FORMERR (or nothing), never a hang.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3.0)
            s.sendto(struct.pack(">HHHHHH", 4242, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
                     ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(65535)
                rcode = struct.unpack(">H", data[2:4])[0] & 0x0F
                h.check("a compression loop is answered FORMERR", rcode == 1, rcode)
            except socket.timeout:
                h.check("a compression loop is dropped", True)

        # Oversized frame: the connection is closed, nobody else is affected.
        big = socket.create_connection(("127.0.0.1", port), timeout=5)
        big.sendall(b"\xff\xff" + bytes(rng.randrange(256) for _ in range(4000)))
        h.check("an oversized TCP frame closes that connection", closed_by_server(big))
        big.close()
        zero = socket.create_connection(("127.0.0.1", port), timeout=5)
        zero.sendall(b"\x00\x00")
        h.check("a zero-length TCP frame closes that connection", closed_by_server(zero))
        zero.close()
        still_answers(port, "bad TCP frames")

        # Half-open and stalled connections: 40 clients that send a partial length or a partial
        # message and then nothing. Others are still served while they hang.
        stalled = []
        for i in range(40):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"\x00" if i % 2 else b"\x00\x30" + b"\x12\x34\x01")
            stalled.append(c)
        still_answers(port, "40 stalled TCP connections")
        started = time.monotonic()
        closed = sum(1 for c in stalled[:2] if closed_by_server(c, timeout=30))
        h.check("stalled connections are closed by the idle timeout", closed == 2,
                f"{closed} of 2 after {time.monotonic() - started:.1f} s")
        for c in stalled:
            c.close()

        # A client that pipelines many queries and never reads its replies.
        hog = socket.create_connection(("127.0.0.1", port), timeout=5)
        hog.settimeout(5)
        frames = b""
        for i in range(200):
            m = query(i, f"q{i}." + NONCANONICAL)
            frames += struct.pack(">H", len(m)) + m
        try:
            hog.sendall(frames)
        except OSError:
            pass
        still_answers(port, "a pipelining client that never reads")
        hog.close()

        h.check("serve is still running", srv.alive(), srv.stderr_text()[-2000:])
        code = srv.stop()
        h.check("SIGTERM stops serve with exit 0", code == 0, srv.stderr_text()[-3000:])
        h.check("no event-loop leak reported", "did not close cleanly" not in srv.stderr_text())


if __name__ == "__main__":
    h.run_main(main)
