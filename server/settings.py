"""Settings: one TOML file named by GATEWAY_CONFIG; with none, the embedded sandbox default.

A bad file stops the service at start with every problem listed (SettingsError.problems).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from providers.connections import Connection
from providers.models import ProviderName
from resolvers.dispatch import DeliveryPolicy
from resolvers.live import LivePolicy
from server.clients import RATE_LIMIT_MAX, SCOPES, AuthSettings, ClientConfig
from server.connection_settings import parse_connection, resolve_secret
from server.limits import Limits
from server.metrics_access import MetricsAccess

CONFIG_ENV = "GATEWAY_CONFIG"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/gateway.db"
_TOP_KEYS = {"service", "connections", "delivery", "auth", "clients", "limits", "persisted_documents", "federation", "metrics", "events"}
_ENVIRONMENTS = ("development", "production")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class DocumentSource(BaseModel):
    """A `[[persisted_documents]]` entry: a manifest file loaded into the store at start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    path: str


class FederationSettings(BaseModel):
    """The [federation] section: what the subgraph's SDL carries for the router in front."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # `@authenticated` / `@requiresScopes` in the SDL, for a router that enforces them (Apollo Router
    # with a plan that allows them). Off: the SDL composes unchanged in @apollo/gateway and Hive
    # Gateway. The service enforces scopes itself either way.
    security_directives: StrictBool = False


class ServiceSection(BaseModel):
    """`[service]`: every key typed and bounded (checked in the same pass as every other section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    sandbox: StrictBool = False
    environment: Literal["development", "production"] = "development"
    graphiql: StrictBool | None = None
    csrf_prevention: StrictBool = True
    rate_limit_per_minute: int | None = Field(None, ge=1, le=RATE_LIMIT_MAX)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    # In-process sandbox providers with seeded orders serve the sandbox connections.
    sandbox: bool = False
    connections: tuple[Connection, ...] = ()
    # Retries, deadlines, claims and breakers of result delivery (the [delivery] section).
    delivery: DeliveryPolicy = DeliveryPolicy()
    # The HTTP edge: environment policy, client auth, limits, trusted documents.
    environment: str = "development"
    graphiql: bool | None = None  # default: on outside production
    csrf_prevention: bool = True
    rate_limit_per_minute: int | None = None  # for clients that set none
    auth: AuthSettings = AuthSettings()
    clients: tuple[ClientConfig, ...] = ()
    limits: Limits = Limits()
    persisted_documents: tuple[DocumentSource, ...] = ()
    federation: FederationSettings = FederationSettings()  # what the SDL carries (the [federation] section)
    # Who may scrape /metrics (the [metrics] section; server/metrics_access.py).
    metrics: MetricsAccess = MetricsAccess()
    # The live-event log and subscriptions (the [events] section).
    events: LivePolicy = LivePolicy()


def sandbox_settings(database_url: str = DEFAULT_DATABASE_URL) -> Settings:
    """The embedded default: three sandbox connections, one per provider."""
    from sandbox import SANDBOX_CREDENTIALS as creds

    connections = (
        Connection(id="sandbox-stackone", provider=ProviderName.STACKONE,
                   base_url="http://sandbox/stackone", sandbox=True, **creds["stackone"]),
        Connection(id="sandbox-kombo", provider=ProviderName.KOMBO,
                   base_url="http://sandbox/kombo/v1", sandbox=True, **creds["kombo"]),
        Connection(id="sandbox-unified-to", provider=ProviderName.UNIFIED_TO,
                   base_url="http://sandbox/unified_to", sandbox=True, **creds["unified_to"]),
    )  # fmt: skip
    return Settings(database_url=database_url, sandbox=True, connections=connections)


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from the file named by GATEWAY_CONFIG, or the sandbox default."""
    path = environ.get(CONFIG_ENV)
    if not path:
        return sandbox_settings()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError([f"{CONFIG_ENV}={path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_settings(data, environ)


def parse_settings(data: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    """Every section validated in one pass: all problems are listed at once (SettingsError)."""
    problems: list[str] = []
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"unknown top-level key {key!r}")
    service = _parse_service(data.get("service", {}), problems)
    raw_connections = data.get("connections", [])
    if not isinstance(raw_connections, list) or not raw_connections:
        problems.append("at least one [[connections]] entry is required")
        raw_connections = []
    connections: list[Connection] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_connections):
        connection = parse_connection(index, raw, environ, problems, seen)
        if connection is not None:
            connections.append(connection)
    sandbox = service.sandbox or any(c.sandbox for c in connections) or _any_sandbox(raw_connections)
    edge = _parse_edge(data, service, {c.id for c in connections}, environ, problems)
    if not edge.get("clients") and not sandbox and not edge["auth"].anonymous:
        problems.append("no [[clients]] configured: with real connections the service refuses to run "
                        "open; configure clients or set [auth] anonymous = true explicitly")  # fmt: skip
    if service.environment == "production":
        problems += _production_problems(sandbox, raw_connections, edge["auth"])
    delivery = _parse_delivery(data.get("delivery", {}), problems)
    federation = _model(FederationSettings, data.get("federation", {}), "[federation]", problems)
    metrics = _parse_metrics(data.get("metrics", {}), environ, problems)
    events = _model(LivePolicy, data.get("events", {}), "[events]", problems)
    if problems:
        raise SettingsError(problems)
    return Settings(
        database_url=service.database_url, sandbox=sandbox, connections=tuple(connections), delivery=delivery,
        federation=federation, metrics=metrics, events=events, **edge,
    )  # fmt: skip


def _parse_service(raw: Any, problems: list[str]) -> ServiceSection:
    if not isinstance(raw, dict):
        problems.append("[service]: must be a table")
        return ServiceSection()
    try:
        service = ServiceSection.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_service_problem(error))
        valid = {k: v for k, v in raw.items() if k not in {str(e["loc"][0]) for e in exc.errors() if e["loc"]}}
        service = ServiceSection.model_validate(valid)
    if not service.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.append("[service].database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return service


def _service_problem(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"[service]: unknown key {key!r}"
    if key == "environment":
        return f"[service].environment must be one of {', '.join(_ENVIRONMENTS)}"
    return f"[service].{key}: {error['msg']}"


def _any_sandbox(raw_connections: list[Any]) -> bool:
    return any(isinstance(raw, dict) and raw.get("sandbox") is True for raw in raw_connections)


def _production_problems(sandbox: bool, raw_connections: list[Any], auth: AuthSettings) -> list[str]:
    """Routes that answer without authentication are refused in production."""
    problems = []
    if sandbox:
        ids = [str(raw.get("id")) for raw in raw_connections if isinstance(raw, dict) and raw.get("sandbox") is True]
        which = f" ({', '.join(ids)})" if ids else ""
        problems.append(f'environment = "production" refuses sandbox connections{which}: the /sandbox routes '
                        "(recorded requests, webhooks, injected orders, faults) answer without authentication")  # fmt: skip
    if auth.anonymous:
        problems.append('environment = "production" refuses [auth] anonymous = true: /graphql would answer '
                        "anyone, with every connection; configure [[clients]]")  # fmt: skip
    return problems


def _parse_metrics(raw: Any, environ: Mapping[str, str], problems: list[str]) -> MetricsAccess:
    """The [metrics] section: who may scrape /metrics."""
    if isinstance(raw, dict) and "bearer_token" in raw:
        raw = {**raw, "bearer_token": resolve_secret(raw["bearer_token"], "[metrics].bearer_token", environ, problems)}
    return _model(MetricsAccess, raw, "[metrics]", problems) or MetricsAccess()


def _parse_delivery(raw: Any, problems: list[str]) -> DeliveryPolicy:
    """The [delivery] section: every key optional (resolvers/dispatch.py DeliveryPolicy)."""
    if not isinstance(raw, dict):
        problems.append("[delivery]: must be a table")
        return DeliveryPolicy()
    try:
        return DeliveryPolicy.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"[delivery].{'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
        return DeliveryPolicy()


def _parse_edge(
    data: Mapping[str, Any], service: ServiceSection, connection_ids: set[str],
    environ: Mapping[str, str], problems: list[str],
) -> dict[str, Any]:
    """[service] edge keys, [auth], [limits], [[clients]] and [[persisted_documents]]."""
    edge: dict[str, Any] = service.model_dump(
        include={"graphiql", "csrf_prevention", "rate_limit_per_minute", "environment"}
    )
    auth = dict(data["auth"]) if isinstance(data.get("auth"), dict) else data.get("auth", {})
    for key in ("jwt_hs256_secret",):
        if key in auth:
            auth[key] = resolve_secret(auth[key], f"[auth].{key}", environ, problems)
    edge["auth"] = _model(AuthSettings, auth, "[auth]", problems) or AuthSettings()
    jwks = edge["auth"].jwt_jwks_file
    if jwks and not Path(jwks).is_file():
        problems.append(f"[auth].jwt_jwks_file {jwks}: file not found")
    edge["limits"] = _model(Limits, data.get("limits", {}), "[limits]", problems) or Limits()
    sources = [_model(DocumentSource, raw, f"persisted_documents[{i}]", problems)
               for i, raw in enumerate(_entries(data, "persisted_documents", problems))]  # fmt: skip
    edge["persisted_documents"] = tuple(s for s in sources if s is not None)
    names = {s.name for s in edge["persisted_documents"]}
    for name in sorted(n for n in names if n == "apq" or n.startswith("apq:")):
        problems.append(f"persisted_documents {name!r}: names 'apq' and 'apq:*' are the APQ namespaces")
    clients = [_model(ClientConfig, raw, f"clients[{i}]", problems)
               for i, raw in enumerate(_entries(data, "clients", problems))]  # fmt: skip
    edge["clients"] = tuple(c for c in clients if c is not None)
    for client in edge["clients"]:
        _check_client(client, connection_ids, names, edge["auth"], problems)
    if len({c.name for c in edge["clients"]}) != len(edge["clients"]):
        problems.append("[[clients]]: names must be unique")
    return edge


def _entries(data: Mapping[str, Any], key: str, problems: list[str]) -> list[Any]:
    entries = data.get(key, [])
    if not isinstance(entries, list):
        problems.append(f"[[{key}]]: must be an array of tables")
        return []
    return entries


def _check_client(
    client: ClientConfig, connection_ids: set[str], documents: set[str], auth: AuthSettings, problems: list[str]
) -> None:
    where = f"client {client.name!r}"
    if not client.api_key_sha256 and not client.jwt_subjects:
        problems.append(f"{where}: needs api_key_sha256 or jwt_subjects")
    if client.jwt_subjects and not (auth.jwt_hs256_secret or auth.jwt_jwks_file or auth.jwt_jwks_url):
        problems.append(f"{where}: jwt_subjects need [auth] jwt_hs256_secret, jwt_jwks_file or jwt_jwks_url")
    for digest in client.api_key_sha256:
        if not _SHA256_HEX.match(digest):
            problems.append(f"{where}: api_key_sha256 entries must be 64 hex digits (sha256 of the key)")
    for scope in sorted(set(client.scopes) - set(SCOPES)):
        problems.append(f"{where}: unknown scope {scope!r} (known: {', '.join(SCOPES)})")
    for conn in sorted(set(client.connections) - connection_ids - {"*"}):
        problems.append(f"{where}: unknown connection {conn!r}")
    for name in sorted(set(client.documents) - documents):
        problems.append(f"{where}: unknown persisted_documents {name!r}")
    if client.safelist and not client.documents:
        problems.append(f"{where}: safelist needs documents")


def _model(model: type[BaseModel], raw: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{where}.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
        return None
