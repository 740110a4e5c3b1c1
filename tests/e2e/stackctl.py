"""Drives scripts/stack.sh for end-to-end tests and benchmarks.

A Stack gets a private temporary run directory and a private block of ports on 127.0.0.1,
so several stacks (tests running in parallel, a developer's `make run`) never meet. Use it
as a context manager: whatever happens, every process it started is gone afterwards.

    with Stack() as stack:
        stack.start()
        status, headers, body = stack.http("GET", "/api/health")
"""

import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection

SERVICES = ("auth", "kb", "curriculum", "metrics", "tts", "jobs")
DB_SERVICES = ("auth", "kb", "curriculum", "metrics", "jobs")
MENTIS = ("gateway",) + SERVICES
PG_BIN = "/usr/lib/postgresql/15/bin"
HERE = os.path.dirname(os.path.abspath(__file__))
PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "mentis-ports")


class StackError(Exception):
    pass


def source_dir():
    return os.environ.get("MENTIS_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))


def bin_dir():
    """The build directory holding the binaries (MENTIS_BIN_DIR, else build/release)."""
    return os.path.abspath(os.environ.get("MENTIS_BIN_DIR") or os.path.join(source_dir(), "build", "release"))


def binary(name, bindir=None):
    bindir = bindir or bin_dir()
    if name == "gateway":
        return os.path.join(bindir, "gateway", "mentis-gateway")
    return os.path.join(bindir, "services", name, "mentis-" + name)


def missing_binaries(bindir=None):
    return [binary(n, bindir) for n in MENTIS if not os.access(binary(n, bindir), os.X_OK)]


# -- ports ---------------------------------------------------------------------------------

def port_free(port):
    """Nothing listens on the port and we could bind it on 127.0.0.1 and 0.0.0.0."""
    for addr in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def port_listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class PortBlock:
    """`size` (at most 10) consecutive free ports below the kernel's ephemeral range, held by
    a lock file so that stacks started in parallel on this machine never pick the same block.
    Blocks start at multiples of 10, which keeps the lock files few."""

    def __init__(self, size=10):
        if not 1 <= size <= 10:
            raise ValueError("a port block holds 1 to 10 ports")
        try:  # shared by every user of the machine, like /tmp itself
            os.makedirs(PORT_LOCK_DIR, exist_ok=True)
            os.chmod(PORT_LOCK_DIR, 0o1777)
        except OSError:
            pass
        rng = random.Random(os.urandom(8))
        for _ in range(500):
            base = rng.randrange(1200, 3000) * 10
            try:
                lock = open(os.path.join(PORT_LOCK_DIR, "%d.lock" % base), "a")
            except OSError:  # another user's lock file: that user holds or held this block
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            if all(port_free(p) for p in range(base, base + size)):
                self.base, self.size, self.lock = base, size, lock
                return
            lock.close()
        raise StackError("found no block of %d free ports" % size)

    def release(self):
        if self.lock:
            self.lock.close()
            self.lock = None


# -- HTTP ----------------------------------------------------------------------------------

def http(port, method, path, body=None, headers=None, timeout=5.0):
    """One HTTP request to 127.0.0.1:port; returns (status, headers dict lower-cased, body bytes)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def http_json(port, method, path, **kw):
    status, headers, body = http(port, method, path, **kw)
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError as e:
        raise StackError("%s %s on :%d: not JSON (%s): %r" % (method, path, port, e, body[:300])) from None
    return status, headers, doc


# -- processes -----------------------------------------------------------------------------

def alive(pid):
    """True for a live process; a zombie (dead, not yet reaped) counts as gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_mentioning(path):
    """Live processes whose command line, working directory or environment mention `path`."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if not cmdline or not alive(pid):
            continue
        where = []
        if path in cmdline:
            where.append("cmdline")
        try:
            if os.readlink("/proc/%d/cwd" % pid).startswith(path):
                where.append("cwd")
        except OSError:
            pass
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                if path.encode() in f.read():
                    where.append("environ")
        except OSError:
            pass
        if where:
            found.append((pid, cmdline, where))
    return found


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise StackError("no VmRSS for pid %d" % pid)


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "(no %s)" % path
    text = data.decode(errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in text) or "    (empty)"


# -- the stack -----------------------------------------------------------------------------

class Stack:
    """One stack under a temporary directory: <tmp>/run is its MENTIS_RUN_DIR and
    <tmp>/stack.out what `stack.sh run` printed."""

    def __init__(self, infra=False, bindir=None, keep=None):
        self.infra = infra
        self.bin_dir = bindir or bin_dir()
        self.source_dir = source_dir()
        self.script = os.path.join(self.source_dir, "scripts", "stack.sh")
        self.keep = os.environ.get("MENTIS_E2E_KEEP") == "1" if keep is None else keep
        self.tmp = tempfile.mkdtemp(prefix="mentis-e2e-")
        # PostgreSQL runs as the postgres user when we are root: it must reach the run dir.
        os.chmod(self.tmp, 0o755)
        self.run_dir = os.path.join(self.tmp, "run")
        self.ports = PortBlock(10)
        b = self.ports.base
        self.nats_port, self.pg_port, self.gateway_port = b, b + 1, b + 2
        self.admin_base = b + 4  # the gateway's admin port is b + 3
        self.runner = None
        self.outputs = []

    # settings

    def admin_port(self, name):
        if name == "gateway":
            return self.admin_base - 1
        return self.admin_base + SERVICES.index(name)

    def all_ports(self):
        ports = [self.nats_port, self.pg_port]
        if not self.infra:
            ports += [self.gateway_port] + [self.admin_port(n) for n in MENTIS]
        return ports

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIS_")}
        env.update({
            "MENTIS_RUN_DIR": self.run_dir,
            "MENTIS_BIN_DIR": self.bin_dir,
            "MENTIS_NATS_PORT": str(self.nats_port),
            "MENTIS_PG_PORT": str(self.pg_port),
            "MENTIS_ADMIN_PORT_BASE": str(self.admin_base),
            "MENTIS_GATEWAY_ADDR": "127.0.0.1",
            "MENTIS_GATEWAY_PORT": str(self.gateway_port),
            "MENTIS_LOG_LEVEL": os.environ.get("MENTIS_LOG_LEVEL", "info"),
        })
        env.update(extra)
        return env

    @property
    def nats_url(self):
        return "nats://127.0.0.1:%d" % self.nats_port

    def log_path(self, name):
        return os.path.join(self.run_dir, "logs", name + ".log")

    def pid(self, name):
        with open(os.path.join(self.run_dir, "pids", name + ".pid")) as f:
            return int(f.read().strip())

    def database_url_file(self, svc):
        return os.path.join(self.run_dir, "secrets", svc + ".url")

    # lifecycle

    def start(self, timeout=180):
        """Runs `stack.sh run` and waits until it reports the stack ready (the `ready` file)."""
        if self.runner and self.runner.poll() is None:
            raise StackError("this stack already runs")
        out_path = os.path.join(self.tmp, "stack.out")
        self.outputs.append(out_path + ".%d" % len(self.outputs))
        out = open(self.outputs[-1], "wb")
        cmd = ["/bin/bash", self.script, "run"] + (["--infra"] if self.infra else [])
        # A session of its own: SIGINT to its process group is what Ctrl-C in a terminal does.
        self.runner = subprocess.Popen(cmd, env=self.env(), stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       cwd=self.source_dir)
        out.close()
        ready = os.path.join(self.run_dir, "ready")
        started = time.monotonic()
        deadline = started + timeout
        while not os.path.exists(ready):
            if self.runner.poll() is not None:
                raise StackError("stack.sh run exited with %d before the stack was ready:\n%s"
                                 % (self.runner.returncode, self.output()))
            if time.monotonic() > deadline:
                raise StackError("stack not ready after %ds:\n%s" % (timeout, self.output()))
            time.sleep(0.05)
        return time.monotonic() - started

    def output(self):
        """What the latest `stack.sh run` printed."""
        if not self.outputs:
            return ""
        with open(self.outputs[-1], "rb") as f:
            return f.read().decode(errors="replace")

    def interrupt(self, sig=signal.SIGINT, timeout=120):
        """Signals the runner's process group like Ctrl-C would; returns its exit code."""
        if not self.runner or self.runner.poll() is not None:
            return self.runner.returncode if self.runner else None
        try:
            os.killpg(self.runner.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return self.runner.wait(timeout)
        except subprocess.TimeoutExpired:
            raise StackError("stack.sh run did not exit %ds after %s:\n%s"
                             % (timeout, signal.Signals(sig).name, self.output())) from None

    def cli(self, *args, timeout=120, check=False):
        """Runs `stack.sh <args>` against this stack's run directory."""
        proc = subprocess.run(["/bin/bash", self.script] + list(args), env=self.env(),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              cwd=self.source_dir)
        if check and proc.returncode != 0:
            raise StackError("stack.sh %s exited with %d:\n%s%s" % (
                " ".join(args), proc.returncode, proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace")))
        return proc

    def kill_everything(self):
        """Last resort: SIGKILL every process that mentions the run directory."""
        data = os.path.join(self.run_dir, "pg", "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            self.pg_tool(["pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"], check=False)
        for _ in range(50):
            procs = processes_mentioning(self.tmp)
            if not procs:
                return
            for pid, _, _ in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)

    def cleanup(self):
        try:
            if self.runner and self.runner.poll() is None:
                try:
                    self.interrupt(signal.SIGTERM, timeout=60)
                except StackError as e:
                    print(e, file=sys.stderr)
                    os.killpg(self.runner.pid, signal.SIGKILL)
                    self.runner.wait()
            self.kill_everything()
        finally:
            self.ports.release()
            if self.keep:
                print("kept the stack's directory: %s" % self.tmp, file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # helpers

    def http(self, method, path, port=None, **kw):
        return http(port or self.gateway_port, method, path, **kw)

    def health(self):
        """GET /api/health on the gateway: (HTTP status, document)."""
        status, _, doc = http_json(self.gateway_port, "GET", "/api/health")
        return status, doc

    def pg_tool(self, argv, check=True, input=None):
        """Runs a PostgreSQL client tool as the cluster owner (postgres when we are root)."""
        cmd = [os.path.join(PG_BIN, argv[0])] + argv[1:]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        proc = subprocess.run(cmd, cwd=os.path.join(self.run_dir, "pg"), input=input,
                              capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            raise StackError("%s failed: %s" % (" ".join(argv), proc.stderr.decode(errors="replace")))
        return proc.stdout.decode()

    def psql(self, sql, db="mentis"):
        """Runs SQL as the superuser over the cluster's unix socket; returns unaligned output."""
        user = "postgres" if os.getuid() == 0 else None
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                os.path.join(self.run_dir, "pg"), "-p", str(self.pg_port), "-d", db, "-c", sql]
        if user:
            argv[1:1] = ["-U", user]
        return self.pg_tool(argv).strip()

    def logs_report(self, lines=30):
        parts = ["---- stack.sh output ----", self.output()]
        for name in ("nats", "postgres") + ((() if self.infra else MENTIS)):
            parts.append("---- %s ----" % self.log_path(name))
            parts.append(tail(self.log_path(name), lines))
        return "\n".join(parts)
