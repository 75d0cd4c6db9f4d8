"""The edge's part of the configuration file: [auth], [[clients]], [limits], [[persisted_documents]]."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from server.clients import hash_api_key
from server.settings import SettingsError, parse_settings

FILE = """
[service]
environment = "production"
rate_limit_per_minute = 600

[auth]
jwt_hs256_secret = "env:JWT_SECRET"
jwt_issuer = "https://idp.example/"

[limits]
max_depth = 8
max_cost = 900

[[persisted_documents]]
name = "partner-v1"
path = "partner.json"

[[connections]]
id = "acme-kombo"
provider = "KOMBO"
base_url = "https://api.kombo.dev/v1"
api_key = "k"
integration_id = "workday:x"

[[clients]]
name = "partner"
api_key_sha256 = ["{digest}"]
jwt_subjects = ["partner-app"]
scopes = ["orders:read"]
connections = ["acme-kombo"]
safelist = true
documents = ["partner-v1"]
rate_limit_per_minute = 60
"""


def test_a_full_edge_configuration_is_read() -> None:
    data = tomllib.loads(FILE.replace("{digest}", hash_api_key("partner-key")))
    settings = parse_settings(data, {"JWT_SECRET": "s3cret"})
    assert (settings.environment, settings.rate_limit_per_minute) == ("production", 600)
    assert (settings.auth.jwt_hs256_secret, settings.auth.jwt_issuer) == ("s3cret", "https://idp.example/")
    assert (settings.limits.max_depth, settings.limits.max_cost, settings.limits.max_aliases) == (8, 900, 30)
    assert [(d.name, d.path) for d in settings.persisted_documents] == [("partner-v1", "partner.json")]
    (client,) = settings.clients
    assert (client.name, client.scopes, client.connections, client.safelist, client.documents) == (
        "partner", ("orders:read",), ("acme-kombo",), True, ("partner-v1",),
    )  # fmt: skip


def test_every_edge_problem_is_listed(tmp_path: Path) -> None:
    data = tomllib.loads(FILE.replace("{digest}", "nope"))
    data["service"]["environment"] = "staging"
    data["limits"]["max_depth"] = "deep"
    data["clients"][0]["documents"] = ["other"]
    data["clients"].append({"name": "partner", "scopes": ["orders:read"], "connections": ["*"]})
    with pytest.raises(SettingsError) as raised:
        parse_settings(data, {})
    assert sorted(raised.value.problems) == sorted([
        "[service].environment must be one of development, production",
        "[auth].jwt_hs256_secret names environment variable JWT_SECRET which is not set",
        "[limits].max_depth: Input should be a valid integer, unable to parse string as an integer",
        "client 'partner': jwt_subjects need [auth] jwt_hs256_secret, jwt_jwks_file or jwt_jwks_url",
        "client 'partner': api_key_sha256 entries must be 64 hex digits (sha256 of the key)",
        "client 'partner': unknown persisted_documents 'other'",
        "client 'partner': needs api_key_sha256 or jwt_subjects",
        "[[clients]]: names must be unique",
    ])  # fmt: skip
