#!/usr/bin/env bash
# Runs every benchmark in bench/ (each *.py with /usr/bin/python3, each *.sh but this one
# with bash) and prints their figures. `make bench` calls it with MENTIS_BIN_DIR=build/release.
# Benchmarks report figures and never judge timings; this fails only when one cannot run.
# startup.py goes first: it measures idle processes, best before the load benchmarks have
# warmed (and dirtied) the machine. Names as arguments run only those: run.sh gateway
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir=${MENTIS_BIN_DIR:-$here/../build/release}
[[ $bin_dir == /* ]] || bin_dir=$PWD/$bin_dir # relative to where we were called from
export MENTIS_BIN_DIR=$bin_dir

benches=("$here/startup.py")
for bench in "$here"/*.py "$here"/*.sh; do
  if [[ -f $bench && $bench != "$here/run.sh" && $bench != "$here/startup.py" ]]; then
    benches+=("$bench")
  fi
done
if (($#)); then
  wanted=()
  for want in "$@"; do
    found=
    for bench in "${benches[@]}"; do
      b=$(basename "$bench")
      [[ $b == "$want" || ${b%.*} == "$want" ]] && found=$bench
    done
    [[ -n $found ]] || { echo "no benchmark named $want in $here" >&2; exit 2; }
    wanted+=("$found")
  done
  benches=("${wanted[@]}")
fi

failed=()
for bench in "${benches[@]}"; do
  [[ -f $bench ]] || continue
  name=$(basename "$bench")
  printf '\n=== %s\n\n' "$name"
  case $name in
    *.py) runner=(/usr/bin/python3) ;;
    *.sh) runner=(bash) ;;
  esac
  if ! "${runner[@]}" "$bench"; then failed+=("$name"); fi
done

if ((${#failed[@]})); then
  printf '\nbenchmarks that could not run: %s\n' "${failed[*]}" >&2
  exit 1
fi
