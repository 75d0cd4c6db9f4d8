"""Configuration file: connections, secrets from the environment, every problem listed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from providers.models import ProviderName
from server.settings import CONFIG_ENV, SettingsError, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[service]
database_url = "postgresql+asyncpg://gateway@db.internal:5432/gateway"

[[connections]]
id = "acme-stackone"
provider = "STACKONE"
base_url = "https://api.stackone.com"
api_key = "env:STACKONE_KEY"
account_id = "45355976281015164504"
webhook_secret = "literal-secret"
prefer_heartbeat = true

[[connections]]
id = "acme-kombo"
provider = "kombo"
base_url = "https://api.kombo.dev/v1"
api_key = "kombo-key"
integration_id = "workday:HWUTwvyx2wLoSUHphiWVrp28"

[[connections]]
id = "acme-unified"
provider = "UNIFIED_TO"
base_url = "https://api.unified.to"
api_key = "unified-key"
connection_id = "5de520f96e439b002043d8dc"
workspace_id = "5de520f96e439b002043d8d0"

[[clients]]
name = "dashboard"
api_key_sha256 = ["24927b80004eab8cf30f991f02e329e4a633c569053d5e8a25a5f6a33de7ae90"]  # sha256 of "dash-key"
scopes = ["orders:read", "results:write"]
connections = ["*"]
"""


def test_good_file_resolves_connections_and_env_secrets(tmp_path: Path) -> None:
    # given a file naming a secret from the environment
    path = tmp_path / "gateway.toml"
    path.write_text(GOOD)
    # when it is loaded
    settings = load_settings({CONFIG_ENV: str(path), "STACKONE_KEY": "so-secret"})
    # then every connection is there, secrets resolved, and the sandbox is off
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert not settings.sandbox
    stackone, kombo, unified = settings.connections
    assert (stackone.provider, stackone.api_key, stackone.prefer_heartbeat) == (
        ProviderName.STACKONE, "so-secret", True,
    )
    assert kombo.provider is ProviderName.KOMBO and kombo.integration_id.startswith("workday:")
    assert (unified.connection_id, unified.workspace_id) == (
        "5de520f96e439b002043d8dc", "5de520f96e439b002043d8d0",
    )


def test_no_file_means_sandbox_default() -> None:
    settings = load_settings({})
    assert settings.sandbox
    assert {c.provider for c in settings.connections} == set(ProviderName)
    assert all(c.sandbox for c in settings.connections)


def test_every_problem_is_listed_at_once() -> None:
    # given a file with many mistakes
    data = tomllib.loads(
        """
        colour = "blue"
        [service]
        database_url = "mysql://x"
        [[connections]]
        id = "a b"
        provider = "GREENHOUSE"
        base_url = "ftp://x"
        api_key = "env:MISSING_VAR"
        [[connections]]
        id = "k"
        provider = "KOMBO"
        base_url = "https://api.kombo.dev/v1"
        api_key = "x"
        [[connections]]
        id = "k"
        provider = "UNIFIED_TO"
        base_url = "https://api.unified.to"
        api_key = "x"
        tenant = "?"
        """
    )
    # when it is parsed
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, {})
    problems = "\n".join(caught.value.problems)
    # then each mistake is named
    for fragment in (
        "unknown top-level key 'colour'", "database_url must start with", "id must be",
        "provider must be one of", "base_url must be an absolute", "MISSING_VAR which is not set",
        "integration_id is required for KOMBO", "duplicate id 'k'", "unknown key 'tenant'",
    ):
        assert fragment in problems
    assert len(caught.value.problems) >= 9


def test_bad_file_stops_the_service_at_start(tmp_path: Path) -> None:
    # given a configuration file with an unknown provider
    path = tmp_path / "bad.toml"
    path.write_text('[[connections]]\nid = "x"\nprovider = "NOPE"\nbase_url = "https://x"\napi_key = "k"\n')
    env = {**os.environ, CONFIG_ENV: str(path)}
    # when the service is started
    run = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--port", "0"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    # then it exits at once, listing the problem
    assert run.returncode == 2
    assert "provider must be one of" in run.stderr


KOMBO_CONNECTION = {"id": "k", "provider": "KOMBO", "base_url": "https://api.kombo.dev/v1", "api_key": "x",
                    "integration_id": "workday:x"}  # fmt: skip
OPEN = {"auth": {"anonymous": True}}


