#!/usr/bin/python3
"""The auth service through the gateway: sign-ins, the caller's account, and refreshes.

  login     wrk POST /api/auth/login with a real account: one Argon2id verification per
            request at mentis-auth's configured cost (MENTIS_AUTH_ARGON2_*; the default is
            the service's), plus a new session, device and token pair
  me        wrk GET /api/auth/me with an access token (client tier: verified in the gateway)
  refresh   wrk POST /api/auth/refresh, each connection chaining its own session: every
            answer's new refresh token is the next request's (a token is good once), so
            this is the real rotation path — a keyed hash, a row locked and a row written

Each runs MENTIS_BENCH_SECONDS (default 10) after a warm-up, with MENTIS_BENCH_CONNECTIONS
in flight (default 50; logins MENTIS_BENCH_LOGIN_CONNECTIONS, default 8: each holds an
Argon2id buffer of MENTIS_AUTH_ARGON2_MEMLIMIT bytes). Prints req/s, p50, p99 and the CPU
each process used. Figures only: nothing here fails on a timing.

    MENTIS_BIN_DIR=build/release /usr/bin/python3 bench/auth.py
"""

import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gateway as gw  # noqa: E402  (the processes, wrk and CPU helpers of bench/gateway.py)
from gateway import stackctl  # noqa: E402

LOGIN_CONNECTIONS = int(os.environ.get("MENTIS_BENCH_LOGIN_CONNECTIONS", "8"))
PASSWORD = "bench password 1234"

