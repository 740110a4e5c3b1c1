"""End to end: the whole local stack (scripts/stack.sh) with real NATS and PostgreSQL.

Needs the seven binaries in MENTIS_BIN_DIR (a build directory); fails when any is missing.
Runs on its own temporary run directory and ports, so it can run next to `make run`.
Set MENTIS_E2E_KEEP=1 to keep the run directory (logs, data) afterwards.
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import natsclient  # noqa: E402
import promtext  # noqa: E402
import stackctl  # noqa: E402
from stackctl import MENTIS, SERVICES  # noqa: E402

DOWN_WITHIN = 5.0  # seconds: the gateway must report a killed service down this fast
VERSION = "0.1.0"
SUMMARY = []  # lines printed at the end


def note(line):
    print(line, flush=True)
    SUMMARY.append(line)


def wait_for(what, check, timeout, interval=0.05):
    """Polls check() until it returns something truthy; returns (value, seconds taken)."""
    start = time.monotonic()
    last = None
    while True:
        try:
            last = check()
        except (OSError, stackctl.StackError) as e:  # the gateway may be restarting
            last = e
        else:
            if last:
                return last, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError("%s: not within %.1fs (last: %r)" % (what, timeout, last))
        time.sleep(interval)


class StackTest(unittest.TestCase):
    stack = None  # set by main()

    # -- helpers ---------------------------------------------------------------------------

    def service_status(self, svc):
        _, doc = self.stack.health()
        return doc["services"][svc]["status"]

    def service_up(self, svc):
        entry = self.stack.health()[1]["services"][svc]
        return entry["status"] == "up" and entry["instances"] == 1

    def health_ok(self):
        status, doc = self.stack.health()
        return (status, doc) if status == 200 else None

    def assert_all_up(self, status, doc):
        self.assertEqual(status, 200, "GET /api/health: want 200, got %d: %s" % (status, doc))
        self.assertEqual(doc.get("status"), "ok", doc)
        self.assertEqual(doc.get("version"), VERSION, doc)
        services = doc.get("services")
        self.assertIsInstance(services, dict, doc)
        self.assertEqual(sorted(services), sorted(SERVICES), "health lists other services: %s" % doc)
        for svc in SERVICES:
            entry = services[svc]
            self.assertEqual(entry.get("status"), "up", "%s: %s" % (svc, entry))
            self.assertEqual(entry.get("instances"), 1, "%s: %s" % (svc, entry))
            self.assertIsInstance(entry.get("version"), str, "%s: %s" % (svc, entry))
            self.assertTrue(entry["version"], "%s has an empty version" % svc)

    def nats(self):
        return natsclient.Nats("127.0.0.1", self.stack.nats_port)

    # -- tests (run in name order; the last ones stop and restart the stack) -----------------

    def test_01_health_lists_all_services_up(self):
        # The gateway may need a moment to hear from every service after it became ready.
        def all_up():
            status, doc = self.stack.health()
            ok = status == 200 and all(doc.get("services", {}).get(s, {}).get("status") == "up"
                                       for s in SERVICES)
            return (status, doc) if ok else None
        (status, doc), took = wait_for("all services up in /api/health", all_up, 10)
        self.assert_all_up(status, doc)
        note("health: all six services up (%.2fs after the stack was ready)" % took)

    def test_02_admin_endpoints(self):
        for name in MENTIS:
            port = self.stack.admin_port(name)
            for path in ("/healthz", "/readyz"):
                status, _, body = stackctl.http(port, "GET", path)
                self.assertEqual(status, 200, "%s %s on :%d: %d %r" % (name, path, port, status, body))

    def test_03_metrics_parse(self):
        for name in MENTIS:
            port = self.stack.admin_port(name)
            status, headers, body = stackctl.http(port, "GET", "/metrics")
            self.assertEqual(status, 200, "%s /metrics: %d" % (name, status))
            ctype = headers.get("content-type", "")
            self.assertTrue(ctype.startswith("text/plain"), "%s /metrics content-type %r" % (name, ctype))
            try:
                families = promtext.parse(body.decode("utf-8"))
            except promtext.PromError as e:
                self.fail("%s /metrics is not valid Prometheus text: %s" % (name, e))
            rss = families.get("process_resident_memory_bytes")
            self.assertIsNotNone(rss, "%s /metrics lacks process_resident_memory_bytes" % name)
            self.assertEqual(rss.kind, "gauge", "%s process_resident_memory_bytes type" % name)
            self.assertGreater(rss.value(), 0, "%s process_resident_memory_bytes" % name)
            note("metrics: %-10s %3d families, %4d samples, RSS %.1f MB" % (
                name, len(families), sum(len(f.samples) for f in families.values()), rss.value() / 1e6))

    def test_04_gateway_unknown_path_is_problem_json(self):
        status, headers, body = self.stack.http("GET", "/api/no-such-route-e2e")
        self.assertEqual(status, 404, "unknown path: %d %r" % (status, body))
        ctype = headers.get("content-type", "")
        self.assertTrue(ctype.startswith("application/problem+json"), "content-type %r" % ctype)
        doc = json.loads(body)
        for key in ("status", "title", "code", "request_id"):
            self.assertIn(key, doc, "problem body lacks %r: %s" % (key, doc))
        self.assertEqual(doc["status"], 404, doc)
        self.assertTrue(doc["request_id"], doc)

    def test_05_nats_service_api(self):
        want = sorted(MENTIS)
        with self.nats() as nc:
            for verb, kind in (("PING", "ping_response"), ("INFO", "info_response"),
                               ("STATS", "stats_response")):
                replies = nc.collect("$SRV." + verb, window=1.0)
                docs = []
                for msg in replies:
                    self.assertIsNone(msg.status, "$SRV.%s reply with status %s" % (verb, msg.status))
                    docs.append(msg.json())
                names = sorted(d.get("name") for d in docs)
                self.assertEqual(names, want, "$SRV.%s: want one reply per process, got %s" % (verb, docs))
                for d in docs:
                    self.assertEqual(d.get("type"), "io.nats.micro.v1." + kind, d)
                    self.assertTrue(d.get("id"), d)
                    self.assertTrue(d.get("version"), d)
                self.assertEqual(len({d["id"] for d in docs}), len(docs), "instance ids repeat: %s" % docs)
                # Addressed forms reach exactly one process.
                for d in docs:
                    for subject in ("$SRV.%s.%s" % (verb, d["name"]),
                                    "$SRV.%s.%s.%s" % (verb, d["name"], d["id"])):
                        got = [m.json() for m in nc.collect(subject, window=0.3)]
                        self.assertEqual([g.get("id") for g in got], [d["id"]], "%s: %s" % (subject, got))
                note("nats: $SRV.%-5s answered by %s" % (verb, ", ".join(names)))
            # Every service serves mentis.v1.<svc>.health.
            for svc in SERVICES:
                msg = nc.request("mentis.v1.%s.health" % svc, b"", timeout=2.0)
                self.assertIsNotNone(msg, "mentis.v1.%s.health: no reply within 2s" % svc)
                self.assertFalse(msg.no_responders, "mentis.v1.%s.health: no responders" % svc)

    def api(self, method, path, doc=None, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        body = None
        if doc is not None:
            body = json.dumps(doc).encode()
            h["Content-Type"] = "application/json"
        status, hdrs, data = stackctl.http(self.stack.gateway_port, method, path, body=body,
                                           headers=h)
        return status, hdrs, (json.loads(data) if data else None)

    def test_05b_a_new_user_signs_in_through_the_gateway(self):
        # What `make run` printed is enough to sign in as the admin.
        line = [l for l in self.stack.output().splitlines() if l.strip().startswith("admin:")]
        self.assertTrue(line, "the stack printed no admin credentials:\n" + self.stack.output())
        email, password = [x.strip() for x in line[0].split(":", 1)[1].split(" / ")]
        status, _, doc = self.api("POST", "/api/auth/login", {"email": email, "password": password})
        self.assertEqual(status, 200, doc)
        admin = doc["tokens"]["access_token"]
        self.assertEqual(doc["user"]["role"], "platform_admin", doc)

        status, hdrs, doc = self.api("POST", "/api/auth/register", {
            "email": "e2e@example.com", "password": "a long e2e password", "display_name": "E2E"})
        self.assertEqual(status, 201, doc)
        self.assertEqual(hdrs.get("location"), "/api/auth/me")
        token = doc["tokens"]["access_token"]
        user_id = doc["user"]["id"]

        # Without an SMTP relay the verification mail lands in <run dir>/mail as .eml, and
        # its link works as it is.
        maildir = os.path.join(self.stack.run_dir, "mail")

        def mail():
            for name in sorted(os.listdir(maildir)) if os.path.isdir(maildir) else []:
                with open(os.path.join(maildir, name), errors="replace") as f:
                    text = f.read()
                if "e2e@example.com" in text:
                    return text
            return None
        text, took = wait_for("the verification mail in .run/mail", mail, 10)
        link = [w for w in text.replace("=\n", "").split() if "verify-email?token=" in w]
        self.assertTrue(link, "no verification link in:\n" + text)
        path = link[0][link[0].index("/api/auth/verify-email"):].rstrip(".,>\"")
        status, _, doc = self.api("GET", path)
        self.assertEqual((status, doc.get("email_verified")), (200, True), doc)
        note("verification mail written %.1f s after registering; its link verified the address" % took)

        # Forged identity headers change nothing; the admin's list shows the new user.
        status, _, doc = self.api("GET", "/api/auth/me", token=token, headers={
            "Mentis-Principal": "00000000-0000-7000-8000-000000000099", "Mentis-Roles": "admin"})
        self.assertEqual((status, doc["id"], doc["role"]), (200, user_id, "user"), doc)
        status, _, doc = self.api("GET", "/api/admin/users", token=token)
        self.assertEqual((status, doc["code"]), (403, "permission_denied"), doc)
        status, _, doc = self.api("GET", "/api/admin/users", token=admin)
        self.assertEqual(status, 200, doc)
        self.assertIn("e2e@example.com", [u["email"] for u in doc["items"]])

        # Logout ends the session at once.
        status, _, _ = self.api("POST", "/api/auth/logout", {}, token=token)
        self.assertEqual(status, 204)
        (status, doc), took = wait_for("the logged-out token refused", lambda: (
            lambda r: (r[0], r[2]) if r[0] == 401 else None)(self.api("GET", "/api/auth/me", token=token)), 2)
        self.assertEqual(doc["code"], "token_invalid", doc)
        note("a logged-out token refused %.0f ms after logout" % (took * 1000))

        # The gateway counted its refusals.
        status, _, body = stackctl.http(self.stack.admin_port("gateway"), "GET", "/metrics")
        family = promtext.parse(body.decode()).get("mentis_gateway_rejected_total")
        self.assertIsNotNone(family, "no mentis_gateway_rejected_total")
        self.assertGreaterEqual(family.value(reason="unauthenticated"), 1)
        self.assertGreaterEqual(family.value(reason="forbidden"), 1)

    def test_06_kill_and_restart_each_service(self):
        for svc in SERVICES:
            pid = self.stack.pid(svc)
            self.assertTrue(stackctl.alive(pid), "%s pid %d is not running" % (svc, pid))
            os.kill(pid, signal.SIGKILL)
            _, took = wait_for("%s reported down after kill -9" % svc,
                               lambda: self.service_status(svc) == "down", DOWN_WITHIN + 5, 0.02)
            status, doc = self.stack.health()
            note("kill -9 %-10s -> down after %.2fs" % (svc, took))
            self.assertLess(took, DOWN_WITHIN, "%s reported down after %.2fs (limit %.0fs)" % (svc, took, DOWN_WITHIN))
            self.assertEqual(status, 503, "/api/health with %s down: want 503, got %d" % (svc, status))
            self.assertIn(doc["status"], ("degraded", "down"), doc)

            proc = self.stack.cli("start", svc)
            self.assertEqual(proc.returncode, 0, "stack.sh start %s failed:\n%s%s" % (
                svc, proc.stdout.decode(), proc.stderr.decode()))
            self.assertNotEqual(self.stack.pid(svc), pid)
            _, took = wait_for("%s up again" % svc, lambda: self.service_up(svc), 10)
            note("stack.sh start %-10s -> up again %.2fs after it was ready" % (svc, took))
        (status, doc), _ = wait_for("health ok after the restarts", self.health_ok, 10)
        self.assert_all_up(status, doc)

        # The gateway too: it is stateless, so a restarted one sees every service at once.
        os.kill(self.stack.pid("gateway"), signal.SIGKILL)
        proc = self.stack.cli("start", "gateway")
        self.assertEqual(proc.returncode, 0, "stack.sh start gateway failed:\n%s%s" % (
            proc.stdout.decode(), proc.stderr.decode()))
        (status, doc), took = wait_for("health ok after a gateway restart", self.health_ok, 10)
        self.assert_all_up(status, doc)
        note("kill -9 gateway, stack.sh start gateway -> all up %.2fs after it was ready" % took)

    def test_07_refusals_and_a_second_stack(self):
        # Same run directory: refused, and the running stack is left alone.
        proc = self.stack.cli("run", timeout=30)
        self.assertNotEqual(proc.returncode, 0, "a second run in the same directory started")
        self.assertIn(b"already runs", proc.stderr, proc.stderr)

        # Another directory but our NATS port: refused before it starts anything.
        with stackctl.Stack() as other:
            env = other.env(MENTIS_NATS_PORT=str(self.stack.nats_port))
            proc = subprocess.run(["/bin/bash", other.script, "run"], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(str(self.stack.nats_port).encode(), proc.stderr, proc.stderr)
            self.assertFalse(stackctl.processes_mentioning(other.tmp), "a refused run left processes")

        status, doc = self.stack.health()
        self.assert_all_up(status, doc)

        # A second complete stack side by side.
        with stackctl.Stack() as other:
            took = other.start()
            status, doc = other.health()
            self.assert_all_up(status, doc)
            status, doc = self.stack.health()
            self.assert_all_up(status, doc)
            self.assertEqual(other.interrupt(), 0, other.output())
            note("second stack side by side: up in %.1fs, stopped cleanly" % took)

    def test_08_ctrl_c_stops_everything_and_data_survives(self):
        stack = self.stack
        token = os.urandom(8).hex()
        stack.psql("CREATE TABLE IF NOT EXISTS e2e_marker (token text PRIMARY KEY)")
        stack.psql("INSERT INTO e2e_marker VALUES ('%s')" % token)
        sysid = stack.psql("SELECT system_identifier FROM pg_control_system()")
        secrets = {s: open(stack.database_url_file(s)).read() for s in stackctl.DB_SERVICES}
        pids = {n: stack.pid(n) for n in ("nats", "postgres") + MENTIS}

        began = time.monotonic()
        rc = stack.interrupt(signal.SIGINT)
        note("Ctrl-C: stack.sh exited %d after %.2fs" % (rc, time.monotonic() - began))
        self.assertEqual(rc, 0, "stack.sh run exit code after SIGINT:\n" + stack.output())
        left = stackctl.processes_mentioning(stack.tmp)
        self.assertEqual(left, [], "processes left after Ctrl-C: %s" % left)
        for name, pid in pids.items():
            self.assertFalse(stackctl.alive(pid), "%s (pid %d) still runs" % (name, pid))
        busy = [p for p in stack.all_ports() if not stackctl.port_free(p)]
        self.assertEqual(busy, [], "ports still taken after Ctrl-C")
        self.assertFalse(os.path.exists(os.path.join(stack.run_dir, "ready")))

        took = stack.start()
        self.assertNotIn("creating the PostgreSQL cluster", stack.output(), "the second run re-initialised PostgreSQL")
        self.assertEqual(stack.psql("SELECT token FROM e2e_marker WHERE token = '%s'" % token), token,
                         "the marker row did not survive a restart")
        self.assertEqual(stack.psql("SELECT system_identifier FROM pg_control_system()"), sysid)
        for s, url in secrets.items():
            self.assertEqual(open(stack.database_url_file(s)).read(), url, "%s password changed" % s)
        (status, doc), _ = wait_for("health ok after the restart", self.health_ok, 10)
        self.assert_all_up(status, doc)
        note("second run on the same directory: up in %.1fs, data kept (marker row, same cluster)" % took)

        rc = stack.interrupt(signal.SIGTERM)
        self.assertEqual(rc, 0, stack.output())
        self.assertEqual(stackctl.processes_mentioning(stack.tmp), [])


def main():
    missing = stackctl.missing_binaries()
    if missing:
        print("FAIL: binaries missing in %s (build first):\n  %s" % (stackctl.bin_dir(), "\n  ".join(missing)),
              file=sys.stderr)
        return 1
    ok = False
    with stackctl.Stack() as stack:
        print("run dir %s; ports: nats %d, postgres %d, gateway %d, admin %d-%d" % (
            stack.run_dir, stack.nats_port, stack.pg_port, stack.gateway_port,
            stack.admin_port("gateway"), stack.admin_port("jobs")), flush=True)
        try:
            took = stack.start()
        except stackctl.StackError as e:
            print("FAIL: the stack did not start: %s" % e, file=sys.stderr)
            print(stack.logs_report(), file=sys.stderr)
            return 1
        note("stack up in %.1fs" % took)
        StackTest.stack = stack
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(StackTest)
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, failfast=False).run(suite)
        ok = result.wasSuccessful()
        if not ok:
            print(stack.logs_report(), file=sys.stderr)
    print("\n==== e2e summary ====\n" + "\n".join(SUMMARY) + "\n==== %s ====" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
