#!/usr/bin/env bash
# Writes docs/configuration.md from the binaries themselves (`--config`), so the table can
# never drift from what the code reads. `--check` compares instead of writing (a test).
#   scripts/config-docs.sh [--check] [BUILD_DIR]      (default BUILD_DIR: build/release)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=false
if [[ ${1:-} == --check ]]; then check=true; shift; fi
BIN=${1:-$ROOT/build/release}
OUT=$ROOT/docs/configuration.md

generate() {
  cat <<'HEAD'
# Configuration

Every mentis process is configured by environment variables only, all prefixed
`MENTIS_`. A variable marked "(or `_FILE`)" is a secret: give either the value or, with
the `_FILE` suffix, the path of a file that holds it (one trailing newline is dropped);
giving both is refused. A process checks every setting at start and refuses to start —
exit code 2, one line per bad variable, each naming it — rather than run with a value it
does not understand.

This page is generated from the binaries (`mentis-<name> --config`) by
`scripts/config-docs.sh`; a test fails when it is out of date.
HEAD
  local name
  for name in gateway auth kb curriculum metrics tts jobs; do
    local bin=$BIN/services/$name/mentis-$name
    [[ $name == gateway ]] && bin=$BIN/gateway/mentis-gateway
    [[ -x $bin ]] || { echo "config-docs: missing $bin (build first)" >&2; exit 1; }
    printf '\n## mentis-%s\n\n' "$name"
    # Settings come from the environment: describe the defaults, not this shell's values.
    env -i PATH="$PATH" "$bin" --config
  done
}

if $check; then
  if ! diff -u "$OUT" <(generate); then
    echo "docs/configuration.md is out of date: run scripts/config-docs.sh $BIN" >&2
    exit 1
  fi
  echo "docs/configuration.md is up to date"
else
  generate > "$OUT"
  echo "wrote $OUT" >&2
fi
