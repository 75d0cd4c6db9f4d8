"""Serving the app with uvicorn. A shutdown signal also ends live subscriptions at once, before
uvicorn waits for open connections: an SSE stream never ends by itself, so it would hold a graceful
shutdown forever (WebSockets would be closed by uvicorn, with the same 1012)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import FrameType
from typing import Any


def serve(app: Any, on_exit: Callable[[], None], **config: Any) -> bool:
    """Run `app` until a signal stops it, calling `on_exit` in the event loop when one arrives;
    whether the server started."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            with contextlib.suppress(RuntimeError):  # no loop running: nothing is open yet
                asyncio.get_running_loop().call_soon_threadsafe(on_exit)

    server = Server(uvicorn.Config(app, **config))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started
