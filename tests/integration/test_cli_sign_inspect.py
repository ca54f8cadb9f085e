"""pkdns sign / inspect with the real binary: the pkarr vector byte for byte, a zone with many
record types round-tripping through inspect, and clear failures for bad or tampered input."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def vector(vid):
    return next(v for v in h.vectors()["vectors"] if v["id"] == vid)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def record_lines(stdout):
    """Record lines of inspect output (header lines are `;` comments), as whitespace-split tokens."""
    return [tuple(line.split()) for line in stdout.splitlines() if line.strip() and not line.startswith(";")]


def header(stdout):
    out = {}
    for line in stdout.splitlines():
        if line.startswith("; ") and ": " in line[2:]:
            k, v = line[2:].split(": ", 1)
            out[k] = v
    return out


def main():
    d = h.temp_dir()
    twin = vector("signed-packet-rust-twin-of-js")
    zero_key = write(os.path.join(d, "zero.key"), twin["inputs"]["secret_key_seed_hex"])
    zkey = twin["expected"]["public_key_z32"]

    # 1. The fixed vector: zero seed, fixed timestamp, `@ 0 A 1.1.1.1` + `foo 30 TXT "bar"`.
    vzone = write(os.path.join(d, "vector.zone"), '@ 0 A 1.1.1.1\nfoo 30 TXT "bar"\n')
    r = h.run(["sign", "--key", zero_key, "--timestamp", twin["inputs"]["timestamp_us"], vzone])
    h.check("sign of the vector zone exits 0", r.returncode == 0, r.stderr)
    h.check("sign prints exactly the vector's relay payload (one lowercase hex line)",
            r.stdout == twin["expected"]["relay_payload_hex"] + "\n",
            f"got      {r.stdout.strip()}\nexpected {twin['expected']['relay_payload_hex']}")

    # 2. inspect of the vector's signed packet (argument, `-`, absent argument = stdin).
    sp_hex = twin["expected"]["signed_packet_hex"]
    for label, args, stdin in (("argument", [sp_hex], None), ("stdin -", ["-"], sp_hex + "\n"),
                               ("stdin, no argument", [], "  " + sp_hex + "\n\n")):
        r = h.run(["inspect"] + args, input=stdin)
        hd = header(r.stdout)
        h.check(f"inspect ({label}) exits 0", r.returncode == 0, r.stderr)
        h.check(f"inspect ({label}) prints the key", hd.get("key") == zkey, r.stdout)
        h.check(f"inspect ({label}) prints the timestamp in µs and ISO-8601 UTC",
                hd.get("timestamp", "").startswith(str(twin["inputs"]["timestamp_us"]))
                and "2023-10-11T09:33:47.303000Z" in hd.get("timestamp", ""), r.stdout)
        h.check(f"inspect ({label}) prints the size", hd.get("size", "").startswith(str(twin["expected"]["signed_packet_len"])),
                r.stdout)
        h.check(f"inspect ({label}) prints the two records",
                sorted(record_lines(r.stdout)) == sorted([(f"{zkey}.", "0", "IN", "A", "1.1.1.1"),
                                                          (f"foo.{zkey}.", "30", "IN", "TXT", '"bar"')]),
                r.stdout)

    # Relay payload with --key gives the same report.
    r = h.run(["inspect", "--key", zkey, twin["expected"]["relay_payload_hex"]])
    h.check("inspect --key of the relay payload exits 0 and shows the key",
            r.returncode == 0 and header(r.stdout).get("key") == zkey, r.stdout + r.stderr)
    # A relay payload under another key fails verification.
    other = vector("signed-packet-multi")["expected"]["public_key_z32"]
    r = h.run(["inspect", "--key", other, twin["expected"]["relay_payload_hex"]])
    h.check("relay payload under the wrong key: exit 1, signature", r.returncode == 1 and "signature" in r.stderr.lower(),
            f"rc={r.returncode} {r.stderr}")

    # signed-packet-multi from the vectors verifies and lists its 7 records.
    multi = vector("signed-packet-multi")
    r = h.run(["inspect", multi["expected"]["signed_packet_hex"]])
    h.check("inspect of signed-packet-multi lists 7 records",
            r.returncode == 0 and len(record_lines(r.stdout)) == 7, r.stdout + r.stderr)

    # 3. A zone with many types, relative names, @, $TTL: inspect shows the same records.
    key_file = os.path.join(d, "home.key")
    r = h.run(["keygen", "--out", key_file])
    key = r.stdout.strip()
    h.check("keygen for the zone test", r.returncode == 0 and len(key) == 52, r.stderr)
    zone = write(os.path.join(d, "home.zone"), f"""; home zone
