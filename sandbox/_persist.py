"""The sandboxes' durable state (orders, results, ATS records) in one JSON file, so a restart keeps it.

Only what a real provider would keep is saved: orders, the results written to them and the records behind
them. Request logs, webhook deliveries, fault switches and webhook targets belong to one run and are not.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sandbox")
FORMAT_VERSION = 1
# Per sandbox, the attributes that make up its durable state.
DURABLE: dict[str, tuple[str, ...]] = {
    "stackone": ("orders", "results", "ids_only", "ats", "created_count"),
    "kombo": ("orders", "created_at", "results", "created_count"),
    "unified_to": ("orders", "created_count"),
}
_Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]
# Attributes that JSON cannot hold as they are: (encode, decode).
_CODECS: dict[str, _Codec] = {
    "ids_only": (sorted, set),
    "created_at": (
        lambda moments: {oid: moment.isoformat() for oid, moment in moments.items()},
        lambda texts: {oid: datetime.fromisoformat(text) for oid, text in texts.items()},
    ),
}
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def dump(boxes: Any) -> dict[str, Any]:
    """The durable state of every sandbox, as JSON-ready data."""
    state: dict[str, Any] = {"version": FORMAT_VERSION}
    for name, attributes in DURABLE.items():
        box = getattr(boxes, name)
        state[name] = {attr: _CODECS.get(attr, (_same, _same))[0](getattr(box, attr)) for attr in attributes}
    return state


def restore(boxes: Any, state: dict[str, Any]) -> None:
    """Set every sandbox's durable state from `dump`'s output."""
    for name, attributes in DURABLE.items():
        box = getattr(boxes, name)
        for attr in attributes:
            setattr(box, attr, _CODECS.get(attr, (_same, _same))[1](state[name][attr]))


def save(boxes: Any, path: Path) -> None:
    """Write the state atomically: a reader (or a crash) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(dump(boxes), separators=(",", ":")))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(boxes: Any, path: Path) -> bool:
    """Restore the state saved at `path`; False (state untouched) when there is none or it is unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.warning("sandbox state %s is unreadable (%s); starting from the seeded orders", path, exc)
        return False
    if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
        log.warning("sandbox state %s has another format; starting from the seeded orders", path)
        return False
    try:
        restore(boxes, state)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("sandbox state %s is incomplete (%s); starting from the seeded orders", path, exc)
        return False
    return True


def _same(value: Any) -> Any:
    return value


class SaveAfterWrites:
    """ASGI middleware: after every request that may change a sandbox (not GET/HEAD/OPTIONS), save them all."""

    def __init__(self, app: ASGIApp, save_state: Callable[[], None]) -> None:
        self.app = app
        self.save_state = save_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_ONLY:
            await self.app(scope, receive, send)
            return
        saved = False

        async def save_before_answering(message: Message) -> None:
            # Saved before the response ends, so a client that saw the answer finds the change on disk.
            nonlocal saved
            if message["type"] == "http.response.body" and not message.get("more_body", False) and not saved:
                saved = True
                self.save_state()
            await send(message)

        try:
            await self.app(scope, receive, save_before_answering)
        finally:
            if not saved:
                self.save_state()
