"""Clients that can stop reading: a blocking socket with a small receive buffer, spoken to with the
`websockets` library's sans-I/O protocol (graphql-transport-ws) or as plain HTTP/1.1 (graphql-sse).
While the test does not call `recv`, nothing is read: the service's writes back up as they would for
a stalled client."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

RECEIVE_BUFFER = 4096  # bytes; the kernel doubles it


def small_socket(base: str) -> socket.socket:
    """A connected socket whose receive window stays small (set before connecting)."""
    parts = urlsplit(base)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.settimeout(60)
    sock.connect((parts.hostname, parts.port))
    return sock


class RawWebSocket:
    """graphql-transport-ws over `small_socket`; messages are read only when asked for."""

    def __init__(self, base: str, api_key: str) -> None:
        self.sock = small_socket(base)
        uri = parse_uri(base.replace("http", "ws", 1) + "/graphql")
        self.proto = ClientProtocol(uri, subprotocols=[Subprotocol("graphql-transport-ws")])
        self.pending: list[Frame] = []
        self.response: Response | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.ended_by: Exception | None = None
        self.silent = False
        self.proto.send_request(self.proto.connect())
        self._flush()
        self._read_until(lambda: self.response is not None)
        assert self.response is not None and self.response.status_code == 101, self.response
        self.send({"type": "connection_init", "payload": {"apiKey": api_key}})
        assert self.next_message()["type"] == "connection_ack"

    def send(self, message: dict[str, Any]) -> None:
        self.proto.send_text(json.dumps(message).encode())
        self._flush()

    def next_message(self) -> dict[str, Any]:
        """The next text message (pings are answered on the way)."""
        while True:
            self._read_until(lambda: bool(self.pending) or self.close_code is not None)
            if not self.pending:
                raise ConnectionError(f"closed {self.close_code} {self.close_reason}")
            frame = self.pending.pop(0)
            message = json.loads(frame.data)
            if message.get("type") == "ping":
                if not self.silent:
                    self.send({"type": "pong"})
                continue
            return message

    def messages_until_closed(self) -> list[dict[str, Any]]:
        """Every text message until the service closes the socket (`close_code` says how). Nothing is
        sent meanwhile (no pong): the service may already have closed its side, and data arriving at a
        closed socket would be answered with a reset that discards what is still to be read."""
        self.silent = True
        found: list[dict[str, Any]] = []
        try:
            while True:
                found.append(self.next_message())
        except ConnectionError as exc:
            self.ended_by = exc
            return found

    def _read_until(self, done: Any) -> None:
        while not done():
            data = self.sock.recv(65536)
            if not data:
                self.proto.receive_eof()
                self.close_code = self.close_code or 1006
                return
            self.proto.receive_data(data)
            for event in self.proto.events_received():
                if isinstance(event, Response):
                    self.response = event
                elif event.opcode == Opcode.TEXT:
                    self.pending.append(event)
                elif event.opcode == Opcode.CLOSE and self.proto.close_rcvd is not None:
                    self.close_code, self.close_reason = self.proto.close_rcvd.code, self.proto.close_rcvd.reason
            self._flush()

    def _flush(self) -> None:
        if self.silent:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def close(self) -> None:
        self.sock.close()


class RawEventStream:
    """A graphql-sse POST over `small_socket` (HTTP/1.1, chunked); the body is read only when asked for."""

    def __init__(self, base: str, api_key: str, body: dict[str, Any]) -> None:
        self.sock = small_socket(base)
        payload = json.dumps(body).encode()
        head = (f"POST /graphql HTTP/1.1\r\nHost: {urlsplit(base).netloc}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nx-api-key: {api_key}\r\nContent-Length: {len(payload)}\r\n\r\n")  # fmt: skip
        self.sock.sendall(head.encode() + payload)
        self.raw, self.body, self.ended = b"", b"", False
        while b"\r\n\r\n" not in self.raw:
            self._receive()
        self.head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        assert self.head.startswith(b"HTTP/1.1 200") and b"chunked" in self.head.lower(), self.head

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.raw += data

    def _dechunk(self) -> None:
        while not self.ended:
            size_line, found, rest = self.raw.partition(b"\r\n")
            if not found or len(rest) < int(size_line, 16) + 2:
                return
            size = int(size_line, 16)
            self.body, self.raw, self.ended = self.body + rest[:size], rest[size + 2 :], size == 0

    def next_event(self) -> tuple[str, str]:
        """The next event's `event:` and `data:` (keep-alive comments skipped); ConnectionError when the
        response ends (`ended`: properly, with its last chunk) or the connection closes."""
        while True:
            self._dechunk()
            while b"\n\n" in self.body:
                block, _, self.body = self.body.partition(b"\n\n")
                fields = dict(line.decode().split(":", 1) for line in block.split(b"\n") if not line.startswith(b":"))
                if fields:
                    return fields.get("event", "").strip(), fields.get("data", "").strip()
            if self.ended:
                raise ConnectionError("the response ended")
            self._receive()

    def events_until_closed(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        try:
            while True:
                found.append(self.next_event())
        except ConnectionError:
            return found

    def close(self) -> None:
        self.sock.close()


def wait_until(condition: Any, timeout: float = 120, what: str = "the condition") -> None:
    """Poll `condition` (an observable fact of the system under test, not a clock) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
