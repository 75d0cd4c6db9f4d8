"""Request limits: body size, depth, aliases, root fields, tokens, estimated cost, deadline.

The cost estimate follows the IBM GraphQL cost directive spec as Apollo's demand control applies it,
reading `@cost` and `@listSize` from the schema: an object costs 1, a scalar or enum 0, a field with
`@cost(weight:)` its weight; a list multiplies its items by its size, taken from a slicing argument
(`first`/`last`; the length of `representations` for `_entities`) when given, else its
`assumedSize` (10 without one). With `sizedFields: ["edges"]` a connection's size applies to its `edges`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from pydantic import BaseModel, ConfigDict, Field
from strawberry.federation.schema_directives import Cost
from strawberry.federation.schema_directives import ListSize as ListSizeDirective

from providers.bounds import MAX_PAGE
from providers.errors import ErrorCode
from server.documents import Operation
from server.errors import RequestError

DEFAULT_LIST_SIZE = 10
COST = "cost"  # the memo key's kind
MEMO_SIZE = 256  # estimates kept per document (a variable's integer value is part of the key)
_ABSENT = ("absent",)


class Limits(BaseModel):
    """`[limits]` in the configuration; every limit has a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(262_144, ge=1, le=64 * 1024 * 1024)
    max_depth: int = Field(12, ge=1, le=1_000)
    max_aliases: int = Field(30, ge=1, le=100_000)
    max_root_fields: int = Field(20, ge=1, le=100_000)
    max_tokens: int = Field(5_000, ge=1, le=10_000_000)
    max_cost: int = Field(5_000, ge=1, le=1_000_000_000)
    request_timeout_seconds: float = Field(30.0, gt=0, le=3_600)


@dataclass(frozen=True)
class ListSize:
    slicing: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()
    assumed: int = DEFAULT_LIST_SIZE


# Strawberry generates `_entities`, so no directive can be put on it.
FEDERATION_LIST_SIZES = {("Query", "_entities"): ListSize(("representations",), assumed=100)}


@dataclass(frozen=True)
class CostModel:
    """`@cost` weights and `@listSize` of the schema's fields, by (type name, field name)."""

    weights: dict[tuple[str, str], int]
    list_sizes: dict[tuple[str, str], ListSize]


def cost_model(strawberry_schema: Any) -> CostModel:
    """Read `@cost` and `@listSize` from every object type's fields."""
    weights: dict[tuple[str, str], int] = {}
    sizes: dict[tuple[str, str], ListSize] = dict(FEDERATION_LIST_SIZES)
    for type_name, graphql_type in strawberry_schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name in graphql_type.fields:
            definition = strawberry_schema.get_field_for_type(name, type_name)
            for directive in getattr(definition, "directives", None) or ():
                if isinstance(directive, Cost):
                    weights[(type_name, name)] = directive.weight
                elif isinstance(directive, ListSizeDirective):
                    sizes[(type_name, name)] = ListSize(
                        tuple(directive.slicing_arguments or ()), tuple(directive.sized_fields or ()),
                        directive.assumed_size or DEFAULT_LIST_SIZE,
                    )  # fmt: skip
    return CostModel(weights, sizes)


def check_shape(operation: Operation, limits: Limits) -> None:
    """Depth, aliases and root fields, each with its own code (HTTP 400)."""
    checks = (
        (operation.depth, limits.max_depth, ErrorCode.MAX_DEPTH_LIMIT, "depth"),
        (operation.aliases, limits.max_aliases, ErrorCode.MAX_ALIASES_LIMIT, "aliases"),
        (len(operation.root_fields), limits.max_root_fields, ErrorCode.MAX_ROOT_FIELDS_LIMIT, "root fields"),
    )
    for value, limit, code, what in checks:
        if value > limit:
            raise RequestError(code, f"The operation has {value} {what}; at most {limit} are allowed.", 400)


