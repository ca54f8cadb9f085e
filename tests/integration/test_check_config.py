"""pkdns check-config with the real binary: good files print the effective config (exit 0), bad
files give one "FILE: line N: key 'x': reason" line (exit 1); Rust pkdns files are accepted;
serve rejects a bad config or flag with exit 2."""

import os
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def check_ok(name, path):
    """Runs check-config on a file expected to be valid; returns the parsed effective config."""
    r = h.run(["check-config", "-c", path])
    h.check(f"{name}: exit 0", r.returncode == 0, f"rc={r.returncode} {r.stderr}")
    h.check(f"{name}: nothing on stderr", r.stderr == "", r.stderr)
    try:
        return tomllib.loads(r.stdout), r.stdout
    except tomllib.TOMLDecodeError as e:
        h.check(f"{name}: effective config is valid TOML", False, f"{e}\n{r.stdout}")
        return {}, r.stdout


def check_error(name, path, expected):
    """Runs check-config on a bad file: exit 1, empty stdout, one stderr line equal to `expected`."""
    r = h.run(["check-config", "-c", path])
    h.check(f"{name}: exit 1", r.returncode == 1, f"rc={r.returncode} {r.stdout} {r.stderr}")
    h.check(f"{name}: nothing on stdout", r.stdout == "", r.stdout)
    h.check(f"{name}: one stderr line", r.stderr.count("\n") == 1, r.stderr)
    h.check(f"{name}: message is {expected!r}", r.stderr.strip() == expected, r.stderr)


