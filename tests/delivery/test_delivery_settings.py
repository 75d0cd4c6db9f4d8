"""The [delivery] settings section and the per-connection timeout and cap keys."""

from __future__ import annotations

import pytest

from providers.guard import limits_for
from resolvers.dispatch import DeliveryPolicy
from server.settings import SettingsError, parse_settings

CONNECTION = {"id": "k", "provider": "KOMBO", "base_url": "https://api.kombo.dev/v1", "api_key": "x",
              "integration_id": "i"}  # fmt: skip


def settings(**extra: object) -> dict[str, object]:
    return {"auth": {"anonymous": True}, "connections": [CONNECTION], **extra}


def test_delivery_defaults_and_overrides() -> None:
    assert parse_settings(settings()).delivery == DeliveryPolicy()
    tuned = parse_settings(settings(delivery={"base_delay_seconds": 0.5, "breaker_failures": 3})).delivery
    assert (tuned.base_delay_seconds, tuned.breaker_failures, tuned.max_delay_seconds) == (0.5, 3, 600.0)


def test_bad_delivery_values_are_all_listed() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings(settings(delivery={"base_delay_seconds": 0, "batch_size": "many", "nope": 1}))
    problems = "\n".join(raised.value.problems)
    assert "[delivery].base_delay_seconds" in problems and "[delivery].batch_size" in problems
    assert "[delivery].nope" in problems


def test_connection_timeouts_and_cap() -> None:
    keyed = {**CONNECTION, "connect_timeout_seconds": 2, "read_timeout_seconds": 20, "timeout_seconds": 25,
             "max_in_flight": 10}  # fmt: skip
    (connection,) = parse_settings(settings(connections=[keyed])).connections
    limits = limits_for(connection)
    assert (limits.connect, limits.read, limits.call, limits.max_in_flight) == (2, 20, 25, 10)
