"""pkdns keygen / pubkey with the real binary: file mode, no overwrite, round trip, bad seeds."""

import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

Z32_KEY = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$")
HEX_SEED = re.compile(r"^[0-9a-f]{64}$")


def main():
    d = h.temp_dir()

    # keygen --out: creates a 0600 file holding 64 hex chars, prints the z32 key.
    key_file = os.path.join(d, "home.key")
    r = h.run(["keygen", "--out", key_file])
    h.check("keygen --out exits 0", r.returncode == 0, r.stderr)
    public = r.stdout.strip()
    h.check("keygen --out prints one z32 key", Z32_KEY.match(public) is not None, r.stdout)
    h.check("keygen --out prints nothing else", r.stdout.count("\n") == 1, r.stdout)
    mode = stat.S_IMODE(os.stat(key_file).st_mode) if os.path.exists(key_file) else None
    h.check("seed file mode is 0600", mode == 0o600, oct(mode) if mode is not None else "missing")
    with open(key_file, encoding="ascii") as f:
        seed = f.read().strip()
    h.check("seed file holds 64 lowercase hex chars", HEX_SEED.match(seed) is not None, seed)

    # pubkey of that file matches what keygen printed.
    r = h.run(["pubkey", key_file])
    h.check("pubkey exits 0", r.returncode == 0, r.stderr)
    h.check("pubkey matches keygen output", r.stdout.strip() == public, f"{r.stdout!r} vs {public!r}")

    # keygen refuses to overwrite, and leaves the file untouched.
    r = h.run(["keygen", "--out", key_file])
    h.check("keygen refuses to overwrite (exit 1)", r.returncode == 1, f"rc={r.returncode} {r.stderr}")
    h.check("overwrite refusal says why on one stderr line",
            r.stderr.startswith("pkdns keygen: ") and r.stderr.count("\n") == 1 and key_file in r.stderr,
            r.stderr)
    with open(key_file, encoding="ascii") as f:
        h.check("refused overwrite leaves the seed unchanged", f.read().strip() == seed)

    # keygen into a missing directory fails cleanly.
    r = h.run(["keygen", "--out", os.path.join(d, "no", "such", "dir", "k.key")])
    h.check("keygen into a missing directory exits 1", r.returncode == 1, f"rc={r.returncode} {r.stderr}")

    # keygen without --out: labelled secret and public lines; the secret reproduces the key.
    r = h.run(["keygen"])
    h.check("keygen (stdout) exits 0", r.returncode == 0, r.stderr)
    lines = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines() if ": " in line)
    h.check("keygen prints secret: and public: lines",
            HEX_SEED.match(lines.get("secret", "")) is not None and Z32_KEY.match(lines.get("public", "")) is not None,
            r.stdout)
    if "secret" in lines:
        seed2 = os.path.join(d, "printed.key")
        with open(seed2, "w", encoding="ascii") as f:
            f.write(lines["secret"] + "\n")
        r2 = h.run(["pubkey", seed2])
        h.check("printed secret yields the printed public key", r2.stdout.strip() == lines.get("public"),
                f"{r2.stdout!r} {r2.stderr!r}")
    r3 = h.run(["keygen"])
    h.check("two keygens give different keys", r3.stdout != r.stdout)

    # Known seed: the zero seed's key from the shared vectors.
    vec = next(v for v in h.vectors()["vectors"] if v["id"] == "signed-packet-rust-twin-of-js")
    zero = os.path.join(d, "zero.key")
    with open(zero, "w", encoding="ascii") as f:
        f.write("  " + vec["inputs"]["secret_key_seed_hex"] + "\n\n")  # surrounding whitespace is trimmed
    r = h.run(["pubkey", zero])
    h.check("pubkey of the zero seed matches the vector",
            r.returncode == 0 and r.stdout.strip() == vec["expected"]["public_key_z32"], f"{r.stdout!r} {r.stderr!r}")
    with open(zero, "w", encoding="ascii") as f:
        f.write(vec["inputs"]["secret_key_seed_hex"].upper())
    r = h.run(["pubkey", zero])
    h.check("uppercase hex seed is accepted", r.stdout.strip() == vec["expected"]["public_key_z32"],
            f"{r.stdout!r} {r.stderr!r}")

    # Bad seed files: a clear one-line error, exit 1 (runtime) or 2 (usage), never a crash.
    bad = {
        "short": "abcd",
        "non-hex": "zz" * 32,
        "too long": "00" * 33,
        "empty": "",
        "z32 key instead of hex": vec["expected"]["public_key_z32"],
    }
    for label, content in bad.items():
        path = os.path.join(d, f"bad-{label.replace(' ', '_')}.key")
        with open(path, "w", encoding="ascii") as f:
            f.write(content)
        r = h.run(["pubkey", path])
        h.check(f"pubkey rejects a {label} seed with exit 1/2", r.returncode in (1, 2), f"rc={r.returncode}")
        h.check(f"pubkey {label} seed: one stderr line naming the command and file",
                r.stderr.startswith("pkdns pubkey: ") and path in r.stderr and r.stderr.count("\n") == 1
                and r.stdout == "", r.stderr)

    r = h.run(["pubkey", os.path.join(d, "missing.key")])
    h.check("pubkey of a missing file exits 1 naming it", r.returncode == 1 and "missing.key" in r.stderr, r.stderr)
    r = h.run(["pubkey"])
    h.check("pubkey without FILE is a usage error (exit 2)", r.returncode == 2, f"rc={r.returncode} {r.stderr}")
    r = h.run(["keygen", "--help"])
    h.check("keygen --help documents the stdout form", r.returncode == 0 and "secret:" in r.stdout, r.stdout)


if __name__ == "__main__":
    h.run_main(main)
