"""Checks the end-to-end tests' own tools, so a failure there points at the stack, not at them:
the strict Prometheus text parser (on good and bad expositions) and the NATS client (against
a real nats-server on a free port)."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import natsclient  # noqa: E402
import promtext  # noqa: E402
import stackctl  # noqa: E402

GOOD = r'''# HELP http_requests_total Requests by route.\nSecond line with a \\ backslash.
# TYPE http_requests_total counter
http_requests_total{route="/api/health",code="200"} 1027 1395066363000
http_requests_total{route="/a \"b\"\\c\n",code="500",} 3
# A plain comment
#TYPE_looks_like_a_keyword_but_is_a_comment

# HELP request_seconds Latency.
# TYPE request_seconds histogram
request_seconds_bucket{route="x",le="0.005"} 1
request_seconds_bucket{route="x",le="0.1"} 4
request_seconds_bucket{route="x",le="+Inf"} 5
request_seconds_sum{route="x"} 1.5e-1
request_seconds_count{route="x"} 5
request_seconds_bucket{route="y",le="1"} 0
request_seconds_bucket{route="y",le="+Inf"} 0
request_seconds_sum{route="y"} 0
request_seconds_count{route="y"} 0
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99"} NaN
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.2e+06
temperature -Inf
up +Inf
'''

BAD = {
    "no final newline": "a 1",
    "bad metric name": "1a 1\n",
    "no value": "a\n",
    "bad value": "a one\n",
    "python-only float": "a 1_000\n",
    "bad timestamp": "a 1 1.5\n",
    "extra field": "a 1 2 3\n",
    "unterminated label": 'a{b="c} 1\n',
    "bad escape in label": 'a{b="\\t"} 1\n',
    "reserved label": 'a{__name__="x"} 1\n',
    "repeated label": 'a{b="1",b="2"} 1\n',
    "missing equals": 'a{b"1"} 1\n',
    "unquoted label value": "a{b=1} 1\n",
    "duplicate series": "a 1\na 2\n",
    "unknown type": "# TYPE a countr\na 1\n",
    "second TYPE": "# TYPE a gauge\n# TYPE a gauge\na 1\n",
    "second HELP": "# HELP a x\n# HELP a y\na 1\n",
    "TYPE after samples": "a 1\n# TYPE a gauge\n",
    "interleaved families": "a{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n",
    "negative counter": "# TYPE c counter\nc -1\n",
    "bad escape in HELP": "# HELP a \\q\na 1\n",
    "histogram without +Inf": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
    "histogram decreasing": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
                            "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
    "histogram count mismatch": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
    "histogram without sum": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
    "bucket without le": "# TYPE h histogram\nh_bucket 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
    "stray histogram sample": "# TYPE h histogram\nh 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
    "summary without quantile": "# TYPE s summary\ns 1\ns_sum 1\ns_count 1\n",
    "summary quantile out of range": "# TYPE s summary\ns{quantile=\"2\"} 1\ns_sum 1\ns_count 1\n",
}


class PromTextTest(unittest.TestCase):
    def test_good(self):
        fams = promtext.parse(GOOD)
        self.assertEqual(fams["http_requests_total"].kind, "counter")
        self.assertEqual(fams["http_requests_total"].help,
                         "Requests by route.\nSecond line with a \\ backslash.")
        labels = fams["http_requests_total"].samples[1].labels
        self.assertEqual(labels["route"], '/a "b"\\c\n')
        self.assertEqual(fams["http_requests_total"].samples[0].timestamp, 1395066363000)
        self.assertEqual(len(fams["request_seconds"].samples), 9)
        self.assertEqual(fams["process_resident_memory_bytes"].value(), 4.2e6)
        self.assertEqual(fams["temperature"].kind, "untyped")
        self.assertEqual(fams["up"].value(), float("inf"))

    def test_empty(self):
        self.assertEqual(promtext.parse(""), {})

    def test_bad(self):
        for what, text in BAD.items():
            with self.subTest(what):
                with self.assertRaises(promtext.PromError, msg=what):
                    promtext.parse(text)


class NatsClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ports = stackctl.PortBlock(1)
        cls.port = cls.ports.base
        cls.tmp = tempfile.mkdtemp(prefix="mentis-e2e-tools-")
        cls.server = subprocess.Popen(["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(cls.port),
                                       "-js", "-sd", cls.tmp], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not stackctl.port_listening(cls.port):
            if time.monotonic() > deadline or cls.server.poll() is not None:
                raise RuntimeError("nats-server did not start on port %d" % cls.port)
            time.sleep(0.02)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)
        cls.ports.release()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def responder(self, subject, count, replies_each=1):
        """A second connection that answers `count` requests on `subject` in a thread."""
        nc = natsclient.Nats("127.0.0.1", self.port)
        nc.subscribe(subject)
        nc.flush()

        def serve():
            with nc:
                served = 0
                deadline = time.monotonic() + 5
                while served < count:
                    item = nc._next(deadline)
                    if item is None:
                        return
                    msg = item[1]
                    for i in range(replies_each):
                        nc.publish(msg.reply, b"re:" + msg.data + b":%d" % i)
                    nc.flush()
                    served += 1
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        return t

    def test_request_reply(self):
        t = self.responder("e2e.echo", 1)
        with natsclient.Nats("127.0.0.1", self.port) as nc:
            msg = nc.request("e2e.echo", b"hello", timeout=3)
        t.join(5)
        self.assertIsNotNone(msg)
        self.assertEqual(msg.data, b"re:hello:0")
        self.assertIsNone(msg.status)

    def test_collect_many(self):
        t = self.responder("e2e.many", 1, replies_each=3)
        with natsclient.Nats("127.0.0.1", self.port) as nc:
            msgs = nc.collect("e2e.many", b"x" * 70000, window=1.0)
        t.join(5)
        self.assertEqual(len(msgs), 3)
        self.assertEqual(msgs[2].data, b"re:" + b"x" * 70000 + b":2")

    def test_no_responders(self):
        with natsclient.Nats("127.0.0.1", self.port) as nc:
            msg = nc.request("e2e.nobody.home", b"", timeout=3)
        self.assertIsNotNone(msg, "no 503 for a subject without subscribers")
        self.assertTrue(msg.no_responders, msg)

    def test_jetstream_api_reply_is_json(self):
        # The server itself answers on $JS.API.INFO: a reply we did not write.
        with natsclient.Nats("127.0.0.1", self.port) as nc:
            msg = nc.request("$JS.API.INFO", b"", timeout=3)
        self.assertIsNotNone(msg)
        self.assertEqual(msg.json().get("type"), "io.nats.jetstream.api.v1.account_info_response")

    def test_parse_headers(self):
        headers, status, desc = natsclient.parse_headers(b"NATS/1.0 503 No Responders\r\nA: 1\r\nA: 2\r\n\r\n")
        self.assertEqual((status, desc, headers), ("503", "No Responders", {"A": ["1", "2"]}))
        with self.assertRaises(natsclient.NatsError):
            natsclient.parse_headers(b"HTTP/1.1 200\r\n\r\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
