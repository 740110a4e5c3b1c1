#!/usr/bin/env bash
# The local mentis stack: a private nats-server and PostgreSQL cluster, the six services and
# the gateway, all under one run directory (.run/ by default).
#
#   scripts/stack.sh run [--infra]   start everything (--infra: only nats and PostgreSQL) and
#                                    wait; Ctrl-C stops everything in order
#   scripts/stack.sh start <name>    (re)start one process of a running stack
#   scripts/stack.sh stop            stop the stack running in the run directory
#   scripts/stack.sh status          show what runs
#
# Settings (environment; `run` records the ones it used in <run dir>/stack.env):
#   MENTIS_RUN_DIR          run directory                        (default: <repo>/.run)
#   MENTIS_BIN_DIR          build directory holding the binaries (default: <repo>/build/release)
#   MENTIS_NATS_PORT        nats-server client port              (default: 4222)
#   MENTIS_PG_PORT          PostgreSQL port                      (default: 5433)
#   MENTIS_ADMIN_PORT_BASE  admin port of auth; kb, curriculum, metrics, tts, jobs follow;
#                           the gateway's admin port is base-1   (default: 9101)
#   MENTIS_GATEWAY_ADDR     gateway listen address               (default: 127.0.0.1)
#   MENTIS_GATEWAY_PORT     gateway HTTP/WebSocket port          (default: 8766)
#   MENTIS_READY_TIMEOUT    seconds a process may take to become ready (default: 60)
#   MENTIS_STOP_GRACE       seconds between SIGTERM and SIGKILL  (default: 15)
# Any other MENTIS_* variable (MENTIS_LOG_LEVEL, …) is passed through to every process.
# The first `run` makes a platform admin, admin@mentis.local, with a random password kept in
# <run dir>/admin-credentials and shown when the stack is up, unless
# MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL and _PASSWORD (or _PASSWORD_FILE) name another.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=(auth kb curriculum metrics tts jobs)
DB_SERVICES=(auth kb curriculum metrics jobs) # the services that own a schema
PG_BIN=${MENTIS_PG_BIN:-/usr/lib/postgresql/15/bin}
NATS_SERVER=${MENTIS_NATS_SERVER:-/usr/sbin/nats-server}

say() { printf 'stack: %s\n' "$*" >&2 || true; } # never fails: stderr may be a closed pipe
die() { say "$*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Settings

abs_path() { # makes a path absolute against the current directory without requiring it to exist
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# Reads the settings from the environment (for `run`) and derives every path and port.
load_settings_from_env() {
  RUN_DIR=$(abs_path "${MENTIS_RUN_DIR:-$ROOT/.run}")
  BIN_DIR=$(abs_path "${MENTIS_BIN_DIR:-$ROOT/build/release}")
  NATS_PORT=${MENTIS_NATS_PORT:-4222}
  PG_PORT=${MENTIS_PG_PORT:-5433}
  ADMIN_PORT_BASE=${MENTIS_ADMIN_PORT_BASE:-9101}
  GATEWAY_ADDR=${MENTIS_GATEWAY_ADDR:-127.0.0.1}
  GATEWAY_PORT=${MENTIS_GATEWAY_PORT:-8766}
  MODE=full
  derive_paths
}

# Reads the settings a running stack recorded (for start, stop and status).
load_settings_from_stack_env() {
  local dir
  dir=$(abs_path "${MENTIS_RUN_DIR:-$ROOT/.run}")
  [[ -f $dir/stack.env ]] || die "no stack in $dir (no stack.env); start one with: scripts/stack.sh run"
  # shellcheck source=/dev/null
  source "$dir/stack.env"
  RUN_DIR=$MENTIS_RUN_DIR BIN_DIR=$MENTIS_BIN_DIR NATS_PORT=$MENTIS_NATS_PORT
  PG_PORT=$MENTIS_PG_PORT ADMIN_PORT_BASE=$MENTIS_ADMIN_PORT_BASE
  GATEWAY_ADDR=$MENTIS_GATEWAY_ADDR GATEWAY_PORT=$MENTIS_GATEWAY_PORT MODE=$MENTIS_STACK_MODE
  derive_paths
}

derive_paths() {
  LOG_DIR=$RUN_DIR/logs PID_DIR=$RUN_DIR/pids SECRET_DIR=$RUN_DIR/secrets
  NATS_DIR=$RUN_DIR/nats PG_DIR=$RUN_DIR/pg PG_DATA=$RUN_DIR/pg/data
  NATS_URL=nats://127.0.0.1:$NATS_PORT
  READY_TIMEOUT=${MENTIS_READY_TIMEOUT:-60}
  # Longer than the services' own drain (MENTIS_SHUTDOWN_GRACE_MS, 10 s by default).
  STOP_GRACE=${MENTIS_STOP_GRACE:-15}
  # PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
  if [[ $(id -u) -eq 0 ]]; then PG_OS_USER=postgres; else PG_OS_USER=$(id -un); fi
  PG_SUPERUSER=$PG_OS_USER # initdb names the superuser after the cluster owner; peer auth matches
  for n in "$NATS_PORT" "$PG_PORT" "$ADMIN_PORT_BASE" "$GATEWAY_PORT" "$READY_TIMEOUT" "$STOP_GRACE"; do
    [[ $n =~ ^[0-9]+$ ]] || die "not a number: '$n' (check the MENTIS_*_PORT settings)"
  done
}

admin_port() { # name → its admin port
  local i
  [[ $1 == gateway ]] && { echo $((ADMIN_PORT_BASE - 1)); return; }
  for i in "${!SERVICES[@]}"; do
    [[ ${SERVICES[$i]} == "$1" ]] && { echo $((ADMIN_PORT_BASE + i)); return; }
  done
  return 1
}

binary_of() { # name → path of its executable
  case $1 in
    nats) echo "$NATS_SERVER" ;;
    postgres) echo "$PG_BIN/postgres" ;;
    gateway) echo "$BIN_DIR/gateway/mentis-gateway" ;;
    *) echo "$BIN_DIR/services/$1/mentis-$1" ;;
  esac
}

