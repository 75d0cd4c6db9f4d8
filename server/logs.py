"""Log output: JSON lines (not a terminal, or `--log-format json`) or readable text, every line with
the request's id, operation and client, and the trace id while tracing."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from opentelemetry import trace

from server.request_context import current_request

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName",
                                                                                "color_message"}  # uvicorn's ANSI copy
_CONTEXT = ("request_id", "trace_id", "operation", "client")
FORMATS = ("auto", "json", "text")
# datetimes, dataclasses and subclasses of str/int/dict go through `default=str`, as with json.dumps
_AS_STR = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
LEVELS = ("debug", "info", "warning", "error")


class ContextFilter(logging.Filter):
    """Copies the current request's id, operation and client (and the trace id) onto each record."""

    def __init__(self, tracing: bool = False) -> None:
        super().__init__()
        self.tracing = tracing

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request()
        if info is not None:
            record.request_id, record.operation, record.client = info.request_id, info.operation, info.client
        if self.tracing:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }  # fmt: skip
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:  # one line per request: orjson is several times faster; values it cannot take go through str
            return orjson.dumps(line, default=str, option=_AS_STR).decode()
        except TypeError:  # (orjson.JSONEncodeError) an int beyond 64 bits, a key that is not a string
            return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        context = " ".join(f"{k}={fields[k]}" for k in _CONTEXT if k in fields)
        first, newline, rest = text.partition("\n")
        return f"{first} [{context}]{newline}{rest}" if context else text


def configure_logging(
    log_format: str = "auto", level: str = "info", *, tracing: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """One handler on the root logger (uvicorn's loggers propagate to it); returns it."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    handler.addFilter(ContextFilter(tracing))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format prints where a line was logged from, nor the thread or process: spare every record
    # (one access line per request) finding them (the logging HOWTO's "Optimization").
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx logs every provider call at INFO ("HTTP Request: PATCH ... 200 OK"); the delivery line
    # (`gateway.delivery`) and the provider-call metrics already tell each call, so at INFO those lines
    # are left out. At DEBUG they are kept, with httpcore's.
    quiet = logging.WARNING if root.getEffectiveLevel() > logging.DEBUG else logging.NOTSET
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
    return handler