$TTL 120
@           A      192.0.2.1
@           AAAA   2001:db8::1
www    60   A      192.0.2.2
alias       CNAME  www
ext         CNAME  example.com.
@           TXT    "hello world" "second string"
@      3600 MX     10 mail
mail        A      192.0.2.3
_sip._tcp   SRV    10 20 5060 sip.example.com.
@           HTTPS  1 . alpn=h2
deep.sub 30 IN A   192.0.2.4
www.{key}. 90 TXT  "absolute"
""")
    ts = 1700000000123456
    r = h.run(["sign", "--key", key_file, "--timestamp", ts, zone])
    h.check("sign of the many-type zone exits 0", r.returncode == 0, r.stderr)
    payload = r.stdout.strip()
    r = h.run(["inspect", "--key", key, payload])
    h.check("inspect --key of our payload exits 0", r.returncode == 0, r.stderr)
    h.check("inspect shows our timestamp", header(r.stdout).get("timestamp", "").startswith(f"{ts} ("), r.stdout)
    lines = record_lines(r.stdout)
    got = sorted(t[:4] for t in lines)  # name, ttl, class, type
    k = f"{key}."
    expected = sorted([
        (k, "120", "IN", "A"), (k, "120", "IN", "AAAA"), (f"www.{k}", "60", "IN", "A"),
        (f"alias.{k}", "120", "IN", "CNAME"), (f"ext.{k}", "120", "IN", "CNAME"), (k, "120", "IN", "TXT"),
        (k, "3600", "IN", "MX"), (f"mail.{k}", "120", "IN", "A"), (f"_sip._tcp.{k}", "120", "IN", "SRV"),
        (k, "120", "IN", "HTTPS"), (f"deep.sub.{k}", "30", "IN", "A"), (f"www.{k}", "90", "IN", "TXT"),
    ])
    h.check("inspect lists every record with absolute names, TTLs and types", got == expected,
            f"got {got}\nexpected {expected}")
    rdata = {(t[0], t[3]): " ".join(t[4:]) for t in lines}
    for (name, rtype), want in {
        (k, "A"): "192.0.2.1", (k, "AAAA"): "2001:db8::1", (f"alias.{k}", "CNAME"): f"www.{k}",
        (f"ext.{k}", "CNAME"): "example.com.", (k, "TXT"): '"hello world" "second string"',
        (k, "MX"): f"10 mail.{k}", (f"_sip._tcp.{k}", "SRV"): "10 20 5060 sip.example.com.",
        (f"www.{k}", "TXT"): '"absolute"',
    }.items():
        h.check(f"{rtype} at {name[:12]}… has rdata {want[:30]}", rdata.get((name, rtype)) == want,
                f"got {rdata.get((name, rtype))!r}")
    https = rdata.get((k, "HTTPS"), "")
    h.check("HTTPS keeps priority, target and alpn", https.startswith("1 .") and "h2" in https, https)

    # The printed lines are a zone file: re-signing them reproduces the payload byte for byte.
    again = write(os.path.join(d, "again.zone"), r.stdout)
    r2 = h.run(["sign", "--key", key_file, "--timestamp", ts, again])
    h.check("inspect output re-signs to the identical payload", r2.returncode == 0 and r2.stdout.strip() == payload,
            r2.stderr)

    # Without --timestamp, the timestamp is now (within a generous window).
    before = int(time.time() * 1e6)
    r = h.run(["sign", "--key", key_file, zone])
    after = int(time.time() * 1e6)
    r2 = h.run(["inspect", "--key", key, r.stdout.strip()])
    got_ts = header(r2.stdout).get("timestamp", "0 ").split()[0]
    h.check("default timestamp is the current time", before <= int(got_ts) <= after, f"{before} {got_ts} {after}")

    # 4. Invalid input to inspect: exit 1 with the reason on one stderr line.
    sig_bit = vector("signed-packet-invalid-sig_bit")["inputs"]["signed_packet_hex"]
    r = h.run(["inspect", sig_bit])
    h.check("tampered signature: exit 1 mentioning the signature",
            r.returncode == 1 and "signature" in r.stderr.lower() and r.stdout == "", f"rc={r.returncode} {r.stderr}")
    b = bytearray.fromhex(sp_hex)
    b[-1] ^= 0x01  # last byte of the DNS packet ("bar" -> "bas")
    r = h.run(["inspect", b.hex()])
    h.check("tampered DNS bytes: exit 1 mentioning the signature",
            r.returncode == 1 and "signature" in r.stderr.lower(), f"rc={r.returncode} {r.stderr}")
    b = bytearray.fromhex(sp_hex)
    b[100] ^= 0x01  # timestamp
    r = h.run(["inspect", b.hex()])
    h.check("tampered timestamp: exit 1", r.returncode == 1 and "signature" in r.stderr.lower(), r.stderr)
    r = h.run(["inspect", "zz" + sp_hex[2:]])
    h.check("bad hex: exit 1 saying hex", r.returncode == 1 and "hex" in r.stderr.lower(), r.stderr)
    r = h.run(["inspect", sp_hex[:-1]])
    h.check("odd-length hex: exit 1", r.returncode == 1 and "hex" in r.stderr.lower(), r.stderr)
    r = h.run(["inspect", sp_hex[:100]])
    h.check("too short: exit 1", r.returncode == 1 and r.stderr.startswith("pkdns inspect: "), r.stderr)
    r = h.run(["inspect", sp_hex + "00" * 1100])
    h.check("too long: exit 1", r.returncode == 1 and r.stderr.startswith("pkdns inspect: "), r.stderr)
    bad_point = vector("key-invalid-point")["computed_extra"]["decoded_bytes_hex"]
    r = h.run(["inspect", bad_point + sp_hex[64:]])
    h.check("packet under a key that is not a curve point: exit 1", r.returncode == 1 and "key" in r.stderr.lower(),
            r.stderr)
    r = h.run(["inspect", "--key", "notakey", twin["expected"]["relay_payload_hex"]])
    h.check("bad --key: exit 1 naming the key", r.returncode == 1 and "key" in r.stderr.lower(), r.stderr)
    r = h.run(["inspect"], input="")
    h.check("empty stdin: exit 1", r.returncode == 1 and "inspect" in r.stderr, r.stderr)
    r = h.run(["inspect", "-"], input="ab" * 40000)
    h.check("oversized stdin is refused", r.returncode == 1 and "larger" in r.stderr, r.stderr)

    # 5. sign failures.
    big = write(os.path.join(d, "big.zone"), "".join(f"h{i} 30 A 10.0.{i // 256}.{i % 256}\n" for i in range(100)))
    r = h.run(["sign", "--key", key_file, big])
    h.check("oversize zone: sign exits 1 with a size message",
            r.returncode == 1 and "too large" in r.stderr and "996" in r.stderr and r.stdout == "", r.stderr)
    outside = write(os.path.join(d, "outside.zone"), "ok A 192.0.2.1\nwww.example.com. A 192.0.2.9\n")
    r = h.run(["sign", "--key", key_file, outside])
    h.check("name outside the key: exit 1 naming file and line",
            r.returncode == 1 and "outside.zone" in r.stderr and "line 2" in r.stderr, r.stderr)
    broken = write(os.path.join(d, "broken.zone"), "www A 192.0.2.1\nwww A 999.1.1.1\n")
    r = h.run(["sign", "--key", key_file, broken])
    h.check("syntax error: exit 1 naming file and line",
            r.returncode == 1 and "broken.zone" in r.stderr and "line 2" in r.stderr, r.stderr)
    r = h.run(["sign", "--key", os.path.join(d, "nokey"), zone])
    h.check("missing key file: exit 1 naming it", r.returncode == 1 and "nokey" in r.stderr, r.stderr)
    r = h.run(["sign", zone])
    h.check("sign without --key: usage error (exit 2)", r.returncode == 2, f"rc={r.returncode}")
    r = h.run(["sign", "--key", key_file, "--timestamp", "soon", zone])
    h.check("non-numeric --timestamp: usage error (exit 2)", r.returncode == 2, f"rc={r.returncode}")
    r = h.run(["sign", "--key", key_file, "--timestamp", str(2**63), zone])
    h.check("--timestamp >= 2^63: usage error (exit 2)", r.returncode == 2, f"rc={r.returncode} {r.stdout}")
    empty = write(os.path.join(d, "empty.zone"), "; nothing\n")
    r = h.run(["sign", "--key", zero_key, "--timestamp", "1", empty])
    r2 = h.run(["inspect", "--key", zkey, r.stdout.strip()])
    h.check("an empty zone signs to a header-only packet",
            r.returncode == 0 and r2.returncode == 0 and record_lines(r2.stdout) == []
            and header(r2.stdout).get("records") == "0", r.stderr + r2.stderr)


if __name__ == "__main__":
    h.run_main(main)