def check_cost(
    schema: GraphQLSchema,
    model: CostModel,
    operation: Operation,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: Limits,
    memo: dict[Hashable, Any] | None = None,
) -> int:
    """The estimate, refused above `max_cost`. With `memo` (the prepared document's), an estimate is
    kept per operation and variable shape (what the estimate reads of the variables), so a document
    run again is not walked again; an estimate that raises is never kept."""
    key = (COST, operation.name, variable_shapes(operation, variables))
    cost = memo.get(key) if memo is not None else None
    if cost is None:
        cost = estimate_cost(schema, model, operation, fragments, variables)
        if memo is not None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = cost
    if cost > limits.max_cost:
        raise RequestError(
            ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
            f"The operation's estimated cost is {cost}; at most {limits.max_cost} is allowed.",
            400,
            extensions={"cost": {"estimated": cost, "max": limits.max_cost}},
        )
    return cost


def variable_shapes(operation: Operation, variables: Mapping[str, Any]) -> tuple[Hashable, ...]:
    """Of each declared variable, what `_Estimator._slice` can read: an integer's value, a list's
    length, whether it is absent (its default then applies); of any other value only its type."""
    return tuple(
        _shape(variables[d.variable.name.value]) if d.variable.name.value in variables else _ABSENT
        for d in operation.node.variable_definitions or ()
    )


def _shape(value: Any) -> Hashable:
    if isinstance(value, bool) or not isinstance(value, int | list):
        return type(value).__name__
    return ("list", len(value)) if isinstance(value, list) else ("int", value)


def estimate_cost(
    schema: GraphQLSchema,
    model: CostModel,
    operation: Operation,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    root = schema.get_root_type(operation.node.operation)
    if root is None:
        return 0
    defaults = {
        d.variable.name.value: d.default_value for d in operation.node.variable_definitions or ()
    }
    estimator = _Estimator(schema, model, fragments, variables, defaults)
    return estimator.selections(root, operation.node.selection_set, {})


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        model: CostModel,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> None:
        self.schema, self.model, self.fragments = schema, model, fragments
        self.variables, self.defaults = variables, defaults

    def selections(
        self,
        parent: GraphQLCompositeType,
        selection_set: SelectionSetNode | None,
        sizes: Mapping[str, int],
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, sizes.get(selection.name.value))
            elif isinstance(selection, InlineFragmentNode):
                typed = self._type(selection.type_condition.name.value if selection.type_condition else None, parent)
                total += self.selections(typed, selection.selection_set, sizes)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self.fragments:
                fragment = self.fragments[selection.name.value]
                typed = self._type(fragment.type_condition.name.value, parent)
                total += self.selections(typed, fragment.selection_set, sizes)
        return total

    def field(self, parent: GraphQLCompositeType, node: FieldNode, size: int | None) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        weight = self.model.weights.get((parent.name, name), int(is_composite_type(named)))
        list_size = self.model.list_sizes.get((parent.name, name), ListSize())
        slicing = self._slice(node, list_size)
        child_sizes = {f: slicing if slicing is not None else list_size.assumed for f in list_size.sized_fields}
        children = self.selections(named, node.selection_set, child_sizes) if is_composite_type(named) else 0  # type: ignore[arg-type]
        if is_list_type(get_nullable_type(definition.type)) and is_composite_type(named):
            count = size if size is not None else (slicing if slicing is not None else list_size.assumed)
            return max(count, 0) * max(weight + children, 0)
        return max(size if size is not None else 1, 0) * max(weight + children, 0)

    def _slice(self, node: FieldNode, list_size: ListSize) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value not in list_size.slicing:
                continue
            value: Any = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value, self.defaults.get(value.name.value))
            if isinstance(value, IntValueNode):
                return _page_size(argument.name.value, int(value.value))
            if isinstance(value, ListValueNode):
                return len(value.values)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return _page_size(argument.name.value, value)
            if isinstance(value, list):
                return len(value)
        return None

    def _type(self, name: str | None, fallback: GraphQLCompositeType) -> GraphQLCompositeType:
        found = self.schema.get_type(name) if name else None
        return found if is_composite_type(found) else fallback  # type: ignore[return-value]


def _page_size(name: str, value: int) -> int:
    """A slicing argument within 0..MAX_PAGE, refused before any estimate (a negative size would lower it)."""
    if not 0 <= value <= MAX_PAGE:
        raise RequestError(ErrorCode.BAD_USER_INPUT, f"{name} must be between 0 and {MAX_PAGE}.", 400,
                           extensions={"field": name})  # fmt: skip
    return value
