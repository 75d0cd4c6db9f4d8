"""The committed SDL is the schema the code builds."""

from __future__ import annotations

from schema.root import SDL_PATH, print_sdl


def test_committed_sdl_matches_code() -> None:
    # when the schema is printed, then it equals the committed file (regenerate: python -m schema)
    assert SDL_PATH.read_text() == print_sdl()


def test_sdl_declares_the_entity_key_and_federation_version() -> None:
    sdl = SDL_PATH.read_text()
    assert 'type AssessmentOrder @key(fields: "id")' in sdl
    assert "https://specs.apollo.dev/federation/v2.5" in sdl
