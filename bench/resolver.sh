#!/usr/bin/env bash
# bench/resolver.sh: pkdns as a caching forwarder against the dns-bench peers, plus a PKARR
# cache-hit run. Builds nothing: pass the binary (default build/pkdns).
#
#   bench/resolver.sh [--pkdns PATH] [--out DIR] [--runs N] [--duration S] [--lat-duration S]
#                     [--subjects LIST] [--keys N] [--no-dns-bench] [--no-pkarr]
#
# 1. ../shared/tools/dns-bench/bench.sh (NSD upstream on 127.0.0.1:5301; unbound, dnsmasq,
#    dnsdist, pdns-recursor as peers; a UDP reflector as the ceiling) with pkdns as --target on
#    127.0.0.1:5380, one process, one thread, forwarding to 127.0.0.1:5301. Its config turns
#    the per-client query and DHT rate limits off (query_rate_limit = 0): every query of the
#    benchmark comes from 127.0.0.1, which a real deployment would limit to 100/s.
# 2. The PKARR hit run: its own NSD (same zone, 127.0.0.1:5302), a `pkdns testnet` (20 nodes),
#    --keys keys (default 100) published with A/AAAA/TXT records (TTL 3600), one pkdns serve on
#    127.0.0.1:5381 bootstrapping from the testnet; every name warmed once, then dnsperf on
#    the PKARR hit set and on dns-bench's ICANN hit set against that same process, interleaved:
#    throughput (-c 4 -q 200 -T 1 -l DURATION, as dns-bench's hit mode) and latency at a fixed
#    offered load (-Q 20000 -l LAT_DURATION -v; p50/p99 from the per-query lines, as
#    dns-bench's report.py does). Prints a markdown table; everything goes to --out.
#
# Loopback only, every dnsperf bounded by -l, every process started here stopped by PID on exit.
# Peers come from packaging/install-deps.sh --bench (run first; a no-op when installed).
# Not part of ctest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DNSBENCH=${DNSBENCH:-$ROOT/../shared/tools/dns-bench}
PKDNS=$ROOT/build/pkdns
OUT=$ROOT/build/bench-out/resolver-$(date +%Y%m%d-%H%M%S)
RUNS=3
DUR=15
LAT_DUR=10
SUBJECTS=""
KEYS=100
DO_DNSBENCH=1
DO_PKARR=1
TARGET_PORT=5380
PKARR_PORT=5381
NSD_PORT=5302
NODES=20

while [ $# -gt 0 ]; do
  case "$1" in
    --pkdns) PKDNS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --runs) RUNS=$2; shift 2;;
    --duration) DUR=$2; shift 2;;
    --lat-duration) LAT_DUR=$2; shift 2;;
    --subjects) SUBJECTS=$2; shift 2;;
    --keys) KEYS=$2; shift 2;;
    --no-dns-bench) DO_DNSBENCH=0; shift;;
    --no-pkarr) DO_PKARR=0; shift;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0;;
    *) echo "unknown option: $1" >&2; exit 2;;
  esac
done

PKDNS=$(cd "$(dirname "$PKDNS")" && pwd)/$(basename "$PKDNS")
[ -x "$PKDNS" ] || { echo "no pkdns binary at $PKDNS (build it first, or pass --pkdns)" >&2; exit 2; }
"$ROOT/packaging/install-deps.sh" --bench
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/resolver-bench.log" >&2; }
log "pkdns: $PKDNS; load average: $(cut -d' ' -f1-3 /proc/loadavg); cpus: $(nproc)"

