#!/usr/bin/python3
"""Throughput and latency of the gateway against its own floor, in one run.

  (a) gateway   wrk -> mentis-gateway -> NATS -> mentis-auth (PostgreSQL) and back:
                GET /api/auth/session with a real access token (client tier; who the token says the caller is, answered by mentis-auth without the database), or MENTIS_BENCH_ROUTE=/api/auth/me
  (b) NATS      mentis-bench-nats: the same request on mentis.v1.auth.me.get, with the headers
                the gateway sends, made straight from C through libs/bus (no HTTP)
  (c) nginx     wrk -> nginx serving a static file holding the same bytes as (a)'s answer

Each gets a warm-up, then MENTIS_BENCH_SECONDS (default 10) with MENTIS_BENCH_CONNECTIONS
(default 50) requests in flight; the three run in turn MENTIS_BENCH_ROUNDS times (default 3)
and each figure printed is the median of its rounds, which keeps a burst of other work on
the machine from deciding a ratio. Then (a) and (b) once more with one request in flight:
the latency the gateway adds when nothing queues. Printed: req/s, p50, p99 (and p90, max),
the CPU each process used, and the ratios (a)/(b) and (a)/(c) next to the targets. Figures
only: a missed target is printed, never an exit status.

    MENTIS_BIN_DIR=build/release /usr/bin/python3 bench/gateway.py
"""

import base64
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

import stackctl  # noqa: E402

SECONDS = float(os.environ.get("MENTIS_BENCH_SECONDS", "10"))
WARMUP = float(os.environ.get("MENTIS_BENCH_WARMUP", "3"))
CONNECTIONS = int(os.environ.get("MENTIS_BENCH_CONNECTIONS", "50"))
WRK_THREADS = int(os.environ.get("MENTIS_BENCH_WRK_THREADS", "1"))
ROUNDS = int(os.environ.get("MENTIS_BENCH_ROUNDS", "3"))
# The trivial authenticated route (who the token says the caller is: no database), or
# MENTIS_BENCH_ROUTE=/api/auth/me for one that reads the account from PostgreSQL.
ROUTE = os.environ.get("MENTIS_BENCH_ROUTE", "/api/auth/session")
SUBJECT = {"/api/auth/session": "mentis.v1.auth.whoami", "/api/auth/me": "mentis.v1.auth.me.get"}[ROUTE]
TARGET_RATIO = 0.80  # (a) at least 80 % of (b)'s throughput
TARGET_P99_MS = 10.0  # (a)'s p99
READY_TIMEOUT = 30.0
# One user on 50 connections from one address is far above what one client may do: raise
# the rate limits and the connections per address, or the bench would measure 429s and 503s
# (with the default 64 per address, the warm-up's closed connections were still counted
# when the measured run's 50 arrived).
UNLIMITED = {"MENTIS_GATEWAY_RATE_AUTHENTICATED": "1000000/s",
             "MENTIS_GATEWAY_RATE_UNAUTHENTICATED": "1000000/s",
             "MENTIS_GATEWAY_MAX_CONNS_PER_IP": "1024"}
SETTLE = 1.0  # seconds between a warm-up and its measured run: requests cut short finish
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRK = shutil.which("wrk") or "/usr/bin/wrk"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class BenchError(Exception):
    pass


def bench_binary(bin_dir):
    return os.path.join(bin_dir, "bench", "mentis-bench-nats")


def build_reference(bin_dir):
    """Builds mentis-bench-nats in the measured build directory (`make build` builds only the
    seven programs); a directory that is not a CMake build must already hold it."""
    if os.path.exists(os.path.join(bin_dir, "CMakeCache.txt")):
        proc = subprocess.run(["cmake", "--build", bin_dir, "--target", "mentis-bench-nats"],
                              stdin=subprocess.DEVNULL, capture_output=True)
        if proc.returncode != 0:
            raise BenchError("cannot build mentis-bench-nats:\n%s%s" % (
                proc.stdout.decode(errors="replace")[-3000:], proc.stderr.decode(errors="replace")[-3000:]))
    if not os.access(bench_binary(bin_dir), os.X_OK):
        raise BenchError("%s is missing" % bench_binary(bin_dir))


