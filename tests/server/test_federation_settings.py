"""The [federation] section: security directives in the SDL are opt-in."""

from __future__ import annotations

import pytest

from server.settings import SettingsError, parse_settings

REAL = {"connections": [{"id": "acme-kombo", "provider": "KOMBO", "base_url": "https://api.kombo.dev/v1",
                         "api_key": "k", "integration_id": "workday:x"}], "auth": {"anonymous": True}}  # fmt: skip


def test_security_directives_are_off_unless_switched_on() -> None:
    assert parse_settings(REAL, {}).federation.security_directives is False
    assert parse_settings({**REAL, "federation": {"security_directives": True}}, {}).federation.security_directives


def test_a_bad_federation_section_is_listed() -> None:
    with pytest.raises(SettingsError) as refused:
        parse_settings({**REAL, "federation": {"security_directive": True}}, {})
    assert any(p.startswith("[federation].security_directive") for p in refused.value.problems)
