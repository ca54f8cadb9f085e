#!/usr/bin/env bash
# bench/doh.sh: DNS over HTTPS throughput and latency of `pkdns serve` next to plain UDP for the
# same cached name, in the same run and against the same process. Builds nothing.
#
#   bench/doh.sh [--pkdns PATH] [--out DIR] [--duration S] [--clients N] [--streams M]
#
# A 10-node `pkdns testnet`, one key published with an A record (TTL 3600), one pkdns serve
# (DNS on 127.0.0.1:5391, HTTP on 127.0.0.1:5392, rate limits off: all load comes from
# 127.0.0.1). The name is asked once to fill the cache, then:
#   - h2load over h2c (prior knowledge), GET /dns-query?dns=<base64url>, -c N clients with
#     -m M streams each, -t 1, bounded by -D S seconds;
#   - dnsperf over UDP for the same name, -c N -q N*M -T 1, bounded by -l S seconds.
# Prints req/s and mean latency of both. Loopback only; every process started here is stopped
# by PID on exit. Not part of ctest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PKDNS=$ROOT/build/pkdns
OUT=$ROOT/build/bench-out/doh-$(date +%Y%m%d-%H%M%S)
DUR=10
CLIENTS=4
STREAMS=16
DNS_PORT=5391
HTTP_PORT=5392

while [ $# -gt 0 ]; do
  case "$1" in
    --pkdns) PKDNS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --duration) DUR=$2; shift 2;;
    --clients) CLIENTS=$2; shift 2;;
    --streams) STREAMS=$2; shift 2;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0;;
    *) echo "unknown option: $1" >&2; exit 2;;
  esac
done

PKDNS=$(cd "$(dirname "$PKDNS")" && pwd)/$(basename "$PKDNS")
[ -x "$PKDNS" ] || { echo "no pkdns binary at $PKDNS (build it first, or pass --pkdns)" >&2; exit 2; }
for tool in h2load dnsperf kdig; do
  command -v $tool >/dev/null || { echo "$tool missing (packaging/install-deps.sh --bench)" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/doh-bench.log" >&2; }
log "pkdns: $PKDNS; load average: $(cut -d' ' -f1-3 /proc/loadavg); cpus: $(nproc)"

PIDS=()
cleanup() {
  local pid i
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PKDNS" testnet --nodes 10 > "$OUT/testnet.out" 2> "$OUT/testnet.err" & PIDS+=($!)
for i in $(seq 100); do grep -q bootstrap "$OUT/testnet.out" 2>/dev/null && break; sleep 0.1; done
BOOT=$(python3 -c 'import json,sys; print(",".join(json.loads(open(sys.argv[1]).readline())["bootstrap"]))' "$OUT/testnet.out")
B1=$(echo "$BOOT" | cut -d, -f1)
Z32=$("$PKDNS" keygen --out "$OUT/bench.key" | tail -1 | awk '{print $NF}')
printf '@ 3600 IN A 198.19.0.1\n' > "$OUT/bench.zone"
"$PKDNS" publish --key "$OUT/bench.key" "$OUT/bench.zone" --bootstrap "$B1" > "$OUT/publish.log" 2>&1
NAME=$Z32.key

BOOT_TOML=$(echo "$BOOT" | sed 's/[^,][^,]*/"&"/g; s/,/, /g')
cat > "$OUT/pkdns.toml" <<EOF
[dns]
listen = ["127.0.0.1:$DNS_PORT"]
allow = ["127.0.0.0/8"]
query_rate_limit = 0
[upstream]
servers = ["127.0.0.1:9"]
[dht]
bootstrap = [$BOOT_TOML]
query_rate_limit = 0
[relay]
enabled = false
[cache]
path = ":memory:"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[log]
level = "warn"
EOF
"$PKDNS" serve -c "$OUT/pkdns.toml" > "$OUT/serve.log" 2>&1 & PIDS+=($!)
ready=0
for i in $(seq 100); do
  if kdig @127.0.0.1 -p "$DNS_PORT" "$NAME" A +short +timeout=1 +retry=0 2>/dev/null | grep -q '^198\.19\.0\.1$'; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || { log "pkdns serve did not answer $NAME"; tail -5 "$OUT/serve.log" >&2; exit 1; }

# The DoH GET URL for "$NAME A" (id 0, RD, as RFC 8484 recommends for caching).
Q=$(python3 - "$NAME" <<'PY'
import base64, struct, sys
name = sys.argv[1]
wire = struct.pack(">HHHHHH", 0, 0x0100, 1, 0, 0, 0)
for label in name.split("."):
    wire += bytes([len(label)]) + label.encode()
wire += b"\x00" + struct.pack(">HH", 1, 1)
print(base64.urlsafe_b64encode(wire).decode().rstrip("="))
PY
)
URL="http://127.0.0.1:$HTTP_PORT/dns-query?dns=$Q"
curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' "$URL" | grep -q 200 || { log "DoH GET failed"; exit 1; }
echo "$NAME A" > "$OUT/queries.txt"

log "h2load: h2c, $CLIENTS clients x $STREAMS streams, ${DUR}s"
h2load -D "$DUR" -c "$CLIENTS" -m "$STREAMS" -t 1 "$URL" > "$OUT/h2load.txt" 2>&1 || true
log "dnsperf: UDP, $CLIENTS clients, $((CLIENTS * STREAMS)) outstanding, ${DUR}s"
dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$OUT/queries.txt" -c "$CLIENTS" -q $((CLIENTS * STREAMS)) -T 1 -l "$DUR" \
  > "$OUT/dnsperf.txt" 2>&1 || true

python3 - "$OUT/h2load.txt" "$OUT/dnsperf.txt" <<'PY' | tee "$OUT/summary.md"
import re, sys
h2 = open(sys.argv[1]).read()
dp = open(sys.argv[2]).read()
def grab(pattern, text, default="nan"):
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else default
h2_rps = grab(r"finished in [\d.]+\w*, ([\d.]+) req/s", h2)
h2_ok = grab(r"requests: .*?(\d+) succeeded", h2)
h2_fail = grab(r"requests: .*?(\d+) failed", h2)
h2_status = grab(r"status codes: (.*)$", h2)
lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", h2)
h2_mean = lat.group(3) if lat else "nan"
dp_qps = grab(r"Queries per second:\s+([\d.]+)", dp)
dp_avg = grab(r"Average Latency \(s\):\s+([\d.]+)", dp)
dp_lost = grab(r"Queries lost:\s+(\d+)", dp)
dp_avg_ms = f"{float(dp_avg) * 1000:.3f}ms" if dp_avg != "nan" else "nan"
print("| transport | req/s | mean latency | notes |")
print("| --- | --- | --- | --- |")
print(f"| DoH GET, h2c (h2load) | {h2_rps} | {h2_mean} | {h2_ok} ok, {h2_fail} failed; {h2_status} |")
print(f"| UDP (dnsperf) | {dp_qps} | {dp_avg_ms} | {dp_lost} lost |")
PY
