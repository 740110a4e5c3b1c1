#!/usr/bin/env bash
# Installs the Debian packages mentis needs that are missing. As root it runs apt-get;
# otherwise it prints the exact command and fails. Usage: scripts/deps.sh [build|run|test|bench]
set -euo pipefail

build=(cmake make pkg-config gcc clang libclang-rt-14-dev
       libnats-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev libwebsockets-dev
       libcjson-dev libcurl4-openssl-dev libsodium-dev)
run=(nats-server postgresql-15 curl)
test=(python3 procps)
bench=(wrk nginx-light)

want=("${build[@]}")
case "${1:-build}" in
  build) ;;
  run) want+=("${run[@]}") ;;
  test) want+=("${run[@]}" "${test[@]}") ;;
  bench) want+=("${run[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 [build|run|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "mentis needs these Debian packages: ${missing[*]}" >&2
  echo "run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Update the package lists at most once a day; a stale list cannot find new packages.
lists_fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)
if [[ -z "$lists_fresh" ]]; then
  apt-get update -qq
fi
if ! $cmd -qq; then
  apt-get update -qq
  $cmd -qq
fi