LOGIN_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"%s","password":"%s","device":{"fingerprint":"bench","type":"web"}}'
"""

# One refresh token per connection, each answer's successor queued for the next request.
REFRESH_LUA = """
local tokens = {}
for line in io.lines(os.getenv("MENTIS_BENCH_TOKENS")) do tokens[#tokens + 1] = line end
-- wrk calls request() once before connecting, to check the script, and throws that request
-- away: it must not spend a token, or one connection is left with none. (One wrk thread:
-- each thread's Lua state would read the whole file, and tokens would be reused.)
local checked = false
request = function()
  local t = checked and (table.remove(tokens) or "spent") or "check"
  checked = true
  return wrk.format("POST", "/api/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token":"' .. t .. '"}')
end
local refused = io.open(os.getenv("MENTIS_BENCH_TOKENS") .. ".refused", "a")
response = function(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and t then
    tokens[#tokens + 1] = t
  else
    refused:write((body:match('"code":"([^"]+)"') or tostring(status)) .. "\\n")
    refused:flush()
  end
end
"""


def post(port, path, doc, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    status, _, body = stackctl.http(port, "POST", path, body=json.dumps(doc).encode(),
                                    headers=headers, timeout=30)
    return status, (json.loads(body) if body else None)


def wrk_script(url, seconds, script, work, name, meter, connections, env=None):
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write(script)
    argv = [gw.WRK, "-t1", "-c%d" % connections, "-d%.0fs" % max(1, round(seconds)), "--latency",
            "--timeout", "10s", "-s", path, url]
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        if meter:
            meter.start()
        proc = gw.subprocess.run(argv, stdin=gw.subprocess.DEVNULL, capture_output=True,
                                 timeout=seconds + 60)
        cpu = meter.stop() if meter else None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise gw.BenchError("wrk exited with %d:\n%s" % (proc.returncode, out))
    r = gw.parse_wrk(out)
    r["cpu"] = cpu
    refused = (env or {}).get("MENTIS_BENCH_TOKENS")
    if refused and os.path.exists(refused + ".refused"):
        with open(refused + ".refused") as f:
            codes = [c.strip() for c in f if c.strip()]
        if codes:
            r["error_detail"] = ["%d %s" % (codes.count(c), c) for c in sorted(set(codes))]
    return r


def line(name, r):
    cpu = ", ".join("%s %.0f%%" % (k, v) for k, v in sorted((r.get("cpu") or {}).items()))
    errors = " (%d failed: %s)" % (r["errors"], "; ".join(r["error_detail"])) if r["errors"] else ""
    return "  %-9s %9.1f req/s   p50 %8s ms   p99 %8s ms   cpu: %s%s" % (
        name, r["rps"], gw.fmt_ms(r["p50_ms"]), gw.fmt_ms(r["p99_ms"]), cpu, errors)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    bin_dir = stackctl.bin_dir()
    missing = [p for p in (stackctl.binary("gateway", bin_dir), stackctl.binary("auth", bin_dir), gw.WRK)
               if not os.access(p, os.X_OK)]
    if missing:
        print("auth bench: missing (make build; make deps-bench):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="mentis-bench-auth-")
    os.chmod(work, 0o755)
    procs, results = [], {}
    try:
        with stackctl.Stack(infra=True) as stack:
            stack.start()
            ports = stackctl.PortBlock(3)
            try:
                auth_admin, gw_admin, gw_port = ports.base, ports.base + 1, ports.base + 2
                auth_env = {"MENTIS_AUTH_ACCESS_TTL_S": "3600"}
                for k in ("MENTIS_AUTH_ARGON2_OPSLIMIT", "MENTIS_AUTH_ARGON2_MEMLIMIT", "MENTIS_WORKERS"):
                    if os.environ.get(k):
                        auth_env[k] = os.environ[k]
                auth = gw.Process("auth", [stackctl.binary("auth", bin_dir)],
                                  gw.service_env(stack, "auth", auth_admin, **auth_env),
                                  work, ready=(auth_admin, "/readyz"))
                procs.append(auth)
                limits = dict(gw.UNLIMITED, MENTIS_GATEWAY_RATE_LOGIN="1000000/s",
                              MENTIS_GATEWAY_RATE_REFRESH="1000000/s",
                              MENTIS_GATEWAY_RATE_REGISTER="1000000/s")
                gateway = gw.Process("gateway", [stackctl.binary("gateway", bin_dir)],
                                     gw.service_env(stack, "gateway", gw_admin, MENTIS_GATEWAY_ADDR="127.0.0.1",
                                                    MENTIS_GATEWAY_PORT=str(gw_port), **limits),
                                     work, ready=(gw_admin, "/readyz"))
                procs.append(gateway)
            finally:
                ports.release()
            email = "bench-auth-%d@example.org" % os.getpid()
            status, doc = post(gw_port, "/api/auth/register",
                               {"email": email, "password": PASSWORD, "display_name": "Bench"})
            if status != 201:
                raise gw.BenchError("register answered %d: %s" % (status, doc))
            access = doc["tokens"]["access_token"]
            tracked = {"gateway": (gateway.pid, False), "auth": (auth.pid, False),
                       "nats-server": (stack.pid("nats"), False), "postgres": (stack.pid("postgres"), True)}
            base = "http://127.0.0.1:%d" % gw_port

            print("auth bench: login ...", file=sys.stderr)
            script = LOGIN_LUA % (email, PASSWORD)
            wrk_script(base + "/api/auth/login", min(gw.WARMUP, 2), script, work, "login", None,
                       LOGIN_CONNECTIONS)
            time.sleep(gw.SETTLE)
            results["login"] = wrk_script(base + "/api/auth/login", gw.SECONDS, script, work, "login",
                                          gw.CpuMeter(tracked), LOGIN_CONNECTIONS)
            auth.check()

            print("auth bench: me ...", file=sys.stderr)
            gw.wrk(base + "/api/auth/me", gw.WARMUP, ["Authorization: Bearer " + access])
            time.sleep(gw.SETTLE)
            results["me"] = gw.wrk(base + "/api/auth/me", gw.SECONDS, ["Authorization: Bearer " + access],
                                   gw.CpuMeter(tracked))

            print("auth bench: refresh (%d sessions) ..." % gw.CONNECTIONS, file=sys.stderr)
            tokens = os.path.join(work, "tokens")
            with open(tokens, "w") as f:
                for _ in range(gw.CONNECTIONS):
                    status, doc = post(gw_port, "/api/auth/login", {"email": email, "password": PASSWORD})
                    if status != 200:
                        raise gw.BenchError("login answered %d: %s" % (status, doc))
                    f.write(doc["tokens"]["refresh_token"] + "\n")
            results["refresh"] = wrk_script(base + "/api/auth/refresh", gw.SECONDS, REFRESH_LUA, work,
                                            "refresh", gw.CpuMeter(tracked), gw.CONNECTIONS,
                                            env={"MENTIS_BENCH_TOKENS": tokens})
            for p in (gateway, auth):
                p.check()
            for p in reversed(procs):
                p.stop()
    except gw.BenchError as e:
        print("auth bench: could not run: %s" % e, file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    argon = "opslimit %s, memlimit %s" % (os.environ.get("MENTIS_AUTH_ARGON2_OPSLIMIT", "the default (3)"),
                                          os.environ.get("MENTIS_AUTH_ARGON2_MEMLIMIT", "the default (64 MiB)"))
    print("auth through the gateway (%d s each; load average %.1f at the end)" % (
        gw.SECONDS, gw.load_average()))
    print("  login: %d connections, Argon2id %s" % (LOGIN_CONNECTIONS, argon))
    print(line("login", results["login"]))
    print("  me and refresh: %d connections" % gw.CONNECTIONS)
    print(line("me", results["me"]))
    print(line("refresh", results["refresh"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