# Every process of the stack in start order; stop order is the reverse.
all_names() {
  if [[ $MODE == infra ]]; then echo nats postgres; else echo nats postgres "${SERVICES[@]}" gateway; fi
}

is_name() {
  local n
  for n in nats postgres "${SERVICES[@]}" gateway; do [[ $n == "$1" ]] && return 0; done
  return 1
}

write_stack_env() {
  local tmp=$RUN_DIR/stack.env.tmp
  {
    echo "# Written by scripts/stack.sh run; read by scripts/stack.sh start|stop|status."
    printf 'MENTIS_RUN_DIR=%q\n' "$RUN_DIR"
    printf 'MENTIS_BIN_DIR=%q\n' "$BIN_DIR"
    printf 'MENTIS_STACK_MODE=%q\n' "$MODE"
    printf 'MENTIS_NATS_PORT=%q\n' "$NATS_PORT"
    printf 'MENTIS_NATS_URL=%q\n' "$NATS_URL"
    printf 'MENTIS_PG_PORT=%q\n' "$PG_PORT"
    printf 'MENTIS_PG_SOCKET_DIR=%q\n' "$PG_DIR"
    printf 'MENTIS_PG_SUPERUSER=%q\n' "$PG_SUPERUSER"
    printf 'MENTIS_ADMIN_PORT_BASE=%q\n' "$ADMIN_PORT_BASE"
    printf 'MENTIS_GATEWAY_ADDR=%q\n' "$GATEWAY_ADDR"
    printf 'MENTIS_GATEWAY_PORT=%q\n' "$GATEWAY_PORT"
    printf '# admin ports: gateway=%s' "$(admin_port gateway)"
    for s in "${SERVICES[@]}"; do printf ' %s=%s' "$s" "$(admin_port "$s")"; done
    echo
  } >"$tmp"
  mv "$tmp" "$RUN_DIR/stack.env"
}

# ---------------------------------------------------------------------------------------------
# Processes

