#!/usr/bin/python3
"""The knowledge-base service through the gateway, on a tenant of 10,000 packs and 200,000
questions.

  seed      10,000 POST /api/kb/import of 20 questions each: the 1,000 real questions of
            services/kb/data (the apps' file format), varied per round (a framing phrase
            and a set number), 8 in flight; the wall time is printed
  list      wrk GET /api/kb/packs (the first page of 50, newest first)
  get       wrk GET /api/kb/packs/{id} (one of 1,000 packs at random: per-domain counts)
  search    wrk GET /api/kb/search?q=<two words>&limit=20 (one of 40 queries at random, each
            the two longest words of a real question: ranked over 200,000 questions and
            10,000 packs; each real question is in the data 200 times, varied)
  create    wrk POST /api/kb/questions (a new question each time)
  domain    wrk GET /api/kb/domains/{id} (one of the 12 system domains at random): one row
            by key and its kept count, the least a read through mentis-kb and PostgreSQL
            costs; what list, get and search cost above it is their own
  session   wrk GET /api/auth/session through the same gateway: the trivial authenticated
            route (mentis-auth answers it without the database), the reference each row is
            compared with (its share of the reference's req/s, its p99 over the reference's)

Each runs MENTIS_BENCH_SECONDS (default 10) after a warm-up with MENTIS_BENCH_CONNECTIONS in
flight (default 50). Prints req/s, p50, p99 and the CPU each process used, next to the
targets (p99 under 15 ms for list and get, under 50 ms for search). Figures only: nothing
here fails on a timing.

    MENTIS_BIN_DIR=build/release /usr/bin/python3 bench/kb.py
"""

import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import auth as ab  # noqa: E402  (wrk with scripts, report lines)
import gateway as gw  # noqa: E402  (the processes, wrk and CPU helpers of bench/gateway.py)
from gateway import stackctl  # noqa: E402

PACKS = int(os.environ.get("MENTIS_BENCH_KB_PACKS", "10000"))
PER_PACK = int(os.environ.get("MENTIS_BENCH_KB_PER_PACK", "20"))
SEEDERS = int(os.environ.get("MENTIS_BENCH_KB_SEEDERS", "8"))
PASSWORD = "bench password 1234"
TARGETS = {"list": 15.0, "get": 15.0, "search": 50.0}
FRAMES = ["", "Toss-up: ", "For ten points: ", "Quick recall: ", "Bonus part one: ",
          "In this round, ", "Lightning: ", "From the archive: "]
QUERIES = 40

PATHS_LUA = """
local paths = {}
for line in io.lines(os.getenv("MENTIS_BENCH_PATHS")) do paths[#paths + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("MENTIS_BENCH_TOKEN")
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""

CREATE_LUA = """
local n = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("MENTIS_BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format("POST", "/api/kb/questions", nil,
    '{"domain_id":"' .. os.getenv("MENTIS_BENCH_DOMAIN") .. '","question_text":"Which bench '
    .. 'question is number ' .. n .. ' of this run?","answer_text":"Number ' .. n
    .. '","difficulty":2,"tags":["bench"]}')
