"""A trivial provider for the comparison bench: every request is answered 200 at once (StackOne's shape).

    python -m bench.fast_provider --port P

HTTP/1.1 with keep-alive on a bare asyncio protocol, so the provider's own cost stays far below
either side's; it counts the requests it answered (GET /_count).
"""

from __future__ import annotations

import argparse
import asyncio
import json

ANSWER = json.dumps({"statusCode": 200, "message": "Result updated", "timestamp": "2026-11-01T10:00:00.000Z"}).encode()


class FastProvider(asyncio.Protocol):
    answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = _content_length(head)
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            self._answer(head.split(" ", 2)[1])

    def _answer(self, path: str) -> None:
        if path == "/_count":
            body = json.dumps({"answered": FastProvider.answered}).encode()
        else:
            FastProvider.answered += 1
            body = ANSWER
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )


def _content_length(head: str) -> int:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
    return 0


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(FastProvider, "127.0.0.1", port)
    print(f"fast provider on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