# True when the pid names a live process (a zombie is dead: it only waits to be reaped).
alive() {
  local stat
  [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # the command name in parentheses may contain spaces
  [[ ${stat%% *} != [ZX] ]]
}

# Prints the pid of a running process of the stack, or fails. The command line is checked
# too, so a pid file left behind after a crash never makes us signal an unrelated process.
pid_of() {
  local pid want
  pid=$(cat "$PID_DIR/$1.pid" 2>/dev/null) || return 1
  alive "$pid" || return 1
  want=$(basename "$(binary_of "$1")")
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want" || return 1
  echo "$pid"
}

runner_pid() { # pid of the `stack.sh run` that owns the run directory, if it still runs
  local pid
  pid=$(cat "$RUN_DIR/stack.pid" 2>/dev/null) || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'stack.sh' || return 1
  echo "$pid"
}

port_in_use() { # something accepts connections on 127.0.0.1:<port>
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

as_pg_user() { # runs a PostgreSQL tool as the cluster owner, from a directory it can enter
  if [[ $(id -u) -eq 0 ]]; then
    (cd "$PG_DIR" && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

psql_super() {
  as_pg_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

show_log_tail() {
  local log=$LOG_DIR/$1.log
  if [[ -s $log ]]; then
    say "last lines of $log:"
    tail -n 25 "$log" | sed 's/^/    /' >&2
  else
    say "$log is empty"
  fi
}

# launch <name> [VAR=value ...] -- <command> [args ...]
# Starts a process in its own session (so a Ctrl-C in the terminal reaches only this script,
# which then stops everything in order), with the run directory as its working directory,
# its output appended to logs/<name>.log and its pid in pids/<name>.pid.
launch() {
  local name=$1 pid
  local -a vars=()
  shift
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  # setsid does not fork here (the subshell leads no process group), so $! is the process.
  (cd "$RUN_DIR" && exec env -u MENTIS_DATABASE_URL "${vars[@]}" setsid "$@" \
    </dev/null >>"$LOG_DIR/$name.log" 2>&1) &
  pid=$!
  # Not a job of this shell: no "Killed" notice when someone kill -9s it (bash still reaps it).
  disown "$pid"
  echo "$pid" >"$PID_DIR/$name.pid"
}

http_ok() { # url → true on a 2xx answer
  curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null
}

nats_ready() { # the server greets a new connection with its INFO line
  (
    exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == INFO* ]]
  ) 2>/dev/null
}

# Waits until `check` succeeds for process `name`; on failure shows its log and fails.
wait_ready() {
  local name=$1 pid=$2 what=$3
  shift 3
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ! "$@"; do
    if ! alive "$pid"; then
      say "$name (pid $pid) exited before it became ready"
      show_log_tail "$name"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$name (pid $pid) is not ready after ${READY_TIMEOUT}s ($what)"
      show_log_tail "$name"
      return 1
    fi
    sleep 0.05
  done
}

start_nats() {
  # Messages up to 8 MiB (the default is 1 MiB), so a whole curriculum or question pack
  # travels as one request; the test harness starts its servers the same way.
  mkdir -p "$NATS_DIR"
  printf 'max_payload: 8MB\n' >"$NATS_DIR/nats.conf"
  launch nats -- "$NATS_SERVER" -c "$NATS_DIR/nats.conf" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" -n "mentis-local-$NATS_PORT"
  wait_ready nats "$(cat "$PID_DIR/nats.pid")" "no INFO on port $NATS_PORT" nats_ready
}

init_postgres() {
  say "creating the PostgreSQL cluster in $PG_DATA (first run)"
  as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >>"$LOG_DIR/postgres.log" 2>&1 ||
    { show_log_tail postgres; return 1; }
  # Loopback only; the socket is reachable by the cluster owner alone (and root).
  cat >>"$PG_DATA/postgresql.conf" <<'EOF'

# mentis local stack
listen_addresses = '127.0.0.1'
unix_socket_permissions = 0700
EOF
}

start_postgres() {
  [[ -s $PG_DATA/PG_VERSION ]] || init_postgres
  # -k/-p on the command line, so the socket and port always follow the current settings.
  if ! as_pg_user "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t "$READY_TIMEOUT" \
    -o "-p $PG_PORT -k '$PG_DIR'" >/dev/null 2>&1; then
    say "PostgreSQL did not start"
    show_log_tail postgres
    return 1
  fi
  head -n 1 "$PG_DATA/postmaster.pid" >"$PID_DIR/postgres.pid"
}

# Passwords are generated once; the URL files are rewritten every run (the port may change).
write_secrets() {
  local s pw
  (
    umask 077
    for s in "${DB_SERVICES[@]}"; do
      if [[ ! -s $SECRET_DIR/$s.password ]]; then
        od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$SECRET_DIR/$s.password"
      fi
      pw=$(cat "$SECRET_DIR/$s.password")
      printf 'postgresql://mentis_%s:%s@127.0.0.1:%s/mentis\n' "$s" "$pw" "$PG_PORT" >"$SECRET_DIR/$s.url"
    done
  )
}

bootstrap_database() {
  local sql=$ROOT/deploy/db/bootstrap.sql s
  [[ -f $sql ]] || die "$sql is missing: cannot create the database roles"
  if [[ -z $(psql_super -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'mentis'") ]]; then
    psql_super -d postgres -c 'CREATE DATABASE mentis'
  fi
  write_secrets
  # The passwords reach psql on stdin (\set), never on a command line other users could read.
  # bootstrap.sql is idempotent, so it runs on every start and picks up new roles and grants.
  {
    for s in "${DB_SERVICES[@]}"; do
      printf "\\\\set %s_password '%s'\n" "$s" "$(cat "$SECRET_DIR/$s.password")"
    done
    cat "$sql"
  } | psql_super -d mentis -f - >>"$LOG_DIR/bootstrap.log" 2>&1 || {
    say "deploy/db/bootstrap.sql failed"
    show_log_tail bootstrap
    return 1
  }
}

# The first admin of the stack. When the operator set MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL (and
# its password) those reach auth as they are; otherwise the first run makes
# admin@mentis.local with a random password, kept in <run dir>/admin-credentials (mode 600)
# and, alone, in secrets/admin.password for auth to read (never on a command line). auth
# creates the account only while the default tenant has no admin, so later runs change
# nothing. Sets ADMIN_EMAIL and ADMIN_PASSWORD (empty when the operator chose it).
admin_credentials() {
  local file=$RUN_DIR/admin-credentials pw
  ADMIN_EMAIL=${MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL:-} ADMIN_PASSWORD=
  [[ -n $ADMIN_EMAIL ]] && return 0
  if [[ ! -s $file || ! -s $SECRET_DIR/admin.password ]]; then
    pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
    (
      umask 077
      printf '%s' "$pw" >"$SECRET_DIR/admin.password"
      printf '# The first admin of this local stack (a platform admin of the default tenant).\nemail=%s\npassword=%s\n' \
        admin@mentis.local "$pw" >"$file"
    )
  fi
  chmod 600 "$file" "$SECRET_DIR/admin.password"
  ADMIN_EMAIL=$(sed -n 's/^email=//p' "$file")
  ADMIN_PASSWORD=$(cat "$SECRET_DIR/admin.password")
}

# A few of the published UMCF examples (../shared/umcf/examples), imported through the
# gateway as the admin, so a new user sees lessons at once. Ones already there (409) stay.
load_examples() {
  local dir=$ROOT/../shared/umcf/examples f token code n=0
  [[ -d $dir ]] || { say "no UMCF examples at $dir: no curricula loaded"; return 0; }
  [[ -n ${ADMIN_PASSWORD:-${MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD:-}} ]] ||
    { say "the admin password is not known here: no curricula loaded"; return 0; }
  token=$(curl -fsS --max-time 10 -H 'Content-Type: application/json' \
    --data-binary @- "http://127.0.0.1:$GATEWAY_PORT/api/auth/login" 2>/dev/null <<<"{\"email\":\"$ADMIN_EMAIL\",\"password\":\"${ADMIN_PASSWORD:-$MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD}\"}" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') || true
  [[ -n $token ]] || { say "cannot sign in as $ADMIN_EMAIL: no curricula loaded"; return 0; }
  for f in color-theory neural-networks-intro pytorch-fundamentals renaissance-history; do
    [[ -f $dir/$f.umcf ]] || continue
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' --data-binary "@$dir/$f.umcf" \
      "http://127.0.0.1:$GATEWAY_PORT/api/admin/curricula" 2>/dev/null) || code=000
    case $code in
      201) n=$((n + 1)) ;;
      409) ;;
      *) say "importing $f.umcf answered $code" ;;
    esac
  done
  say "curricula: $n example(s) imported from $dir"
}

start_mentis() { # launches one service or the gateway (does not wait)
  local name=$1
  local -a vars=(MENTIS_NATS_URL="$NATS_URL" MENTIS_ADMIN_ADDR=127.0.0.1
    MENTIS_ADMIN_PORT="$(admin_port "$name")")
  if [[ $name == gateway ]]; then
    vars+=(MENTIS_GATEWAY_ADDR="$GATEWAY_ADDR" MENTIS_GATEWAY_PORT="$GATEWAY_PORT")
  elif [[ " ${DB_SERVICES[*]} " == *" $name "* ]]; then
    vars+=(MENTIS_DATABASE_URL_FILE="$SECRET_DIR/$name.url")
  fi
  # Mail: without an SMTP relay, each message is written under <run dir>/mail as .eml (and
  # its link logged); links point at the local API, so a verification link works as is.
  if [[ $name == auth && -z ${MENTIS_SMTP_URL:-} && -z ${MENTIS_MAIL_DIR:-} ]]; then
    mkdir -p "$RUN_DIR/mail"
    vars+=(MENTIS_MAIL_DIR="$RUN_DIR/mail")
  fi
  if [[ $name == auth && -z ${MENTIS_PUBLIC_URL:-} ]]; then
    vars+=(MENTIS_PUBLIC_URL="http://127.0.0.1:$GATEWAY_PORT/api/auth")
  fi
  if [[ $name == auth && -z ${MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL:-} && -s $SECRET_DIR/admin.password ]]; then
    vars+=(MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL="$(sed -n 's/^email=//p' "$RUN_DIR/admin-credentials")"
      MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD_FILE="$SECRET_DIR/admin.password")
  fi
  launch "$name" "${vars[@]}" -- "$(binary_of "$name")"
}

wait_mentis_ready() {
  local name=$1
  local url
  url="http://127.0.0.1:$(admin_port "$name")/readyz"
  wait_ready "$name" "$(cat "$PID_DIR/$name.pid")" "GET $url" http_ok "$url"
}

start_one() { # (re)starts any process of the stack and waits until it is ready
  case $1 in
    nats) start_nats ;;
    postgres) start_postgres ;;
    *) start_mentis "$1" && wait_mentis_ready "$1" ;;
  esac
}

# SIGTERM, then SIGKILL after the grace period.
stop_proc() {
  local name=$1 pid i
  if [[ $name == postgres ]]; then
    stop_postgres
    return
  fi
  pid=$(pid_of "$name") || { rm -f "$PID_DIR/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    say "$name (pid $pid) still runs ${STOP_GRACE}s after SIGTERM: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.02; done
  fi
  rm -f "$PID_DIR/$name.pid"
}

stop_postgres() {
  if [[ -f $PG_DATA/postmaster.pid ]] && alive "$(head -n 1 "$PG_DATA/postmaster.pid")"; then
    as_pg_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$((STOP_GRACE + 20))" >/dev/null 2>&1 ||
      as_pg_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w >/dev/null 2>&1 ||
      say "PostgreSQL did not stop; see $LOG_DIR/postgres.log"
  fi
  rm -f "$PID_DIR/postgres.pid"
}

# Gateway first (no new requests), then the services together, then PostgreSQL, then NATS.
stop_all() {
  local n
  local -a stoppers=()
  if [[ $MODE == full ]]; then
    stop_proc gateway
    for n in "${SERVICES[@]}"; do
      stop_proc "$n" &
      stoppers+=($!)
    done
    # Only these: a bare `wait` would also wait for nats, a child of the runner still running.
    wait "${stoppers[@]}" || true
  fi
  stop_proc postgres
  stop_proc nats
}

# ---------------------------------------------------------------------------------------------
# Commands

STOPPED=0
runner_cleanup() {
  local rc=$?
  set +e
  # Ctrl-C on `make run | tee log` kills tee too: writing to it must not kill us before
  # everything is stopped.
  trap '' INT TERM HUP PIPE
  if ((STOPPED == 0)); then
    STOPPED=1
    [[ -n ${SLEEP_PID:-} ]] && kill "$SLEEP_PID" 2>/dev/null
    rm -f "$RUN_DIR/ready"
    say "stopping"
    stop_all
    rm -f "$RUN_DIR/stack.pid"
    say "stopped"
  fi
  exit "$rc"
}

cmd_run() {
  load_settings_from_env
  case ${1:-} in
    '') ;;
    --infra) MODE=infra ;;
    *) die "run: unknown option '$1' (usage: scripts/stack.sh run [--infra])" ;;
  esac

  # Refuse before touching anything.
  local pid n missing=() busy=()
  mkdir -p "$RUN_DIR"
  if pid=$(runner_pid); then
    die "a stack already runs in $RUN_DIR (pid $pid); stop it with: MENTIS_RUN_DIR=$RUN_DIR scripts/stack.sh stop"
  fi
  for n in nats postgres "${SERVICES[@]}" gateway; do
    if pid=$(pid_of "$n"); then busy+=("$n (pid $pid)"); fi
  done
  ((${#busy[@]} == 0)) || die "processes of an earlier stack still run in $RUN_DIR: ${busy[*]}; stop them with: MENTIS_RUN_DIR=$RUN_DIR scripts/stack.sh stop"
  if [[ $MODE == full ]]; then
    for n in "${SERVICES[@]}" gateway; do
      [[ -x $(binary_of "$n") ]] || missing+=("$(binary_of "$n")")
    done
    ((${#missing[@]} == 0)) || die "missing binaries (build them with: make build): ${missing[*]}"
  fi
  [[ -x $NATS_SERVER ]] || die "nats-server not found at $NATS_SERVER (install it with: scripts/deps.sh run)"
  [[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 not found in $PG_BIN (install it with: scripts/deps.sh run)"
  local -a ports=("nats:$NATS_PORT" "postgres:$PG_PORT")
  if [[ $MODE == full ]]; then
    ports+=("gateway:$GATEWAY_PORT" "gateway admin:$(admin_port gateway)")
    for n in "${SERVICES[@]}"; do ports+=("$n admin:$(admin_port "$n")"); done
  fi
  for n in "${ports[@]}"; do
    if port_in_use "${n##*:}"; then busy+=("${n##*:} (wanted for ${n%:*})"); fi
  done
  ((${#busy[@]} == 0)) || die "ports already in use: ${busy[*]}; another stack or program runs there. Pick other ports with MENTIS_NATS_PORT, MENTIS_PG_PORT, MENTIS_ADMIN_PORT_BASE, MENTIS_GATEWAY_PORT."

  mkdir -p "$RUN_DIR"/{logs,pids,nats,pg}
  mkdir -p "$RUN_DIR/secrets"
  chmod 700 "$RUN_DIR/secrets"
  touch "$LOG_DIR/postgres.log"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$PG_OS_USER:" "$PG_DIR" "$LOG_DIR/postgres.log"
    runuser -u "$PG_OS_USER" -- test -x "$PG_DIR" ||
      die "the $PG_OS_USER user cannot reach $PG_DIR: a parent directory is not searchable (chmod o+x it, or choose another MENTIS_RUN_DIR)"
  fi

  rm -f "$RUN_DIR/ready" # left behind if an earlier runner was killed
  echo $$ >"$RUN_DIR/stack.pid"
  write_stack_env
  trap runner_cleanup EXIT
  trap 'exit 0' INT TERM HUP # the EXIT trap stops everything; a clean stop is a success

  say "starting in $RUN_DIR"
  start_nats
  start_postgres
  bootstrap_database
  if [[ $MODE == full ]]; then
    admin_credentials
    # The services start together; each waits for nothing but NATS and PostgreSQL.
    for n in "${SERVICES[@]}"; do start_mentis "$n"; done
    for n in "${SERVICES[@]}"; do wait_mentis_ready "$n"; done
    start_one gateway
    load_examples
  fi
  : >"$RUN_DIR/ready"
  banner

  # Wait for Ctrl-C; meanwhile mention any process that dies.
  local -A noticed=()
  while :; do
    for n in $(all_names); do
      pid=$(cat "$PID_DIR/$n.pid" 2>/dev/null) || continue
      if ! alive "$pid" && [[ ${noticed[$n]:-} != "$pid" ]]; then
        noticed[$n]=$pid
        say "$n (pid $pid) is not running; see $LOG_DIR/$n.log; restart it with: MENTIS_RUN_DIR=$RUN_DIR scripts/stack.sh start $n"
      fi
    done
    sleep 1 &
    SLEEP_PID=$!
    wait "$SLEEP_PID" || true
  done
}

banner() {
  local n
  if [[ $MODE == infra ]]; then
    cat <<EOF

  nats and PostgreSQL are up (infrastructure only)
    NATS        $NATS_URL
    PostgreSQL  127.0.0.1:$PG_PORT, database mentis (URLs in $SECRET_DIR/<service>.url)
    logs        $LOG_DIR/
  Ctrl-C stops them.

EOF
    return
  fi
  cat <<EOF

  mentis is up: http://127.0.0.1:$GATEWAY_PORT
    admin: $ADMIN_EMAIL / ${ADMIN_PASSWORD:-(the password set in MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD)}
    health      http://127.0.0.1:$GATEWAY_PORT/api/health
    logs        $LOG_DIR/<name>.log
    admin       gateway :$(admin_port gateway)$(for n in "${SERVICES[@]}"; do printf ', %s :%s' "$n" "$(admin_port "$n")"; done) (/healthz /readyz /metrics)
    NATS        $NATS_URL    PostgreSQL 127.0.0.1:$PG_PORT
  Ctrl-C stops everything (or, from another terminal: MENTIS_RUN_DIR=$RUN_DIR scripts/stack.sh stop).

EOF
}

cmd_start() {
  local name=${1:-}
  [[ -n $name ]] || die "usage: scripts/stack.sh start <nats|postgres|gateway|${SERVICES[*]// /|}>"
  is_name "$name" || die "start: unknown process '$name'"
  load_settings_from_stack_env
  runner_pid >/dev/null || die "no stack runs in $RUN_DIR; start one with: scripts/stack.sh run"
  if [[ $name != nats && $name != postgres ]]; then
    [[ -x $(binary_of "$name") ]] || die "missing binary: $(binary_of "$name")"
  fi
  stop_proc "$name"
  start_one "$name" || exit 1
  say "$name is ready (pid $(cat "$PID_DIR/$name.pid"))"
}

cmd_stop() {
  local pid i
  load_settings_from_stack_env
  if pid=$(runner_pid); then
    # The runner stops everything in order and removes its pid file when done.
    kill -TERM "$pid"
    for ((i = 0; i < (STOP_GRACE + 60) * 10; i++)); do
      alive "$pid" || { say "stopped the stack in $RUN_DIR"; return 0; }
      sleep 0.1
    done
    die "the stack (pid $pid) did not stop; see $LOG_DIR/"
  fi
  # No runner (it was killed): stop whatever it left behind.
  MODE=full
  stop_all
  rm -f "$RUN_DIR/ready"
  say "stopped what was left of the stack in $RUN_DIR"
}

cmd_status() {
  local n pid state port rc=0 url
  load_settings_from_stack_env
  if pid=$(runner_pid); then
    echo "stack in $RUN_DIR: running (pid $pid, $MODE)"
  else
    echo "stack in $RUN_DIR: not running"
    rc=1
  fi
  printf '%-11s %-8s %-10s %s\n' NAME PID STATE PORTS
  for n in $(all_names); do
    case $n in
      nats) port=$NATS_PORT ;;
      postgres) port=$PG_PORT ;;
      gateway) port="$GATEWAY_PORT, admin $(admin_port gateway)" ;;
      *) port="admin $(admin_port "$n")" ;;
    esac
    if pid=$(pid_of "$n"); then
      state=running
      if [[ $n != nats && $n != postgres ]]; then
        url="http://127.0.0.1:$(admin_port "$n")/readyz"
        if http_ok "$url"; then state=ready; else state="not ready"; rc=1; fi
      fi
    else
      pid=- state=stopped rc=1
    fi
    printf '%-11s %-8s %-10s %s\n' "$n" "$pid" "$state" "$port"
  done
  return $rc
}

case ${1:-} in
  run) shift; cmd_run "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
