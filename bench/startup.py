#!/usr/bin/python3
"""Startup time and idle memory of every mentis process.

Brings up a private nats-server and PostgreSQL (scripts/stack.sh run --infra), then starts
each of the seven processes MENTIS_BENCH_RUNS times (default 5), each time fresh:
  ready ms  from just before exec until its admin /readyz first answers 200 (polled every ms)
  idle RSS  VmRSS from /proc/<pid>/status after 2 s of idleness once ready (PSS alongside:
            shared library pages divided among the processes that map them)
The same figures for nats-server (JetStream on; ready = its /healthz) and for `sleep` are
measured in the same run as a floor. Figures only: nothing here asserts a timing.

    MENTIS_BIN_DIR=build/release /usr/bin/python3 bench/startup.py
"""

import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

import stackctl  # noqa: E402
from stackctl import DB_SERVICES, MENTIS  # noqa: E402

RUNS = int(os.environ.get("MENTIS_BENCH_RUNS", "5"))
IDLE_SECONDS = 2.0
READY_TIMEOUT = 30.0
TARGET_READY_MS = 100
TARGET_RSS_MB = 8


class BenchError(Exception):
    pass


def http_status(port, path):
    """Status code of GET path on 127.0.0.1:port, or None when nothing answers yet."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    except OSError:
        return None
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        parts = data.split(b" ", 2)
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except OSError:
        return None
    finally:
        s.close()


def memory_kib(pid):
    """VmRSS, PSS and RssAnon (private memory: heap, stacks) in KiB."""
    rss = stackctl.vm_rss_kib(pid)
    pss = anon = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except OSError:
        pass
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss, anon


def how_it_ended(code):
    if code < 0:
        return "was killed by %s" % signal.Signals(-code).name
    return "exited with %d" % code


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(argv, env, cwd, log_path, ready_port, ready_path):
    """One fresh start: returns (ready ms or None, RSS KiB, PSS KiB, private KiB)."""
    with open(log_path, "ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        ready_ms = None
        if ready_port:
            while True:
                if http_status(ready_port, ready_path) == 200:
                    ready_ms = (time.perf_counter() - start) * 1000
                    break
                if proc.poll() is not None:
                    raise BenchError("%s %s before it was ready; its log:\n%s"
                                     % (argv[0], how_it_ended(proc.returncode), stackctl.tail(log_path, 20)))
                if time.perf_counter() - start > READY_TIMEOUT:
                    raise BenchError("%s not ready after %.0fs:\n%s"
                                     % (argv[0], READY_TIMEOUT, stackctl.tail(log_path, 20)))
                time.sleep(0.001)
        time.sleep(IDLE_SECONDS)
        if proc.poll() is not None:
            raise BenchError("%s %s while idle; its log:\n%s"
                             % (argv[0], how_it_ended(proc.returncode), stackctl.tail(log_path, 20)))
        rss, pss, anon = memory_kib(proc.pid)
        return ready_ms, rss, pss, anon
    finally:
        stop(proc)


def mentis_start(stack, name, work):
    ports = stackctl.PortBlock(2)
    try:
        admin, http = ports.base, ports.base + 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIS_")}
        env.update(MENTIS_NATS_URL=stack.nats_url, MENTIS_ADMIN_ADDR="127.0.0.1",
                   MENTIS_ADMIN_PORT=str(admin),
                   MENTIS_LOG_LEVEL=os.environ.get("MENTIS_LOG_LEVEL", "info"))
        if name == "gateway":
            env.update(MENTIS_GATEWAY_ADDR="127.0.0.1", MENTIS_GATEWAY_PORT=str(http))
        if name in DB_SERVICES:
            env["MENTIS_DATABASE_URL_FILE"] = stack.database_url_file(name)
        return measure([stackctl.binary(name, stack.bin_dir)], env, work,
                       os.path.join(work, name + ".log"), admin, "/readyz")
    finally:
        ports.release()


def nats_start(work, i):
    ports = stackctl.PortBlock(2)
    try:
        client, monitor = ports.base, ports.base + 1
        store = os.path.join(work, "nats-%d" % i)
        argv = ["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(client), "-m", str(monitor),
                "-js", "-sd", store]
        return measure(argv, os.environ.copy(), work, os.path.join(work, "nats.log"), monitor, "/healthz")
    finally:
        ports.release()
        shutil.rmtree(os.path.join(work, "nats-%d" % i), ignore_errors=True)


def sleep_start(work, i):
    return measure(["sleep", "600"], os.environ.copy(), work, os.path.join(work, "sleep.log"), None, None)


def fmt_mb(kib):
    return "%.1f" % (kib / 1024.0) if kib is not None else "-"


def row(label, results, targets):
    if isinstance(results, str):
        return "%-24s %s" % (label, results)
    ready = [r[0] for r in results if r[0] is not None]
    rss = statistics.median(r[1] for r in results)
    pss_values = [r[2] for r in results if r[2] is not None]
    pss = statistics.median(pss_values) if pss_values else None
    anon_values = [r[3] for r in results if r[3] is not None]
    anon = statistics.median(anon_values) if anon_values else None
    ready_text = "%7.1f / %7.1f" % (statistics.median(ready), max(ready)) if ready else "%7s   %7s" % ("-", "-")
    verdict = ""
    if targets:
        over = []
        if ready and statistics.median(ready) >= TARGET_READY_MS:
            over.append("ready")
        if rss / 1024.0 >= TARGET_RSS_MB:
            over.append("RSS")
        verdict = "over target: " + ", ".join(over) if over else "within target"
    return "%-24s %17s   %8s   %8s   %8s   %s" % (label, ready_text, fmt_mb(rss), fmt_mb(pss),
                                                 fmt_mb(anon), verdict)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    missing = stackctl.missing_binaries()
    if missing:
        print("startup: binaries missing (build first):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    failed = False
    work = tempfile.mkdtemp(prefix="mentis-bench-")
    rows = {}
    errors = []
    try:
        with stackctl.Stack(infra=True) as stack:
            stack.start()
            for name in MENTIS:
                print("startup: mentis-%s ..." % name, file=sys.stderr, flush=True)
                results = []
                try:
                    for _ in range(RUNS):
                        results.append(mentis_start(stack, name, work))
                    rows["mentis-" + name] = results
                except BenchError as e:
                    failed = True
                    rows["mentis-" + name] = "FAILED (see below)"
                    errors.append("mentis-%s: %s" % (name, e))
            print("startup: nats-server and sleep (reference) ...", file=sys.stderr, flush=True)
            rows["nats-server -js"] = [nats_start(work, i) for i in range(RUNS)]
            rows["sleep"] = [sleep_start(work, i) for i in range(RUNS)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("startup and idle memory: %d fresh starts per process, NATS and PostgreSQL already up" % RUNS)
    print("binaries: %s   machine: %s, %d CPUs, Linux %s" % (
        stackctl.bin_dir(), platform.machine(), os.cpu_count(), platform.release()))
    print("targets: every mentis process ready < %d ms and idle RSS < %d MB\n" % (TARGET_READY_MS, TARGET_RSS_MB))
    header = "%-24s %17s   %8s   %8s   %8s   %s" % ("process", "ready ms med / max", "RSS MB", "PSS MB",
                                                  "priv MB", "")
    print(header)
    print("-" * len(header.rstrip()) + "-" * 14)
    for name in MENTIS:
        print(row("mentis-" + name, rows["mentis-" + name], targets=True))
    print("reference (same run):")
    print(row("nats-server -js", rows["nats-server -js"], targets=False))
    print(row("sleep", rows["sleep"], targets=False))
    print("\nRSS: median VmRSS after %.0f s idle; PSS: the same with shared pages divided among their users;"
          "\npriv: RssAnon, the process's own memory (heap, stacks), the rest of RSS being shared library pages."
          % IDLE_SECONDS)
    for error in errors:
        print("\nFAILED " + error)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
