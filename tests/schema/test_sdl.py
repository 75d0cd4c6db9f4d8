"""The committed SDL is the schema the code builds."""

from __future__ import annotations

from schema.root import SDL_PATH, print_sdl


def test_committed_sdl_matches_code() -> None:
    # when the schema is printed, then it equals the committed file (regenerate: python -m schema)
    assert SDL_PATH.read_text() == print_sdl()


def test_sdl_declares_the_entity_key_and_federation_version() -> None:
    sdl = SDL_PATH.read_text()
    assert 'type AssessmentOrder @key(fields: "id")' in sdl
    assert "https://specs.apollo.dev/federation/v2.9" in sdl  # 2.9: @cost / @listSize (2.5: @requiresScopes)


def test_sdl_carries_auth_and_demand_control_directives() -> None:
    sdl = SDL_PATH.read_text()
    assert 'assessmentOrder(id: ID!): AssessmentOrder @authenticated @requiresScopes(scopes: [["orders:read"]])' in sdl
    assert '@cost(weight: 10) @authenticated @requiresScopes(scopes: [["results:write"]])' in sdl
    assert '@listSize(assumedSize: 20, slicingArguments: ["first", "last"], sizedFields: ["edges"]' in sdl
