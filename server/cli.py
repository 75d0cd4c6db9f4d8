"""The command line of `python app.py`: options, `--help` text, `--version` and `--check-config`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

from server.logs import FORMATS, LEVELS
from server.settings import CONFIG_ENV, SettingsError, load_settings, sandbox_settings
from server.tracing import tracing_problems

DISTRIBUTION = "assessment-gateway"
EPILOG = f"""\
configuration:
  {CONFIG_ENV}=path/to/gateway.toml   the settings file (connections, clients, delivery,
                                    limits, [metrics] access). Without it the service runs
                                    on in-process sandbox providers with the connections
                                    {", ".join(c.id for c in sandbox_settings().connections)}
                                    and a SQLite file under ./data/.
  OTEL_TRACES_EXPORTER=none|console|otlp  tracing (default none: off). With otlp:
                                    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...
                                    OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER are honoured.

endpoints:
  /graphql (GraphiQL in a browser outside production), /health, /metrics (Prometheus;
  loopback only unless [metrics] allows more), /webhooks/{{connection_id}}, /sandbox/...

exit status: 0 ok, 2 invalid configuration (every problem is listed).
See docs/operations.md.
"""


def service_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python app.py", description="Assessment-result GraphQL gateway (an Apollo Federation subgraph).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    p.add_argument("--log-format", choices=FORMATS, default="auto",
                   help="json lines, readable text, or auto: text on a terminal, json otherwise (default: auto)")
    p.add_argument("--log-level", choices=LEVELS, default="info", help="lowest level logged (default: info)")
    p.add_argument("--check-config", action="store_true",
                   help=f"validate the configuration ({CONFIG_ENV}, OTEL_* variables) and exit")
    p.add_argument("--version", action="version", version=f"%(prog)s {service_version()}")
    return p


def check_config(environ: Mapping[str, str] = os.environ, out: TextIO = sys.stdout) -> int:
    """0 and a summary when the configuration is valid; 2 and every problem otherwise."""
    problems = tracing_problems(environ)
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        problems = exc.problems + problems
    if problems:
        print("invalid configuration:", *(f"  - {p}" for p in problems), sep="\n", file=out)
        return 2
    source = environ.get(CONFIG_ENV) or "the embedded sandbox default"
    ids = ", ".join(c.id for c in settings.connections)
    print(f"configuration OK ({source}): {len(settings.connections)} connection(s): {ids}", file=out)
    return 0
