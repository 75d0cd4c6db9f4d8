"""Settings: one TOML file named by GATEWAY_CONFIG; with none, the embedded sandbox default.

A bad file stops the service at start with every problem listed (SettingsError.problems).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from providers.connections import Connection
from providers.models import ProviderName
from resolvers.dispatch import DeliveryPolicy
from resolvers.live import LivePolicy
from server.clients import SCOPES, AuthSettings, ClientConfig
from server.limits import Limits

CONFIG_ENV = "GATEWAY_CONFIG"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/gateway.db"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TENANT_KEYS: dict[ProviderName, tuple[str, ...]] = {
    ProviderName.STACKONE: ("account_id",),
    ProviderName.KOMBO: ("integration_id",),
    ProviderName.UNIFIED_TO: ("connection_id", "workspace_id"),
}
_SERVICE_KEYS = {"database_url", "sandbox", "environment", "graphiql", "csrf_prevention", "rate_limit_per_minute"}
_TOP_KEYS = {"service", "connections", "delivery", "auth", "clients", "limits", "persisted_documents", "events"}
_ENVIRONMENTS = ("development", "production")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_CONNECTION_KEYS = set(Connection.model_fields) | {"sandbox"}
_SECRET_KEYS = ("api_key", "webhook_secret")


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class DocumentSource(BaseModel):
    """A `[[persisted_documents]]` entry: a manifest file loaded into the store at start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    path: str


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
    problems: list[str] = []
    service = dict(data.get("service", {}))
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"unknown top-level key {key!r}")
    for key in sorted(set(service) - _SERVICE_KEYS):
        problems.append(f"[service]: unknown key {key!r}")
    database_url = str(service.get("database_url", DEFAULT_DATABASE_URL))
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.append("[service].database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    raw_connections = data.get("connections", [])
    if not isinstance(raw_connections, list) or not raw_connections:
        problems.append("at least one [[connections]] entry is required")
        raw_connections = []
    connections: list[Connection] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_connections):
        connection = _parse_connection(index, raw, environ, problems, seen)
        if connection is not None:
            connections.append(connection)
    sandbox = bool(service.get("sandbox", False)) or any(c.sandbox for c in connections)
    edge = _parse_edge(data, service, {c.id for c in connections}, environ, problems)
    if not edge.get("clients") and not sandbox and not edge["auth"].anonymous:
        problems.append("no [[clients]] configured: with real connections the service refuses to run "
                        "open; configure clients or set [auth] anonymous = true explicitly")  # fmt: skip
    if problems:
        raise SettingsError(problems)
    delivery = _parse_delivery(data.get("delivery", {}), problems)
    events = _model(LivePolicy, data.get("events", {}), "[events]", problems)
    if problems:
        raise SettingsError(problems)
    return Settings(
        database_url=database_url, sandbox=sandbox, connections=tuple(connections), delivery=delivery,
        events=events, **edge,
    )  # fmt: skip


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
    data: Mapping[str, Any], service: Mapping[str, Any], connection_ids: set[str],
    environ: Mapping[str, str], problems: list[str],
) -> dict[str, Any]:
    """[service] edge keys, [auth], [limits], [[clients]] and [[persisted_documents]]."""
    edge: dict[str, Any] = {k: service[k] for k in ("graphiql", "csrf_prevention", "rate_limit_per_minute") if k in service}
    environment = service.get("environment", "development")
    if environment not in _ENVIRONMENTS:
        problems.append(f"[service].environment must be one of {', '.join(_ENVIRONMENTS)}")
    edge["environment"] = environment
    auth = dict(data.get("auth", {}))
    for key in ("jwt_hs256_secret",):
        if key in auth:
            auth[key] = _resolve_secret(auth[key], f"[auth].{key}", environ, problems)
    edge["auth"] = _model(AuthSettings, auth, "[auth]", problems) or AuthSettings()
    jwks = edge["auth"].jwt_jwks_file
    if jwks and not Path(jwks).is_file():
        problems.append(f"[auth].jwt_jwks_file {jwks}: file not found")
    edge["limits"] = _model(Limits, data.get("limits", {}), "[limits]", problems) or Limits()
    sources = [_model(DocumentSource, raw, f"persisted_documents[{i}]", problems)
               for i, raw in enumerate(data.get("persisted_documents", []))]  # fmt: skip
    edge["persisted_documents"] = tuple(s for s in sources if s is not None)
    names = {s.name for s in edge["persisted_documents"]}
    clients = [_model(ClientConfig, raw, f"clients[{i}]", problems) for i, raw in enumerate(data.get("clients", []))]
    edge["clients"] = tuple(c for c in clients if c is not None)
    for client in edge["clients"]:
        _check_client(client, connection_ids, names, edge["auth"], problems)
    if len({c.name for c in edge["clients"]}) != len(edge["clients"]):
        problems.append("[[clients]]: names must be unique")
    return edge


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


def _parse_connection(
    index: int, raw: Any, environ: Mapping[str, str], problems: list[str], seen: set[str]
) -> Connection | None:
    where = f"connections[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    values = dict(raw)
    for key in sorted(set(values) - _CONNECTION_KEYS):
        problems.append(f"{where}: unknown key {key!r}")
    conn_id = values.get("id")
    if not isinstance(conn_id, str) or not _ID.match(conn_id):
        problems.append(f"{where}: id must be 1-64 letters, digits, '_', '.' or '-'")
    elif conn_id in seen:
        problems.append(f"{where}: duplicate id {conn_id!r}")
    else:
        seen.add(conn_id)
        where = f"connection {conn_id!r}"
    try:
        provider = ProviderName(str(values.get("provider", "")).upper())
    except ValueError:
        problems.append(f"{where}: provider must be one of {', '.join(p.value for p in ProviderName)}")
        provider = None
    values["provider"] = provider
    if not values.get("sandbox"):
        url = urlsplit(str(values.get("base_url", "")))
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(f"{where}: base_url must be an absolute http(s) URL")
    else:
        values.setdefault("base_url", "http://sandbox")
    for key in _SECRET_KEYS:
        values[key] = _resolve_secret(values.get(key), f"{where}: {key}", environ, problems)
    encoding = values.get("webhook_signature_encoding")
    if encoding is not None and encoding not in ("base64url", "base64", "hex"):
        problems.append(f"{where}: webhook_signature_encoding must be base64url, base64 or hex")
    if not values.get("api_key"):
        problems.append(f"{where}: api_key is required")
    for key in _TENANT_KEYS.get(provider, ()) if provider else ():
        if not values.get(key):
            problems.append(f"{where}: {key} is required for {provider.value}")
    if len(problems) > before:
        return None
    try:
        return Connection.model_validate(values)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _resolve_secret(
    value: Any, where: str, environ: Mapping[str, str], problems: list[str]
) -> str | None:
    """A literal, or `env:NAME` read from the environment."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where} must be a string")
        return None
    if value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            problems.append(f"{where} names environment variable {name} which is not set")
            return None
        return environ[name]
    return value
