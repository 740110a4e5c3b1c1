#!/usr/bin/python3
"""The curriculum service through the gateway: UMCF imports, and reads under load.

  import    POST /api/admin/curricula of the largest shipped UMCF example
            (../shared/umcf/examples, or MENTIS_UMCF_EXAMPLES) and of a generated curriculum
            of 200 topics x 50 transcript segments: wall time of each (the median of
            MENTIS_BENCH_IMPORTS runs, default 3, each under a new identifier), and of
            GET .../full giving the generated one back (checked equal to what was sent)
  get       wrk GET /api/curricula/{id} (the largest example: its topics, objectives, glossary)
  transcript wrk GET /api/curricula/{id}/topics/{topic}/transcript (its longest transcript)
  session   wrk GET /api/auth/session through the same gateway: the trivial authenticated
            route (mentis-auth answers it without the database), the reference the reads
            are compared with (their share of its req/s, their p99 over its p99)

Reads run MENTIS_BENCH_SECONDS (default 10) after a warm-up with MENTIS_BENCH_CONNECTIONS in
flight (default 50). Prints req/s, p50, p99 and the CPU each process used. Figures only:
nothing here fails on a timing.

    MENTIS_BIN_DIR=build/release /usr/bin/python3 bench/curriculum.py
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import auth as ab  # noqa: E402  (wrk with scripts, report lines)
import gateway as gw  # noqa: E402  (the processes, wrk and CPU helpers of bench/gateway.py)
from gateway import stackctl  # noqa: E402

IMPORTS = int(os.environ.get("MENTIS_BENCH_IMPORTS", "3"))
ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench admin password 1234"
TOPICS, SEGMENTS = 200, 50


def examples_dir():
    return os.environ.get("MENTIS_UMCF_EXAMPLES") or os.path.join(
        stackctl.source_dir(), "..", "shared", "umcf", "examples")


def generated():
    """A curriculum of TOPICS topics in 10 units, each topic with SEGMENTS segments."""
    units = []
    for u in range(10):
        topics = []
        for t in range(TOPICS // 10):
            n = u * (TOPICS // 10) + t
            segments = [{
                "id": "seg-%d-%d" % (n, s),
                "type": ("introduction", "lecture", "explanation", "example", "summary")[s % 5],
                "content": ("Segment %d of topic %d. " % (s, n)) + "A sentence a tutor speaks aloud, "
                           "long enough to be a real paragraph of a lesson. " * 2,
                "speakingNotes": {"pace": "moderate", "emphasis": ["topic %d" % n]},
            } for s in range(SEGMENTS)]
            topics.append({
                "id": {"value": "topic-%d" % n}, "title": "Topic %d" % n, "type": "topic",
                "orderIndex": t, "description": "Generated topic %d" % n,
                "timeEstimates": {"intermediate": "PT20M"},
                "learningObjectives": [{"id": "lo-%d" % n, "statement": "Know topic %d" % n,
                                        "bloomsLevel": "understand"}],
                "transcript": {"segments": segments},
            })
        units.append({"id": {"value": "unit-%d" % u}, "title": "Unit %d" % u, "type": "unit",
                      "orderIndex": u, "children": topics})
    return {"formatIdentifier": "umcf", "umcf": "1.0.0",
            "id": {"catalog": "internal", "value": "generated"}, "title": "Generated curriculum",
            "version": {"number": "1.0.0"}, "content": units}


def request(port, method, path, token, body=None, timeout=120):
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return stackctl.http(port, method, path, body=body, headers=headers, timeout=timeout)


def timed_imports(port, token, doc, label):
    """Imports doc IMPORTS times under new identifiers; (median ms, the last id, bytes)."""
    took, last = [], None
    for i in range(IMPORTS):
        d = dict(doc)
        d["id"] = {"catalog": "internal", "value": "%s-%d-%d" % (label, os.getpid(), i)}
        body = json.dumps(d).encode()
        t0 = time.monotonic()
        status, _, answer = request(port, "POST", "/api/admin/curricula", token, body)
        took.append((time.monotonic() - t0) * 1000)
        if status != 201:
            raise gw.BenchError("import of %s answered %d: %s" % (label, status, answer[:500]))
        last = json.loads(answer)["id"]
    return statistics.median(took), last, len(body)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    bin_dir = stackctl.bin_dir()
    missing = gw.missing_binaries(bin_dir, ["curriculum"])
    if missing:
        print("curriculum bench: missing (make build; make deps-bench):\n  " + "\n  ".join(missing),
              file=sys.stderr)
        return 1
    files = sorted((os.path.join(examples_dir(), f) for f in os.listdir(examples_dir())
                    if f.endswith(".umcf")), key=os.path.getsize) if os.path.isdir(examples_dir()) else []
    if not files:
        print("curriculum bench: no UMCF examples in %s" % examples_dir(), file=sys.stderr)
        return 1
    with open(files[-1], "rb") as f:
        largest = json.load(f)
    work = tempfile.mkdtemp(prefix="mentis-bench-curriculum-")
    os.chmod(work, 0o755)
    procs, results, imports = [], {}, []
    try:
        with stackctl.Stack(infra=True) as stack:
            stack.start()
            auth, cur, gateway, gw_port = gw.start_behind_gateway(
                stack, work, bin_dir, "curriculum", procs,
                auth_env={"MENTIS_AUTH_ACCESS_TTL_S": "3600",
                          "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
                          "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD},
                gateway_env={"MENTIS_GATEWAY_RATE_LOGIN": "1000000/s"})
            status, doc = ab.post(gw_port, "/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            if status != 200:
                raise gw.BenchError("admin login answered %d: %s" % (status, doc))
            token = doc["tokens"]["access_token"]

            print("curriculum bench: imports ...", file=sys.stderr)
            ms, largest_id, size = timed_imports(gw_port, token, largest, "largest")
            imports.append(("%s" % os.path.basename(files[-1]), size, ms))
            gen = generated()
            ms, gen_id, size = timed_imports(gw_port, token, gen, "generated")
            imports.append(("generated %dx%d" % (TOPICS, SEGMENTS), size, ms))
            t0 = time.monotonic()
            status, _, body = request(gw_port, "GET", "/api/curricula/%s/full" % gen_id, token)
            full_ms = (time.monotonic() - t0) * 1000
            if status != 200:
                raise gw.BenchError("full answered %d: %s" % (status, body[:300]))
            back = json.loads(body)
            gen["id"] = back.get("id")
            same = back == gen
            imports.append(("full of the generated one%s" % ("" if same else " (DIFFERS)"), len(body), full_ms))

            # The longest transcript of the largest example.
            def segs(node):
                return len(((node.get("transcript") or {}).get("segments")) or [])

            def leaves(nodes):
                for n in nodes:
                    if n.get("children"):
                        yield from leaves(n["children"])
                    else:
                        yield n
            topic = max(leaves(largest["content"]), key=segs)
            topic_id = topic["id"]["value"] if isinstance(topic["id"], dict) else topic["id"]
            tracked = {"gateway": (gateway.pid, False), "curriculum": (cur.pid, False),
                       "auth": (auth.pid, False), "nats-server": (stack.pid("nats"), False),
                       "postgres": (stack.pid("postgres"), True)}
            base = "http://127.0.0.1:%d" % gw_port
            auth_header = ["Authorization: Bearer " + token]
            for name, path in (("session", "/api/auth/session"),
                               ("get", "/api/curricula/%s" % largest_id),
                               ("transcript", "/api/curricula/%s/topics/%s/transcript" % (largest_id, topic_id))):
                print("curriculum bench: %s ..." % name, file=sys.stderr)
                gw.wrk(base + path, gw.WARMUP, auth_header)
                time.sleep(gw.SETTLE)
                results[name] = gw.wrk(base + path, gw.SECONDS, auth_header, gw.CpuMeter(tracked))
            for p in procs:
                p.check()
            for p in reversed(procs):
                p.stop()
    except (gw.BenchError, stackctl.StackError) as e:
        print("curriculum bench: could not run: %s" % e, file=sys.stderr)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("curriculum through the gateway (%s, %d connections, %.0f s per read run)" % (
        bin_dir, gw.CONNECTIONS, gw.SECONDS))
    for name, size, ms in imports:
        print("  %-34s %9.1f KB   %8.1f ms" % (name, size / 1024, ms))
    print("  (imports: median of %d, each a new curriculum, one transaction)" % IMPORTS)
    for name in ("session", "get", "transcript"):
        print(ab.line(name, results[name]))
    ref = results["session"]
    print("against the reference (session: the same gateway and token, no database):")
    for name in ("get", "transcript"):
        r = results[name]
        if ref["rps"] and ref.get("p99_ms") and r.get("p99_ms") is not None:
            print("  %-10s %5.1f %% of its req/s, p99 %.1f x its p99" % (
                name, 100.0 * r["rps"] / ref["rps"], r["p99_ms"] / ref["p99_ms"]))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
