"""A minimal NATS client over a plain socket, enough to question the NATS service API.

Protocol: https://docs.nats.io/reference/reference-protocols/nats-protocol
The server greets with INFO; we answer CONNECT (headers and no_responders on, so a request
nobody serves comes back at once as an HMSG with status 503) and PING, and wait for PONG.
Replies arrive as MSG or HMSG on a subscription to a private inbox.
"""

import json
import os
import socket
import time

CRLF = b"\r\n"


class NatsError(Exception):
    pass


class Msg:
    """One delivered message. `status` is the status of an HMSG header line ("503"), if any."""

    def __init__(self, subject, reply, data, headers=None, status=None, description=None):
        self.subject = subject
        self.reply = reply
        self.data = data
        self.headers = headers or {}
        self.status = status
        self.description = description

    @property
    def no_responders(self):
        return self.status == "503" and not self.data

    def json(self):
        return json.loads(self.data.decode("utf-8"))

    def __repr__(self):
        return "Msg(%r, status=%r, %d bytes)" % (self.subject, self.status, len(self.data))


def parse_headers(block):
    """Parses the header block of an HMSG: 'NATS/1.0[ status[ description]]' then 'Key: value' lines."""
    text = block.decode("utf-8")
    if not text.endswith("\r\n\r\n"):
        raise NatsError("header block does not end with an empty line: %r" % text)
    lines = text[:-4].split("\r\n")
    first = lines[0]
    if not first.startswith("NATS/1.0"):
        raise NatsError("bad header version line: %r" % first)
    rest = first[len("NATS/1.0"):].strip()
    status = description = None
    if rest:
        status, _, description = rest.partition(" ")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep or not key:
            raise NatsError("bad header line: %r" % line)
        headers.setdefault(key, []).append(value.strip())
    return headers, status, description or None


class Nats:
    def __init__(self, host="127.0.0.1", port=4222, timeout=5.0, name="mentis-e2e"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.next_sid = 1
        self.pending = []  # messages read while waiting for something else
        line = self._read_line(time.monotonic() + timeout)
        if not line.startswith(b"INFO "):
            raise NatsError("expected INFO, got %r" % line)
        self.server_info = json.loads(line[5:])
        if not self.server_info.get("headers"):
            raise NatsError("the server does not support headers")
        connect = {"verbose": False, "pedantic": False, "lang": "python", "version": "0",
                   "protocol": 1, "headers": True, "no_responders": True, "name": name}
        self._send(b"CONNECT " + json.dumps(connect).encode() + CRLF)
        self.flush(timeout)  # the PONG also says the server accepted CONNECT

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- wire ------------------------------------------------------------------------------

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            raise NatsError("connection closed by the server")
        self.buf += chunk
        return True

    def _read_line(self, deadline):
        while CRLF not in self.buf:
            if not self._fill(deadline):
                return None
        line, _, self.buf = self.buf.partition(CRLF)
        return line

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise NatsError("timed out inside a message payload")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _next(self, deadline):
        """Reads one protocol item: ('MSG', Msg), ('PONG', None), ... or None on timeout."""
        while True:
            line = self._read_line(deadline)
            if line is None:
                return None
            op, _, args = line.partition(b" ")
            op = op.upper()
            if op == b"PING":
                self._send(b"PONG" + CRLF)
            elif op == b"PONG":
                return ("PONG", None)
            elif op in (b"+OK", b"INFO"):
                continue
            elif op == b"-ERR":
                raise NatsError("server error: %s" % args.decode(errors="replace"))
            elif op == b"MSG":
                parts = args.decode().split()
                if len(parts) not in (3, 4):
                    raise NatsError("bad MSG line: %r" % line)
                subject, size = parts[0], int(parts[-1])
                reply = parts[2] if len(parts) == 4 else None
                data = self._read_exact(size + 2, deadline)
                if data[-2:] != CRLF:
                    raise NatsError("MSG payload not followed by CRLF")
                return ("MSG", Msg(subject, reply, data[:-2]))
            elif op == b"HMSG":
                parts = args.decode().split()
                if len(parts) not in (4, 5):
                    raise NatsError("bad HMSG line: %r" % line)
                subject, hsize, total = parts[0], int(parts[-2]), int(parts[-1])
                reply = parts[2] if len(parts) == 5 else None
                if hsize > total:
                    raise NatsError("HMSG header size exceeds total size: %r" % line)
                data = self._read_exact(total + 2, deadline)
                if data[-2:] != CRLF:
                    raise NatsError("HMSG payload not followed by CRLF")
                headers, status, description = parse_headers(data[:hsize])
                return ("MSG", Msg(subject, reply, data[hsize:total], headers, status, description))
            else:
                raise NatsError("unexpected protocol line: %r" % line)

    # -- API -------------------------------------------------------------------------------

    def flush(self, timeout=5.0):
        """Round trip to the server: everything sent before has been processed."""
        self._send(b"PING" + CRLF)
        deadline = time.monotonic() + timeout
        while True:
            item = self._next(deadline)
            if item is None:
                raise NatsError("no PONG within %.1fs" % timeout)
            if item[0] == "PONG":
                return
            self.pending.append(item[1])

    def subscribe(self, subject):
        sid = self.next_sid
        self.next_sid += 1
        self._send(b"SUB %s %d\r\n" % (subject.encode(), sid))
        return sid

    def unsubscribe(self, sid):
        self._send(b"UNSUB %d\r\n" % sid)

    def publish(self, subject, data=b"", reply=None):
        head = b"PUB " + subject.encode()
        if reply:
            head += b" " + reply.encode()
        self._send(head + b" %d\r\n" % len(data) + data + CRLF)

    def new_inbox(self):
        return "_INBOX." + os.urandom(8).hex()

    def collect(self, subject, data=b"", window=1.0):
        """Publishes one request and returns every reply that arrives within `window` seconds."""
        inbox = self.new_inbox()
        sid = self.subscribe(inbox)
        self.flush()
        self.publish(subject, data, reply=inbox)
        deadline = time.monotonic() + window
        replies = []
        while True:
            item = self._next(deadline)
            if item is None:
                break
            if item[0] == "MSG" and item[1].subject == inbox:
                replies.append(item[1])
        self.unsubscribe(sid)
        return replies

    def request(self, subject, data=b"", timeout=2.0):
        """Publishes one request and returns the first reply, or None on timeout."""
        inbox = self.new_inbox()
        sid = self.subscribe(inbox)
        self.flush()
        self.publish(subject, data, reply=inbox)
        deadline = time.monotonic() + timeout
        try:
            while True:
                item = self._next(deadline)
                if item is None:
                    return None
                if item[0] == "MSG" and item[1].subject == inbox:
                    return item[1]
        finally:
            self.unsubscribe(sid)
