"""Every type, field, argument, input field and enum value of the printed schema is described."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
)

from schema.root import SDL_PATH

# Types and fields Strawberry's federation support adds; their text is not ours to write.
FEDERATION = {"_Any", "_Entity", "_Service", "_service", "_entities", "link__Import", "link__Purpose", "FieldSet",
              "_FieldSet", "federation__Scope", "federation__Policy", "federation__ContextFieldValue"}  # fmt: skip
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def parts() -> dict[str, list[tuple[str, bool]]]:
    """(path, described) of each part of the committed SDL, by kind."""
    schema = build_schema(SDL_PATH.read_text(), assume_valid=True)
    found: dict[str, list[tuple[str, bool]]] = {k: [] for k in ("type", "field", "argument", "input field", "enum value")}
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in FEDERATION or name in BUILT_IN:
            continue
        found["type"].append((name, bool(kind.description)))
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if field_name in FEDERATION:
                    continue
                found["field"].append((f"{name}.{field_name}", bool(field.description)))
                for arg_name, arg in field.args.items():
                    found["argument"].append((f"{name}.{field_name}({arg_name})", bool(arg.description)))
        elif isinstance(kind, GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                found["input field"].append((f"{name}.{field_name}", bool(field.description)))
        elif isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                found["enum value"].append((f"{name}.{value_name}", bool(value.description)))
        else:
            assert isinstance(kind, GraphQLScalarType)
    return found


def test_every_part_of_the_schema_is_described() -> None:
    # when the committed SDL is read back, then nothing we defined lacks a description
    found = parts()
    undescribed = {kind: [path for path, ok in items if not ok] for kind, items in found.items()}
    assert undescribed == {kind: [] for kind in found}


def test_the_count_covers_the_whole_schema() -> None:
    # the walk above really sees the schema (a broken walk would pass the first test vacuously)
    found = parts()
    assert len(found["field"]) + len(found["argument"]) + len(found["input field"]) >= 156  # 173 today
    assert len(found["enum value"]) >= 28 + 33  # the domain enums and the error codes
    assert len(found["argument"]) >= 12
    assert {"AssessmentOrder", "Node", "ErrorCode", "TranslationWarningCode", "DateTime"} <= {p for p, _ in found["type"]}
