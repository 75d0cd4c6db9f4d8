"""The `[[connections]]` entries of the configuration file, and secrets read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from providers.connections import Connection
from providers.models import ProviderName

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TENANT_KEYS: dict[ProviderName, tuple[str, ...]] = {
    ProviderName.STACKONE: ("account_id",),
    ProviderName.KOMBO: ("integration_id",),
    ProviderName.UNIFIED_TO: ("connection_id", "workspace_id"),
}
_CONNECTION_KEYS = set(Connection.model_fields) | {"sandbox"}
_SECRET_KEYS = ("api_key", "webhook_secret")


def parse_connection(
    index: int, raw: Any, environ: Mapping[str, str], problems: list[str], seen: set[str]
) -> Connection | None:
    """One `[[connections]]` entry, or None with its problems appended (all of them, types included)."""
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
        values[key] = resolve_secret(values.get(key), f"{where}: {key}", environ, problems)
    encoding = values.get("webhook_signature_encoding")
    if encoding is not None and encoding not in ("base64url", "base64", "hex"):
        problems.append(f"{where}: webhook_signature_encoding must be base64url, base64 or hex")
    if not values.get("api_key"):
        problems.append(f"{where}: api_key is required")
    for key in _TENANT_KEYS.get(provider, ()) if provider else ():
        if not values.get(key):
            problems.append(f"{where}: {key} is required for {provider.value}")
    typed = _connection_types(values, where, problems)
    return typed if len(problems) == before else None


# Checked (with their own messages) before the model sees the entry.
_CHECKED_KEYS = frozenset({"id", "provider", "base_url", "api_key", "webhook_secret", "webhook_signature_encoding"})
_PLACEHOLDERS = {"id": "x", "provider": ProviderName.KOMBO, "base_url": "http://x", "api_key": "x"}


def _connection_types(values: dict[str, Any], where: str, problems: list[str]) -> Connection | None:
    """Types and bounds of every other key, reported even when the keys above have problems."""
    checked = {k: (values.get(k) if isinstance(values.get(k), str | ProviderName) else _PLACEHOLDERS.get(k))
               for k in _CHECKED_KEYS}  # fmt: skip
    known = {k: v for k, v in values.items() if k in _CONNECTION_KEYS and k not in _CHECKED_KEYS}
    try:
        return Connection.model_validate({**known, **{k: v for k, v in checked.items() if v is not None}})
    except ValidationError as exc:
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            if key.split(".")[0] not in _CHECKED_KEYS:
                problems.append(f"{where}: {key}: {error['msg']}")
        return None


def resolve_secret(
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