@pytest.mark.parametrize(
    ("_case", "data", "fragment"),
    [
        ("service rate limit negative", {"service": {"rate_limit_per_minute": -5}}, "[service].rate_limit_per_minute"),
        ("service rate limit zero", {"service": {"rate_limit_per_minute": 0}}, "[service].rate_limit_per_minute"),
        ("graphiql a string", {"service": {"graphiql": "yes"}}, "[service].graphiql"),
        ("csrf a number", {"service": {"csrf_prevention": 1}}, "[service].csrf_prevention"),
        ("sandbox a string", {"service": {"sandbox": "false"}}, "[service].sandbox"),
        ("database_url a number", {"service": {"database_url": 5}}, "[service].database_url"),
        ("timeout negative", {"connections": [{**KOMBO_CONNECTION, "timeout_seconds": -3}]}, "timeout_seconds"),
        ("read timeout zero", {"connections": [{**KOMBO_CONNECTION, "read_timeout_seconds": 0}]},
         "read_timeout_seconds"),
        ("max_in_flight zero", {"connections": [{**KOMBO_CONNECTION, "max_in_flight": 0}]}, "max_in_flight"),
        ("sync interval negative", {"connections": [{**KOMBO_CONNECTION, "sync_interval_seconds": -1}]},
         "sync_interval_seconds"),
        ("heartbeat a string", {"connections": [{**KOMBO_CONNECTION, "prefer_heartbeat": "yes"}]}, "prefer_heartbeat"),
        ("max_depth zero", {"limits": {"max_depth": 0}}, "[limits].max_depth"),
        ("max_cost negative", {"limits": {"max_cost": -1}}, "[limits].max_cost"),
        ("max_body_bytes zero", {"limits": {"max_body_bytes": 0}}, "[limits].max_body_bytes"),
        ("request timeout negative", {"limits": {"request_timeout_seconds": -1}}, "[limits].request_timeout_seconds"),
        ("leeway negative", {"auth": {"anonymous": True, "jwt_leeway_seconds": -1}}, "[auth].jwt_leeway_seconds"),
        ("anonymous a string", {"auth": {"anonymous": "true"}}, "[auth].anonymous"),
        ("client rate limit negative", {"clients": [{"name": "c", "api_key_sha256": ["0" * 64],
                                                     "rate_limit_per_minute": -5}]}, "rate_limit_per_minute"),
        ("client gateway a string", {"clients": [{"name": "c", "api_key_sha256": ["0" * 64], "gateway": "no"}]},
         "gateway"),
        ("delivery batch zero", {"delivery": {"batch_size": 0}}, "[delivery].batch_size"),
    ],
)  # fmt: skip
def test_every_value_has_a_type_and_bounds(_case: str, data: dict[str, object], fragment: str) -> None:
    # given an otherwise good file with one bad value
    full = {**OPEN, "connections": [KOMBO_CONNECTION], **data}
    # then it is refused, naming the value
    with pytest.raises(SettingsError) as caught:
        parse_settings(full, {})
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_delivery_problems_are_listed_with_every_other_problem() -> None:
    data = {"service": {"rate_limit_per_minute": -5, "graphiql": "yes"}, "delivery": {"batch_size": 0},
            "connections": [{**KOMBO_CONNECTION, "timeout_seconds": -3}], "limits": {"max_depth": 0}}  # fmt: skip
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, {})
    problems = "\n".join(caught.value.problems)
    for fragment in ("rate_limit_per_minute", "graphiql", "[delivery].batch_size", "timeout_seconds",
                     "[limits].max_depth", "no [[clients]] configured"):  # fmt: skip
        assert fragment in problems, problems


@pytest.mark.parametrize(
    ("_case", "data"),
    [
        ("a sandbox connection", {**OPEN, "connections": [{"id": "s", "provider": "KOMBO", "sandbox": True,
                                                           "api_key": "x", "integration_id": "i"}]}),
        ("[service] sandbox", {**OPEN, "service": {"sandbox": True}, "connections": [KOMBO_CONNECTION]}),
        ("anonymous access", {**OPEN, "connections": [KOMBO_CONNECTION]}),
    ],
)  # fmt: skip
def test_production_refuses_routes_open_without_authentication(_case: str, data: dict[str, object]) -> None:
    # given a file that is fine in development
    assert parse_settings(data, {}) is not None
    # when it says production, then it is refused
    production = {**data, "service": {**data.get("service", {}), "environment": "production"}}  # type: ignore[dict-item]
    with pytest.raises(SettingsError) as caught:
        parse_settings(production, {})
    assert any("production" in problem for problem in caught.value.problems), caught.value.problems


def test_production_with_a_sandbox_connection_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "prod.toml"
    path.write_text('[service]\nenvironment = "production"\n[[connections]]\nid = "s"\nprovider = "KOMBO"\n'
                    'sandbox = true\napi_key = "k"\nintegration_id = "i"\n')  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--port", "0"],
        env={**os.environ, CONFIG_ENV: str(path)}, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "sandbox" in run.stderr and "production" in run.stderr