def main():
    d = h.temp_dir()

    # The shipped example config is the built-in defaults.
    source = h.SOURCE_DIR or os.path.join(os.path.dirname(__file__), "..", "..")
    shipped = os.path.join(source, "packaging", "pkdns.toml")
    cfg, _ = check_ok("packaging/pkdns.toml", shipped)
    h.check("defaults: listen", cfg.get("dns", {}).get("listen") == ["127.0.0.1:53", "[::1]:53"], cfg.get("dns"))
    h.check("defaults: upstream", cfg.get("upstream", {}).get("servers") == ["1.1.1.1:53", "8.8.8.8:53"],
            cfg.get("upstream"))
    h.check("defaults: cache path", cfg.get("cache", {}).get("path") == "/var/lib/pkdns/pkdns.db", cfg.get("cache"))
    h.check("defaults: 4 bootstrap nodes", len(cfg.get("dht", {}).get("bootstrap", [])) == 4, cfg.get("dht"))

    # A file of our own: values show up in the effective config, relative paths become absolute
    # (taken from the config file's directory), defaults fill the rest.
    # check-config loads the [[publish]] key and zone files too.
    os.makedirs(os.path.join(d, "keys"))
    os.makedirs(os.path.join(d, "zones"))
    write(d, "keys/home.key", "11" * 32)
    write(d, "zones/home.zone", "@ 300 IN A 127.0.0.1\n")
    good = write(d, "good.toml", """
[dns]
listen = ["127.0.0.1:5353", "[::1]:5353"]
min_ttl = 30
allow = ["0.0.0.0/0", "::/0"]

[upstream]
servers = ["127.0.0.1:1053"]

[dht]
bootstrap = ["127.0.0.1:40000"]

[[publish]]
key = "keys/home.key"
zone = "zones/home.zone"
republish_interval = 600
""")
    cfg, effective = check_ok("good file", good)
    h.check("good file: listen", cfg.get("dns", {}).get("listen") == ["127.0.0.1:5353", "[::1]:5353"], cfg.get("dns"))
    h.check("good file: min_ttl", cfg.get("dns", {}).get("min_ttl") == 30, cfg.get("dns"))
    h.check("good file: default max_ttl kept", cfg.get("dns", {}).get("max_ttl") == 86400, cfg.get("dns"))
    h.check("good file: upstream", cfg.get("upstream", {}).get("servers") == ["127.0.0.1:1053"], cfg.get("upstream"))
    pub = cfg.get("publish", [{}])
    h.check("good file: publish key path relative to the config dir",
            pub[0].get("key") == os.path.join(d, "keys", "home.key"), pub)
    h.check("good file: republish_interval", pub[0].get("republish_interval") == 600, pub)

    # The effective config is itself a valid config that gives the same output.
    again = write(d, "effective.toml", effective)
    _, effective2 = check_ok("effective config re-checked", again)
    h.check("effective config is a fixed point", effective2 == effective, f"{effective}\n---\n{effective2}")

    # A Rust pkdns config.toml (v0.7 keys) is accepted and mapped.
    rust = write(d, "rust.toml", """
[general]
socket = "127.0.0.1:5300"
forward = "127.0.0.1:5301"
dns_over_http_socket = "127.0.0.1:3000"
verbose = true

[dns]
min_ttl = 60
max_ttl = 86400
query_rate_limit = 100
query_rate_limit_burst = 200
disable_any_queries = false
icann_cache_mb = 100
max_recursion_depth = 15

[dht]
dht_query_rate_limit = 5
dht_query_rate_limit_burst = 25
top_level_domain = "key"
""")
    cfg, _ = check_ok("Rust pkdns file", rust)
    h.check("Rust file: socket -> dns.listen", cfg.get("dns", {}).get("listen") == ["127.0.0.1:5300"], cfg.get("dns"))
    h.check("Rust file: forward -> upstream.servers", cfg.get("upstream", {}).get("servers") == ["127.0.0.1:5301"],
            cfg.get("upstream"))
    h.check("Rust file: dns_over_http_socket -> http.listen", cfg.get("http", {}).get("listen") == "127.0.0.1:3000",
            cfg.get("http"))
    h.check("Rust file: verbose -> log.level debug", cfg.get("log", {}).get("level") == "debug", cfg.get("log"))

    # Errors: one line naming the file, the line and the key.
    p = write(d, "unknown.toml", "[dns]\nmin_ttl = 60\nmin_tll = 60\n")
    check_error("unknown key", p, f"{p}: line 3: key 'dns.min_tll': unknown key")
    p = write(d, "unknown_section.toml", "# comment\n[doh]\ncert_path = \"x\"\n")
    check_error("unknown section", p, f"{p}: line 2: key 'doh': unknown section")
    p = write(d, "type.toml", "[upstream]\n\ntimeout_ms = \"2s\"\n")
    check_error("wrong type", p, f"{p}: line 3: key 'upstream.timeout_ms': expected an integer, got a string")
    p = write(d, "range.toml", "[dht]\nport = 70000\n")
    check_error("out of range", p, f"{p}: line 2: key 'dht.port': 70000 is out of range (0..65535)")
    p = write(d, "address.toml", "[dns]\nlisten = [\n  \"127.0.0.1:53\",\n  \"::1:53\",\n]\n")
    check_error("bad address", p,
                f"{p}: line 4: key 'dns.listen': '::1:53': IPv6 addresses need brackets, as in [::1]:53")
    p = write(d, "ttl.toml", "[dns]\nmin_ttl = 600\nmax_ttl = 60\n")
    check_error("min_ttl > max_ttl", p, f"{p}: line 3: key 'dns.max_ttl': min_ttl (600) is greater than max_ttl (60)")
    p = write(d, "conflict.toml", "[general]\nsocket = \"127.0.0.1:53\"\n[dns]\nlisten = [\"127.0.0.1:54\"]\n")
    check_error("alias conflict", p,
                f"{p}: line 4: key 'dns.listen': sets the same thing as 'general.socket' (line 2); keep one")

    p = write(d, "syntax.toml", "[dns]\nmin_ttl = = 1\n")
    r = h.run(["check-config", "-c", p])
    h.check("syntax error: exit 1", r.returncode == 1, f"rc={r.returncode} {r.stderr}")
    h.check("syntax error: names line and column", r.stderr.startswith(f"{p}: line 2, column "), r.stderr)

    missing = os.path.join(d, "missing.toml")
    r = h.run(["check-config", "-c", missing])
    h.check("missing file: exit 1", r.returncode == 1, f"rc={r.returncode} {r.stderr}")
    h.check("missing file: names the path", missing in r.stderr, r.stderr)

    r = h.run(["check-config"])
    h.check("check-config without -c is a usage error (exit 2)", r.returncode == 2, f"rc={r.returncode} {r.stderr}")

    # serve validates the config and its flags before anything else: exit 2, one clear line.
    bad = os.path.join(d, "unknown.toml")
    r = h.run(["serve", "-c", bad], timeout=10)
    h.check("serve with a bad config: exit 2", r.returncode == 2, f"rc={r.returncode} {r.stderr}")
    h.check("serve with a bad config: names key and line", "line 3: key 'dns.min_tll'" in r.stderr, r.stderr)
    r = h.run(["serve", "-c", good, "--listen", "127.0.0.1"], timeout=10)
    h.check("serve with a bad --listen: exit 2", r.returncode == 2, f"rc={r.returncode} {r.stderr}")
    h.check("serve with a bad --listen: names the flag", "--listen: '127.0.0.1'" in r.stderr, r.stderr)
    r = h.run(["serve", "--dht-port", "65536"], timeout=10)
    h.check("serve with a bad --dht-port: exit 2", r.returncode == 2, f"rc={r.returncode} {r.stderr}")


if __name__ == "__main__":
    h.run_main(main)
