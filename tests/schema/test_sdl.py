"""The committed SDL is the schema the code builds; security directives only when asked for."""

from __future__ import annotations

from providers.errors import ErrorCode
from schema.root import SDL_PATH, build_schema, print_sdl
from server.documents import root_field_scopes


def test_committed_sdl_matches_code() -> None:
    # when the schema is printed, then it equals the committed file (regenerate: python -m schema)
    assert SDL_PATH.read_text() == print_sdl()


def test_sdl_declares_the_entity_key_node_and_federation_version() -> None:
    sdl = SDL_PATH.read_text()
    assert 'type AssessmentOrder implements Node @key(fields: "id")' in sdl
    assert "interface Node {" in sdl
    assert "https://specs.apollo.dev/federation/v2.9" in sdl  # 2.9: @cost / @listSize


def test_committed_sdl_has_no_security_directives_but_demand_control() -> None:
    # given the default schema (security directives off), then nothing a gateway could refuse is in it
    sdl = SDL_PATH.read_text()
    assert "@authenticated" not in sdl and "@requiresScopes" not in sdl
    assert "@cost(weight: 10)" in sdl
    assert '@listSize(assumedSize: 20, slicingArguments: ["first", "last"], sizedFields: ["edges"]' in sdl


def test_security_directives_are_printed_when_switched_on() -> None:
    sdl = print_sdl(build_schema(security_directives=True))
    assert '@authenticated @requiresScopes(scopes: [["orders:read"]])' in sdl
    assert '@cost(weight: 10) @authenticated @requiresScopes(scopes: [["results:write"]])' in sdl
    assert '"@authenticated"' in sdl and '"@requiresScopes"' in sdl  # imported by @link


def test_the_edge_reads_the_same_scopes_with_and_without_directives() -> None:
    # the scopes the edge enforces do not depend on the SDL option
    off, on = root_field_scopes(build_schema()), root_field_scopes(build_schema(security_directives=True))
    assert off == on
    assert off[("Mutation", "updateAssessmentResult")] == (("results:write",),)
    assert off[("Query", "node")] == (("orders:read",),)


def test_every_root_field_but_service_requires_a_scope() -> None:
    # a new root field without a scope would be open to every client: fail here instead
    schema = build_schema()._schema
    scopes = root_field_scopes(build_schema())
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        unscoped = {name for name in root.fields if (root.name, name) not in scopes}
        assert unscoped == ({"_service"} if root.name == "Query" else set()), root.name


def test_codes_are_enums_wherever_a_code_is_a_field() -> None:
    sdl = SDL_PATH.read_text()
    assert sdl.count("errorCode: ErrorCode\n") == 2  # Delivery, SyncConnectionPayload
    assert "code: TranslationWarningCode!" in sdl
    assert "errorCode: String" not in sdl and "Code: String" not in sdl


def test_every_error_code_has_a_row_in_the_error_table() -> None:
    table = (SDL_PATH.parent.parent / "docs" / "errors.md").read_text()
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in table]
    assert missing == []