declare -A PIDS=()
stop_pid() {  # TERM, then KILL after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local name
  for name in "${!PIDS[@]}"; do stop_pid "${PIDS[$name]}"; done
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pkdns_config() {  # pkdns_config FILE PORT UPSTREAM_PORT DB [BOOTSTRAP,...]
  local boot=""
  [ -n "${5:-}" ] && boot=$(echo "$5" | sed 's/[^,][^,]*/"&"/g; s/,/, /g')
  cat > "$1" <<EOF
# Benchmark config: loopback only; rate limits off (all load comes from 127.0.0.1).
[dns]
listen = ["127.0.0.1:$2"]
allow = ["127.0.0.0/8"]
query_rate_limit = 0
[upstream]
servers = ["127.0.0.1:$3"]
timeout_ms = 2000
[dht]
bootstrap = [$boot]
query_rate_limit = 0
[relay]
enabled = false
[cache]
path = "$4"
[log]
level = "warn"
EOF
}

# ---------------------------------------------------------------- 1. dns-bench with pkdns as target
if [ "$DO_DNSBENCH" = 1 ]; then
  pkdns_config "$OUT/pkdns-dnsbench.toml" "$TARGET_PORT" 5301 "$OUT/pkdns-dnsbench.db"
  rm -f "$OUT/pkdns-dnsbench.db"
  args=(--out "$OUT/dns-bench" --target "127.0.0.1:$TARGET_PORT" --target-name pkdns
        --target-start "exec '$PKDNS' serve -c '$OUT/pkdns-dnsbench.toml'"
        --runs "$RUNS" --duration "$DUR" --lat-duration "$LAT_DUR")
  [ -n "$SUBJECTS" ] && args+=(--subjects "$SUBJECTS")
  log "dns-bench: ${args[*]}"
  "$DNSBENCH/bench.sh" "${args[@]}" > "$OUT/dns-bench.stdout" 2>&1 || { tail -20 "$OUT/dns-bench.stdout" >&2; exit 1; }
  log "dns-bench done (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
fi

# ---------------------------------------------------------------- 2. PKARR vs ICANN cache hits
if [ "$DO_PKARR" = 1 ]; then
  P=$OUT/pkarr; mkdir -p "$P/raw" "$P/keys" "$P/zones" "$P/nsd"
  # ICANN side: NSD with dns-bench's zone on its own port.
  python3 "$DNSBENCH/gen_zone.py" -o "$P/nsd/example.test.zone"
  python3 "$DNSBENCH/gen_queries.py" hit -o "$P/icann-hit.txt"
  sed -e "s|@RUN@|$P/nsd|g" -e "s|@ADDR@|127.0.0.1|g" -e "s|@PORT@|$NSD_PORT|g" \
      "$DNSBENCH/conf/nsd.conf.in" > "$P/nsd/nsd.conf"
  nsd -d -c "$P/nsd/nsd.conf" > "$P/nsd/out.log" 2>&1 & PIDS[nsd]=$!

  # PKARR side: a loopback testnet and KEYS published keys.
  "$PKDNS" testnet --nodes "$NODES" > "$P/testnet.out" 2> "$P/testnet.err" & PIDS[testnet]=$!
  for i in $(seq 100); do grep -q bootstrap "$P/testnet.out" 2>/dev/null && break; sleep 0.1; done
  BOOT=$(python3 -c 'import json,sys; print(",".join(json.loads(open(sys.argv[1]).readline())["bootstrap"]))' "$P/testnet.out")
  B1=$(echo "$BOOT" | cut -d, -f1); B2=$(echo "$BOOT" | cut -d, -f2)
  : > "$P/pkarr-hit.txt"
  types=(A AAAA TXT)
  for i in $(seq 0 $((KEYS - 1))); do
    z=$("$PKDNS" keygen --out "$P/keys/k$i.key" | tail -1 | awk '{print $NF}')
    printf '@ 3600 IN A 198.19.%d.%d\n@ 3600 IN AAAA 2001:db8::%x\n@ 3600 IN TXT "pkarr bench key %d"\n' \
      $((i / 256)) $((i % 256)) "$i" "$i" > "$P/zones/k$i.zone"
    echo "$z ${types[$((i % 3))]}" >> "$P/pkarr-hit.txt"
  done
  log "publishing $KEYS keys to the testnet ($B1, $B2)"
  seq 0 $((KEYS - 1)) | xargs -P 8 -I{} sh -c \
    "'$PKDNS' publish --key '$P/keys/k{}.key' '$P/zones/k{}.zone' --bootstrap $B1 --bootstrap $B2 >> '$P/publish.log' 2>&1 || echo 'k{} failed' >> '$P/publish.failed'"
  [ -s "$P/publish.failed" ] && { log "publish failures: $(wc -l < "$P/publish.failed")"; }

  pkdns_config "$P/pkdns.toml" "$PKARR_PORT" "$NSD_PORT" "$P/pkdns.db" "$BOOT"
  bash -c "exec '$PKDNS' serve -c '$P/pkdns.toml'" > "$P/serve.log" 2>&1 & PIDS[pkdns]=$!
  SERVE_PID=${PIDS[pkdns]}
  ready=0
  for i in $(seq 100); do
    if kdig @127.0.0.1 -p "$PKARR_PORT" h00000.example.test A +short +timeout=1 +retry=0 2>/dev/null | grep -q '^198\.18\.'; then ready=1; break; fi
    sleep 0.2
  done
  [ "$ready" = 1 ] || { log "pkdns serve did not answer"; tail -5 "$P/serve.log" >&2; exit 1; }
  # Warm every name once (PKARR: one DHT lookup per key), then check every answer is NOERROR.
  for set in pkarr icann; do
    dnsperf -s 127.0.0.1 -p "$PKARR_PORT" -d "$P/$set-hit.txt" -n 1 -Q 200 -l 30 > "$P/raw/warm-$set.txt" 2>&1 || true
    dnsperf -s 127.0.0.1 -p "$PKARR_PORT" -d "$P/$set-hit.txt" -n 1 -Q 2000 -l 10 > "$P/raw/check-$set.txt" 2>&1 || true
    log "warm $set: $(grep 'Response codes' "$P/raw/check-$set.txt" | sed 's/^ *//')"
  done

  cpu() { sed 's/^.*) //' "/proc/$SERVE_PID/stat" | awk '{print $12 + $13}'; }
  HZ=$(getconf CLK_TCK)
  printf 'round\tset\tkind\tqps\tavg_ms\tlost_pct\trcodes\tp50_ms\tp99_ms\tcpu_s\tcompleted\n' > "$P/results.tsv"
  for round in $(seq "$RUNS"); do
    order="pkarr icann"; [ $((round % 2)) = 0 ] && order="icann pkarr"
    for set in $order; do
      for kind in tp lat; do
        raw=$P/raw/r$round-$set-$kind.txt
        c0=$(cpu)
        if [ $kind = tp ]; then
          dnsperf -s 127.0.0.1 -p "$PKARR_PORT" -d "$P/$set-hit.txt" -c 4 -q 200 -T 1 -l "$DUR" > "$raw" 2>&1 || true
        else
          dnsperf -s 127.0.0.1 -p "$PKARR_PORT" -d "$P/$set-hit.txt" -c 4 -q 200 -T 1 -l "$LAT_DUR" -Q 20000 -v > "$raw" 2>&1 || true
        fi
        c1=$(cpu)
        IFS=$'\t' read -r qps avg lost rc done_q < <(python3 "$DNSBENCH/report.py" parse "$raw")
        p50=nan; p99=nan
        if [ $kind = lat ]; then
          IFS=$'\t' read -r avg p50 p99 lost _ < <(python3 "$DNSBENCH/report.py" lat "$raw")
          grep -v '^> ' "$raw" > "$raw.tmp" && mv "$raw.tmp" "$raw"
        fi
        cpu_s=$(python3 -c "print(f'{($c1-$c0)/$HZ:.2f}')")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$set" "$kind" "$qps" "$avg" "$lost" "$rc" \
          "$p50" "$p99" "$cpu_s" "$done_q" >> "$P/results.tsv"
        log "r$round $set $kind: $qps qps, avg $avg ms, p50 $p50 p99 $p99 ms, lost $lost%, pkdns cpu ${cpu_s}s [$rc]"
      done
    done
  done
  python3 "$HERE/resolver_report.py" "$P/results.tsv" > "$P/summary.md"
fi

# ---------------------------------------------------------------- report
{
  echo "# bench/resolver.sh $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "pkdns: $PKDNS; runs $RUNS, throughput runs $DUR s, latency runs $LAT_DUR s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$DO_DNSBENCH" = 1 ]; then echo; echo "## dns-bench (pkdns = target)"; echo; sed -n '/^| resolver/,/^$/p' "$OUT/dns-bench/summary.md"; fi
  if [ "$DO_PKARR" = 1 ]; then echo; echo "## PKARR vs ICANN cache hits, same pkdns process"; echo; cat "$OUT/pkarr/summary.md"; fi
} > "$OUT/summary.md"
cat "$OUT/summary.md"
log "results in $OUT"