end
"""


def sample_questions():
    path = os.path.join(stackctl.source_dir(), "services", "kb", "data", "kb-sample-questions.json")
    with open(path) as f:
        return json.load(f)["questions"]


def queries(questions):
    """Two words of each of QUERIES questions spread over the file, as a user would type."""
    out = []
    for q in questions[::max(1, len(questions) // QUERIES)][:QUERIES]:
        words = sorted({w.strip(".,;:?!'\"()").lower() for w in q["text"].split()}, key=len)
        words = [w for w in words if w.isalpha()]
        out.append("+".join(words[-2:]))
    return out


def document(questions, k):
    """The k-th seed document: PER_PACK questions, their text framed for round k."""
    start = (k * PER_PACK) % len(questions)
    rnd = k * PER_PACK // len(questions)
    picked = []
    for q in (questions + questions)[start:start + PER_PACK]:
        q = dict(q)
        if rnd:
            q["text"] = "%s%s (set %d)" % (FRAMES[rnd % len(FRAMES)], q["text"], rnd)
        picked.append(q)
    return json.dumps({"questions": picked}).encode()


def request(port, method, path, token, body=None, timeout=60):
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return stackctl.http(port, method, path, body=body, headers=headers, timeout=timeout)


def seed(port, token):
    questions = sample_questions()

    def one(k):
        status, _, body = request(port, "POST", "/api/kb/import?name=Bench+pack+%d" % k, token,
                                  document(questions, k))
        if status != 201:
            raise gw.BenchError("import %d answered %d: %s" % (k, status, body[:300]))
        return json.loads(body)["id"]

    ids = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(SEEDERS) as pool:
        for i, pack_id in enumerate(pool.map(one, range(PACKS))):
            ids.append(pack_id)
            if (i + 1) % 1000 == 0:
                print("kb bench: %d packs, %.0f s" % (i + 1, time.monotonic() - t0), file=sys.stderr)
    return ids, time.monotonic() - t0


def main():
    sys.stdout.reconfigure(line_buffering=True)
    bin_dir = stackctl.bin_dir()
    missing = gw.missing_binaries(bin_dir, ["kb"])
    if missing:
        print("kb bench: missing (make build; make deps-bench):\n  " + "\n  ".join(missing),
              file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="mentis-bench-kb-")
    os.chmod(work, 0o755)
    procs, results = [], {}
    try:
        with stackctl.Stack(infra=True) as stack:
            stack.start()
            auth, kb, gateway, gw_port = gw.start_behind_gateway(
                stack, work, bin_dir, "kb", procs, auth_env={"MENTIS_AUTH_ACCESS_TTL_S": "7200"},
                gateway_env={"MENTIS_GATEWAY_RATE_REGISTER": "1000000/s"})
            email = "bench-kb-%d@example.org" % os.getpid()
            status, doc = ab.post(gw_port, "/api/auth/register",
                                  {"email": email, "password": PASSWORD, "display_name": "Bench"})
            if status != 201:
                raise gw.BenchError("register answered %d: %s" % (status, doc))
            token = doc["tokens"]["access_token"]
            print("kb bench: seeding %d packs of %d questions ..." % (PACKS, PER_PACK),
                  file=sys.stderr)
            pack_ids, seed_s = seed(gw_port, token)
            status, _, body = request(gw_port, "GET", "/api/kb/domains?q=science", token)
            domain = json.loads(body)["items"][0]["id"]
            status, _, body = request(gw_port, "GET", "/api/kb/domains?limit=200", token)
            domain_ids = [d["id"] for d in json.loads(body)["items"] if d["is_system"]]
            stack.psql("VACUUM ANALYZE")

            tracked = {"gateway": (gateway.pid, False), "kb": (kb.pid, False),
                       "nats-server": (stack.pid("nats"), False),
                       "postgres": (stack.pid("postgres"), True)}
            base = "http://127.0.0.1:%d" % gw_port
            env = {"MENTIS_BENCH_TOKEN": token, "MENTIS_BENCH_DOMAIN": domain}
            gets = os.path.join(work, "gets")
            with open(gets, "w") as f:
                f.write("".join("/api/kb/packs/%s\n" % i for i in pack_ids[::len(pack_ids) // 1000 or 1]))
            searches = os.path.join(work, "searches")
            with open(searches, "w") as f:
                f.write("".join("/api/kb/search?q=%s&limit=20\n" % q
                                for q in queries(sample_questions())))
            lists = os.path.join(work, "lists")
            with open(lists, "w") as f:
                f.write("/api/kb/packs?limit=50\n")
            domains = os.path.join(work, "domains")
            with open(domains, "w") as f:
                f.write("".join("/api/kb/domains/%s\n" % i for i in domain_ids))
            sessions = os.path.join(work, "sessions")
            with open(sessions, "w") as f:
                f.write("/api/auth/session\n")
            tracked["auth"] = (auth.pid, False)
            runs = [("session", base + "/api/auth/session", PATHS_LUA,
                     dict(env, MENTIS_BENCH_PATHS=sessions)),
                    ("domain", base + "/api/kb/domains", PATHS_LUA,
                     dict(env, MENTIS_BENCH_PATHS=domains)),
                    ("list", base + "/api/kb/packs", PATHS_LUA, dict(env, MENTIS_BENCH_PATHS=lists)),
                    ("get", base + "/api/kb/packs", PATHS_LUA, dict(env, MENTIS_BENCH_PATHS=gets)),
                    ("search", base + "/api/kb/search", PATHS_LUA,
                     dict(env, MENTIS_BENCH_PATHS=searches)),
                    ("create", base + "/api/kb/questions", CREATE_LUA, env)]
            for name, url, script, run_env in runs:
                print("kb bench: %s ..." % name, file=sys.stderr)
                ab.wrk_script(url, gw.WARMUP, script, work, name, None, gw.CONNECTIONS, env=run_env)
                time.sleep(gw.SETTLE)
                results[name] = ab.wrk_script(url, gw.SECONDS, script, work, name,
                                              gw.CpuMeter(tracked), gw.CONNECTIONS, env=run_env)
            for p in (gateway, kb, auth):
                p.check()
            for p in reversed(procs):
                p.stop()
    except gw.BenchError as e:
        print("kb bench: could not run: %s" % e, file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("kb through the gateway: %d packs, %d questions (seeded through the API in %.0f s); "
          "%d connections, %d s each; load average %.1f at the end" % (
              PACKS, PACKS * PER_PACK + 1000, seed_s, gw.CONNECTIONS, gw.SECONDS,
              gw.load_average()))
    ref = results["session"]
    for name in ("session", "domain", "list", "get", "search", "create"):
        r = results[name]
        target = TARGETS.get(name)
        verdict = ""
        if target is not None and r.get("p99_ms") is not None:
            verdict = "   target p99 < %g ms: %s" % (target, "met" if r["p99_ms"] < target else "MISSED")
        print(ab.line(name, r) + verdict)
    print("against the reference (session: the same gateway and token, no database):")
    for name in ("domain", "list", "get", "search", "create"):
        r = results[name]
        if ref["rps"] and ref.get("p99_ms") and r.get("p99_ms") is not None:
            print("  %-9s %5.1f %% of its req/s, p99 %.1f x its p99" % (
                name, 100.0 * r["rps"] / ref["rps"], r["p99_ms"] / ref["p99_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