# -- processes -----------------------------------------------------------------------------

def how_it_ended(code):
    if code < 0:
        return "was killed by %s" % signal.Signals(-code).name
    return "exited with %d" % code


class Process:
    """A child with its output in a log file, stopped with SIGTERM (then SIGKILL) at the end."""

    def __init__(self, name, argv, env, work, ready=None):
        self.name = name
        self.log = os.path.join(work, name + ".log")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=work, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        self.pid = self.proc.pid
        if ready:
            self.wait_ready(*ready)

    def check(self):
        if self.proc.poll() is not None:
            raise BenchError("%s %s; its log:\n%s" % (self.name, how_it_ended(self.proc.returncode),
                                                      stackctl.tail(self.log, 20)))

    def wait_ready(self, port, path):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            self.check()
            try:
                if stackctl.http(port, "GET", path, timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("%s not ready after %.0fs; its log:\n%s"
                                 % (self.name, READY_TIMEOUT, stackctl.tail(self.log, 20)))
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_ticks(pid):
    """utime + stime of a process, every thread included, in clock ticks (None when gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


class CpuMeter:
    """CPU used by named processes between start() and stop(), as % of one core. A name may
    stand for a process and its children (PostgreSQL's backends)."""

    def __init__(self, procs):
        self.procs = procs  # name -> (pid, with_children)

    def sample(self):
        out = {}
        for name, (pid, with_children) in self.procs.items():
            pids = [pid] + (children(pid) if with_children else [])
            out[name] = {p: cpu_ticks(p) for p in pids}
        return out

    def start(self, load_pid=None):
        """load_pid: the load generator when it already runs (its CPU before now is not
        counted); otherwise the only child that ends before stop() is taken as it."""
        self.t0, self.s0 = time.monotonic(), self.sample()
        self.r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.load_before = (cpu_ticks(load_pid) or 0) / CLK_TCK if load_pid else 0.0

    def stop(self):
        t1, s1 = time.monotonic(), self.sample()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = t1 - self.t0
        usage = {}
        for name, now in s1.items():
            ticks = 0
            for pid, t in now.items():
                if t is not None:  # a backend born during the run counts from zero
                    ticks += t - (self.s0[name].get(pid) or 0)
            usage[name] = 100.0 * ticks / CLK_TCK / wall
        # The load generator (wrk or mentis-bench-nats) is the only child reaped meanwhile.
        usage["load generator"] = 100.0 * ((r1.ru_utime - self.r0.ru_utime) +
                                           (r1.ru_stime - self.r0.ru_stime) - self.load_before) / wall
        return usage


# -- load generators -----------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError("wrk printed a latency I cannot read: %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(out):
    """req/s, percentiles and failures from wrk --latency's report."""
    r = {"errors": 0, "error_detail": []}
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        if not m:
            raise BenchError("no %s%% line in wrk's report:\n%s" % (pct, out))
        r[key] = wrk_duration_ms(m.group(1))
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    r["max_ms"] = wrk_duration_ms(m.group(1)) if m else None
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if not m:
        raise BenchError("no Requests/sec in wrk's report:\n%s" % out)
    r["rps"] = float(m.group(1))
    m = re.search(r"^\s+(\d+) requests in", out, re.M)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["errors"] += int(m.group(1))
        r["error_detail"].append("%s non-2xx answers" % m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] += sum(int(x) for x in m.groups())
        r["error_detail"].append("socket errors: " + m.group(0).split(": ", 1)[1])
    return r


def wrk(url, seconds, headers=(), meter=None, connections=None):
    connections = connections or CONNECTIONS
    argv = [WRK, "-t%d" % min(WRK_THREADS, connections), "-c%d" % connections, "-d%.0fs" % max(1, round(seconds)),
            "--latency", "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    if meter:
        meter.start()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds + 60)
    cpu = meter.stop() if meter else None
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise BenchError("wrk exited with %d:\n%s%s" % (proc.returncode, out, proc.stderr.decode(errors="replace")))
    r = parse_wrk(out)
    r["cpu"] = cpu
    return r


def nats_load(binary, nats_url, who, seconds, warmup, meter, connections=None):
    argv = [binary, "load", nats_url, who["tid"], who["sub"], who["sid"], "-e", who.get("email", ""),
            "-s", SUBJECT,
            "-c", str(connections or CONNECTIONS), "-d", "%g" % seconds, "-w", "%g" % warmup]
    # The warm-up runs inside the program; measure CPU over the measured part only.
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(warmup + 0.2)  # connecting and its first check take well under 0.2 s
    meter.start(proc.pid)
    out, err = proc.communicate(timeout=seconds + warmup + 60)
    cpu = meter.stop()
    if proc.returncode != 0:
        raise BenchError("mentis-bench-nats load exited with %d:\n%s%s"
                         % (proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
    r = {}
    for line in out.decode().splitlines():
        key, _, value = line.partition("=")
        r[key] = float(value)
    r["errors"] = int(r["errors"] + r["send_failures"])
    r["cpu"] = cpu
    return r


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def median_result(rounds):
    """One result from several rounds: the median of each figure, the sum of the failures."""
    if len(rounds) == 1:
        return rounds[0]
    out = {"errors": sum(r["errors"] for r in rounds),
           "error_detail": [d for r in rounds for d in r.get("error_detail", [])]}
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "reply_bytes"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    names = list(rounds[0]["cpu"])
    out["cpu"] = {n: statistics.median(r["cpu"][n] for r in rounds if n in r["cpu"]) for n in names}
    return out


# -- the three subjects --------------------------------------------------------------------

def service_env(stack, name, admin_port, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIS_")}
    env.update(MENTIS_NATS_URL=stack.nats_url, MENTIS_ADMIN_ADDR="127.0.0.1",
               MENTIS_ADMIN_PORT=str(admin_port),
               MENTIS_LOG_LEVEL=os.environ.get("MENTIS_LOG_LEVEL", "info"))
    if name in stackctl.DB_SERVICES:
        env["MENTIS_DATABASE_URL_FILE"] = stack.database_url_file(name)
    env.update(extra)
    return env


def missing_binaries(bin_dir, services):
    """What a bench through the gateway needs and the build lacks: the binaries of
    mentis-gateway, mentis-auth and `services`, and wrk."""
    need = [stackctl.binary(s, bin_dir) for s in ("gateway", "auth") + tuple(services)] + [WRK]
    return [p for p in need if not os.access(p, os.X_OK)]


def start_behind_gateway(stack, work, bin_dir, service, procs, auth_env=None, gateway_env=None):
    """mentis-auth, mentis-<service> and mentis-gateway on free ports, each waited for until
    ready and appended to procs (stop them in reverse); the gateway without rate limits.
    Returns the three processes and the gateway's HTTP port."""
    ports = stackctl.PortBlock(4)
    try:
        auth_admin, svc_admin, gw_admin, gw_port = range(ports.base, ports.base + 4)
        auth = Process("auth", [stackctl.binary("auth", bin_dir)],
                       service_env(stack, "auth", auth_admin, **(auth_env or {})), work,
                       ready=(auth_admin, "/readyz"))
        procs.append(auth)
        svc = Process(service, [stackctl.binary(service, bin_dir)],
                      service_env(stack, service, svc_admin), work, ready=(svc_admin, "/readyz"))
        procs.append(svc)
        limits = dict(UNLIMITED, **(gateway_env or {}))
        gateway = Process("gateway", [stackctl.binary("gateway", bin_dir)],
                          service_env(stack, "gateway", gw_admin, MENTIS_GATEWAY_ADDR="127.0.0.1",
                                      MENTIS_GATEWAY_PORT=str(gw_port), **limits),
                          work, ready=(gw_admin, "/readyz"))
        procs.append(gateway)
    finally:
        ports.release()
    return auth, svc, gateway, gw_port


def token_claims(token):
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as e:
        raise BenchError("the access token is not a JWT (%s): %r" % (e, token[:80])) from None


def register(binary, nats_url):
    email = "bench-%d-%d@example.org" % (os.getpid(), int(time.time()))
    proc = subprocess.run([binary, "register", nats_url, email, "bench password 1234"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise BenchError("registering over NATS failed:\n%s" % proc.stderr.decode(errors="replace"))
    fields = dict(line.partition("=")[::2] for line in proc.stdout.decode().splitlines())
    claims = token_claims(fields["access_token"])
    for key in ("sub", "tid", "sid"):
        if not claims.get(key):
            raise BenchError("the access token has no %s claim: %r" % (key, claims))
    if claims["sub"] != fields["user_id"]:
        raise BenchError("the access token's sub %s is not the new user %s" % (claims["sub"], fields["user_id"]))
    return fields["access_token"], claims


def first_answer(port, token, user_id):
    """The gateway's answer to GET ROUTE, once it has the signing keys: the body."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        status, headers, body = stackctl.http(port, "GET", ROUTE, headers={"Authorization": "Bearer " + token})
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise BenchError("GET %s answers %d, not 200: %s" % (ROUTE, status, body[:300]))
        time.sleep(0.2)
    doc = json.loads(body)
    if doc.get("id", doc.get("principal_id")) != user_id:
        raise BenchError("GET %s answered another account: %r" % (ROUTE, body[:300]))
    return body, headers.get("content-type", "application/json")


NGINX_CONF = """\
# mentis bench: a static file, under {prefix} only.
{user}daemon off;
# One worker, one event loop on one core: the gateway too serves HTTP on one thread.
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    types {{ }}
    default_type {content_type};
    # wrk keeps its connections open; so does the gateway.
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
    }}
}}
"""


def start_nginx(work, body, content_type):
    prefix = os.path.join(work, "nginx")
    www = os.path.join(prefix, "www" + os.path.dirname(ROUTE))
    os.makedirs(www)
    os.makedirs(os.path.join(prefix, "tmp"))
    with open(os.path.join(prefix, "www" + ROUTE), "wb") as f:
        f.write(body)
    ports = stackctl.PortBlock(1)
    port = ports.base
    # As root, nginx's workers would switch to `nobody`, who cannot read a private temporary
    # directory: keep them the current user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(prefix=prefix, port=port, content_type=content_type, user=user))
    ports.release()  # nginx binds it now; the lock only kept parallel stacks off meanwhile
    p = Process("nginx", [NGINX, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "nginx-error.log")],
                os.environ.copy(), work)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        p.check()
        try:
            status, _, got = stackctl.http(port, "GET", ROUTE, timeout=1.0)
            if status == 200 and got == body:
                return p, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError("nginx did not serve the file; its log:\n%s"
                             % stackctl.tail(os.path.join(prefix, "nginx-error.log"), 20))
        time.sleep(0.05)


# -- report --------------------------------------------------------------------------------

def fmt_ms(v):
    return "%8.2f" % v if v is not None else "%8s" % "-"


def print_report(bin_dir, results, loads, notes):
    print("gateway throughput: %d connections (requests in flight), %g s measured after %g s warm-up, "
          "wrk with %d thread%s" % (CONNECTIONS, SECONDS, WARMUP, WRK_THREADS, "" if WRK_THREADS == 1 else "s"))
    if ROUNDS > 1:
        print("%d rounds of (a), (b), (c); each figure is the median of its rounds" % ROUNDS)
    print("binaries: %s   machine: %s, %d CPUs, Linux %s" % (
        bin_dir, platform.machine(), os.cpu_count(), platform.release()))
    print("load average (1 min) before each round: %s  (above 1 or so, other work shares the cores "
          "and the figures move)" % ", ".join("%.2f" % x for x in loads))
    cpu = {key: r["cpu"] for key, r in results.items() if r.get("cpu")}
    print("route: GET %s (client tier, Bearer access token) -> %s%s\n"
          % (ROUTE, SUBJECT, " -> PostgreSQL" if ROUTE == "/api/auth/me" else " (no database)"))
    header = "%-44s %10s %8s %8s %8s %8s %7s" % ("", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
    print(header)
    print("-" * len(header))
    labels = {"a": "(a) wrk -> gateway -> NATS -> auth",
              "b": "(b) C on NATS -> auth (mentis-bench-nats)",
              "c": "(c) wrk -> nginx, static file",
              "a1": "(a) with 1 request in flight",
              "b1": "(b) with 1 request in flight"}
    for key in ("a", "b", "c", "a1", "b1"):
        if key == "a1":
            print()
        r = results.get(key)
        if r is None:
            print("%-44s %s" % (labels[key], "not measured"))
            continue
        print("%-44s %10.0f %s %s %s %s %7d" % (labels[key], r["rps"], fmt_ms(r["p50_ms"]), fmt_ms(r["p90_ms"]),
                                                 fmt_ms(r["p99_ms"]), fmt_ms(r.get("max_ms")), r["errors"]))
    a, b, c = results.get("a"), results.get("b"), results.get("c")
    print()
    if a and b:
        ratio = a["rps"] / b["rps"] if b["rps"] else 0
        print("(a)/(b) throughput  %5.1f %%   target >= %.0f %%   %s" % (
            100 * ratio, 100 * TARGET_RATIO, "PASS" if ratio >= TARGET_RATIO else "MISS"))
    if a and c:
        print("(a)/(c) throughput  %5.1f %%   (no target: nginx sends a file, the gateway a service's answer)"
              % (100 * a["rps"] / c["rps"] if c["rps"] else 0))
    if a:
        print("(a) p99          %6.2f ms   target <  %.0f ms     %s" % (
            a["p99_ms"], TARGET_P99_MS, "PASS" if a["p99_ms"] < TARGET_P99_MS else "MISS"))
    if b:
        print("(b) p99          %6.2f ms   (the floor of (a)'s p99: the same request without HTTP)" % b["p99_ms"])
    a1, b1 = results.get("a1"), results.get("b1")
    if a1 and b1:
        print("one request in flight: the gateway adds %.2f ms at p50 and %.2f ms at p99"
              % (a1["p50_ms"] - b1["p50_ms"], a1["p99_ms"] - b1["p99_ms"]))
    if cpu:
        names = []
        for usage in cpu.values():
            names += [n for n in usage if n not in names]
        print("\nCPU while measuring, %% of one core (the machine has %d):" % os.cpu_count())
        print("%-16s" % "" + "".join("%16s" % n for n in names))
        for key, usage in cpu.items():
            label = "(%s)" % key[0] + (" 1 in flight" if key.endswith("1") else "")
            print("%-16s" % label + "".join("%16s" % ("%.0f" % usage[n] if n in usage else "-")
                                                     for n in names))
    for note in notes:
        print("\n" + note)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    bin_dir = stackctl.bin_dir()
    missing = [p for p in (stackctl.binary("gateway", bin_dir), stackctl.binary("auth", bin_dir))
               if not os.access(p, os.X_OK)]
    missing += [p for p in (WRK, NGINX) if not os.access(p, os.X_OK)]
    if missing:
        print("gateway bench: missing (make build; make deps-bench):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    if CONNECTIONS < WRK_THREADS:
        print("gateway bench: MENTIS_BENCH_CONNECTIONS must be at least MENTIS_BENCH_WRK_THREADS", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="mentis-bench-gw-")
    os.chmod(work, 0o755)
    procs, results, loads, notes = [], {}, [], []
    try:
        build_reference(bin_dir)
        reference = bench_binary(bin_dir)
        with stackctl.Stack(infra=True) as stack:
            stack.start()
            ports = stackctl.PortBlock(3)
            try:
                auth_admin, gw_admin, gw_port = ports.base, ports.base + 1, ports.base + 2
                print("gateway bench: starting mentis-auth and mentis-gateway ...", file=sys.stderr)
                auth = Process("auth", [stackctl.binary("auth", bin_dir)],
                               service_env(stack, "auth", auth_admin, MENTIS_AUTH_ACCESS_TTL_S="3600"),
                               work, ready=(auth_admin, "/readyz"))
                procs.append(auth)
                gateway = Process("gateway", [stackctl.binary("gateway", bin_dir)],
                                  service_env(stack, "gateway", gw_admin, MENTIS_GATEWAY_ADDR="127.0.0.1",
                                              MENTIS_GATEWAY_PORT=str(gw_port), **UNLIMITED),
                                  work, ready=(gw_admin, "/readyz"))
                procs.append(gateway)
            finally:
                ports.release()
            if stackctl.http(gw_port, "GET", "/healthz")[0] != 200:
                raise BenchError("the gateway's /healthz does not answer 200")
            token, claims = register(reference, stack.nats_url)
            body, content_type = first_answer(gw_port, token, claims["sub"])
            nginx, nginx_port = start_nginx(work, body, content_type)
            procs.append(nginx)

            tracked = {"gateway": (gateway.pid, False), "auth": (auth.pid, False),
                       "nats-server": (stack.pid("nats"), False), "postgres": (stack.pid("postgres"), True)}
            auth_header = ["Authorization: Bearer " + token]
            gw_url = "http://127.0.0.1:%d%s" % (gw_port, ROUTE)
            ng_url = "http://127.0.0.1:%d%s" % (nginx_port, ROUTE)
            runs = {"a": [], "b": [], "c": []}
            for i in range(ROUNDS):
                loads.append(load_average())
                what = "" if ROUNDS == 1 else " (round %d of %d)" % (i + 1, ROUNDS)
                print("gateway bench: (a) gateway%s ..." % what, file=sys.stderr)
                wrk(gw_url, WARMUP, auth_header)
                time.sleep(SETTLE)
                runs["a"].append(wrk(gw_url, SECONDS, auth_header, CpuMeter(tracked)))
                for p in (gateway, auth):
                    p.check()

                print("gateway bench: (b) straight on NATS%s ..." % what, file=sys.stderr)
                meter = CpuMeter({k: v for k, v in tracked.items() if k != "gateway"})
                runs["b"].append(nats_load(reference, stack.nats_url, claims, SECONDS, WARMUP, meter))
                auth.check()

                print("gateway bench: (c) nginx%s ..." % what, file=sys.stderr)
                wrk(ng_url, WARMUP)
                time.sleep(SETTLE)
                runs["c"].append(wrk(ng_url, SECONDS, meter=CpuMeter({"nginx": (nginx.pid, True)})))
                nginx.check()
            results = {key: median_result(rs) for key, rs in runs.items()}

            print("gateway bench: (a) and (b) with one request in flight ...", file=sys.stderr)
            single = max(1.0, SECONDS / 2)
            results["a1"] = wrk(gw_url, single, auth_header, CpuMeter(tracked), connections=1)
            meter = CpuMeter({k: v for k, v in tracked.items() if k != "gateway"})
            results["b1"] = nats_load(reference, stack.nats_url, claims, single, 1.0, meter, connections=1)
            notes.append("answer: %d bytes of JSON (nginx sends the same bytes); reply on NATS: %d bytes of protobuf"
                         % (len(body), results["b"]["reply_bytes"]))
            for key in ("a", "b", "c", "a1", "b1"):
                if results[key]["errors"]:
                    notes.append("(%s) had %d failed requests (%s): its figures are not comparable" % (
                        key, results[key]["errors"],
                        "; ".join(results[key].get("error_detail") or ["error replies or no reply"])))
            for p in reversed(procs):
                p.stop()
    except BenchError as e:
        print("gateway bench: could not run: %s" % e, file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        if os.environ.get("MENTIS_BENCH_KEEP") == "1":
            print("gateway bench: kept the logs in %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(bin_dir, results, loads, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
