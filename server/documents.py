"""Prepared documents: parsed, validated and analysed once (operations, root fields, depth, aliases)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    validate,
)

from providers.errors import ErrorCode
from schema.access import READ_ORDERS, SCOPES_KEY

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
FEDERATION_FIELDS = frozenset({"_service", "_entities"})
# Scopes of the root fields Strawberry generates (no directive can be put on them).
FEDERATION_SCOPES: dict[str, tuple[tuple[str, ...], ...]] = {"_entities": ((READ_ORDERS,),)}


@dataclass(frozen=True)
class Operation:
    """What one operation of a document does, as far as the edge's policies care."""

    name: str | None
    type: str  # "query" | "mutation" | "subscription"
    node: OperationDefinitionNode
    root_fields: tuple[str, ...]
    depth: int
    aliases: int
    introspection: bool  # selects __schema or __type somewhere
    federation: frozenset[str]  # _service / _entities at the root


@dataclass
class Prepared:
    """A document after parsing and validation; `errors` is empty when it can run."""

    text: str
    document: DocumentNode | None = None
    errors: list[GraphQLError] = field(default_factory=list)
    quiet_errors: list[GraphQLError] = field(default_factory=list)  # the same, without suggestions
    parse_failed: bool = False
    operations: dict[str | None, Operation] = field(default_factory=dict)
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    # What the edge worked out from this document alone (or with a variable signature), e.g. costs.
    memo: dict[Hashable, Any] = field(default_factory=dict)

    def operation(self, name: str | None) -> Operation | None:
        """The operation to run: the named one, or the only one when no name is given."""
        if name is not None:
            return self.operations.get(name)
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None


class DocumentPreparer:
    """Parse, validate and analyse documents; `cached()` keeps the result, whichever way the text came
    (full text, APQ hash, trusted-document id): one LRU keyed by the text (its hash, with the text
    compared on a hit), bounded in entries and in the characters of the texts it holds."""

    def __init__(
        self, schema: GraphQLSchema, *, max_tokens: int, cache_size: int = 1000, cache_chars: int = 8_000_000
    ) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self.cache_chars = cache_chars
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._chars = 0
        self.parse_count = 0

    def cached(self, text: str) -> Prepared:
        """The prepared document, parsed and validated on first use only (errors included: the same
        text always fails the same way)."""
        found = self._cache.get(text)
        if found is not None:
            self._cache.move_to_end(text)
            return found
        found = self.prepare(text)
        if len(text) <= self.cache_chars:
            self._cache[text] = found
            self._chars += len(text)
            while len(self._cache) > self.cache_size or self._chars > self.cache_chars:
                self._chars -= len(self._cache.popitem(last=False)[0])
        return found

    def prepare(self, text: str) -> Prepared:
        """Parse, validate and analyse `text` (no cache)."""
        prepared = Prepared(text)
        self.parse_count += 1
        try:
            prepared.document = parse(text, max_tokens=self.max_tokens)
        except GraphQLError as error:
            prepared.parse_failed = True
            code = ErrorCode.MAX_TOKENS_LIMIT if "tokens. Parsing aborted" in error.message else None
            if code is not None:
                error.extensions = {"code": code.value}
            prepared.errors = prepared.quiet_errors = [error]
            return prepared
        prepared.errors = validate(self.schema, prepared.document)
        if prepared.errors:
            prepared.quiet_errors = validate(self.schema, prepared.document, hide_suggestions=True)
        else:
            _analyse(prepared)
        return prepared


def _analyse(prepared: Prepared) -> None:
    assert prepared.document is not None
    prepared.fragments = {
        d.name.value: d for d in prepared.document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in prepared.document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else None
            prepared.operations[name] = _operation(definition, prepared.fragments)


def _operation(node: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]) -> Operation:
    roots = [f for f in fields_of(node.selection_set, fragments)]
    root_names = tuple(f.name.value for f in roots if f.name.value != "__typename")
    counter = _Counter(fragments)
    depth = max((counter.depth(f) for f in roots), default=0)
    counter.walk(node.selection_set)
    return Operation(
        name=node.name.value if node.name else None,
        type=node.operation.value,
        node=node,
        root_fields=root_names,
        depth=depth,
        aliases=counter.aliases,
        introspection=counter.introspection,
        federation=frozenset(root_names) & FEDERATION_FIELDS,
    )


def fields_of(selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]) -> list[FieldNode]:
    """The fields of a selection set with fragments spread in (any type condition)."""
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found += fields_of(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            found += fields_of(fragments[selection.name.value].selection_set, fragments)
    return found


class _Counter:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.aliases = 0
        self.introspection = False

    def depth(self, node: FieldNode) -> int:
        """Nesting depth of a field (1 for a leaf); introspection subtrees are not counted."""
        if node.name.value in INTROSPECTION_FIELDS:
            return 1
        children = fields_of(node.selection_set, self.fragments)
        return 1 + max((self.depth(child) for child in children), default=0)

    def walk(self, selection_set: SelectionSetNode | None) -> None:
        for node in fields_of(selection_set, self.fragments):
            self.aliases += node.alias is not None
            if node.name.value in INTROSPECTION_FIELDS:
                self.introspection = True
                continue
            self.walk(node.selection_set)


def root_field_scopes(strawberry_schema: object) -> dict[tuple[str, str], tuple[tuple[str, ...], ...]]:
    """The scopes of every root field, read from the fields' metadata (schema/access.py): the same
    whether or not the SDL carries them as `@requiresScopes`."""
    graphql_schema: GraphQLSchema = strawberry_schema._schema  # type: ignore[attr-defined]
    found: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
    for root in (graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type):
        if root is None:
            continue
        for name in root.fields:
            definition = strawberry_schema.get_field_for_type(name, root.name)  # type: ignore[attr-defined]
            scopes = (getattr(definition, "metadata", None) or {}).get(SCOPES_KEY)
            if scopes is not None:
                found[(root.name, name)] = tuple(tuple(str(s) for s in group) for group in scopes)
    for name, scopes in FEDERATION_SCOPES.items():
        found[("Query", name)] = scopes
    return found
