#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package that the build, the tests and the benchmarks
# use; only what is missing. Idempotent. Daemons (nsd, ...) are kept from auto-starting.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git ccache
  libldns-dev libuv1-dev libsodium-dev libsqlite3-dev libtomlplusplus-dev catch2
  libspdlog-dev libfmt-dev libcli11-dev libcurl4-openssl-dev libh2o-dev libssl-dev
  nlohmann-json3-dev
  clang-16 libclang-rt-16-dev llvm-16
  nsd knot-dnsutils bind9-dnsutils dnsperf
  python3 curl openssl
)
# `--bench`: also the peers and load generators of bench/ (dns-bench's resolvers, h2load).
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(unbound dnsmasq dnsdist pdns-recursor tcpdump nghttp2-client gcc libc6-dev)
fi
# Node.js may come from elsewhere (nodesource's nodejs bundles npm and conflicts with Debian's
# npm package): ask for Debian's only when the commands are missing.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  created=1
fi
trap '[ "$created" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
