"""Request limits: body size, depth, aliases, root fields, tokens, estimated cost, deadline.

The cost estimate follows the IBM GraphQL cost directive spec as Apollo's demand control applies it:
an object costs 1, a scalar or enum 0, a mutation root field 10; a list multiplies its items by its
size, taken from the slicing argument (`first`/`last`, the length of `representations`) when given,
else an assumed size. `@listSize(sizedFields: ["edges"])` semantics: the size of a connection applies
to its `edges`.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from pydantic import BaseModel, ConfigDict

from providers.errors import ErrorCode
from server.documents import Operation
from server.errors import RequestError

MUTATION_WEIGHT = 10
DEFAULT_LIST_SIZE = 10


class Limits(BaseModel):
    """`[limits]` in the configuration; every limit has a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = 262_144
    max_depth: int = 12
    max_aliases: int = 30
    max_root_fields: int = 20
    max_tokens: int = 5_000
    max_cost: int = 5_000
    request_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ListSize:
    slicing: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()
    assumed: int = DEFAULT_LIST_SIZE


LIST_SIZES: dict[tuple[str, str], ListSize] = {
    ("Query", "assessmentOrders"): ListSize(("first", "last"), ("edges",), assumed=20),
    ("Query", "_entities"): ListSize(("representations",), assumed=100),
}


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
    operation: Operation,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: Limits,
) -> int:
    cost = estimate_cost(schema, operation, fragments, variables)
    if cost > limits.max_cost:
        raise RequestError(
            ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
            f"The operation's estimated cost is {cost}; at most {limits.max_cost} is allowed.",
            400,
            extensions={"cost": {"estimated": cost, "max": limits.max_cost}},
        )
    return cost


def estimate_cost(
    schema: GraphQLSchema,
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
    estimator = _Estimator(schema, fragments, variables, defaults)
    weight = MUTATION_WEIGHT if operation.type == "mutation" else None
    return estimator.selections(root, operation.node.selection_set, {}, root_weight=weight)


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> None:
        self.schema, self.fragments, self.variables, self.defaults = schema, fragments, variables, defaults

    def selections(
        self,
        parent: GraphQLCompositeType,
        selection_set: SelectionSetNode | None,
        sizes: Mapping[str, int],
        root_weight: int | None = None,
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, sizes.get(selection.name.value), root_weight)
            elif isinstance(selection, InlineFragmentNode):
                typed = self._type(selection.type_condition.name.value if selection.type_condition else None, parent)
                total += self.selections(typed, selection.selection_set, sizes, root_weight)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self.fragments:
                fragment = self.fragments[selection.name.value]
                typed = self._type(fragment.type_condition.name.value, parent)
                total += self.selections(typed, fragment.selection_set, sizes, root_weight)
        return total

    def field(self, parent: GraphQLCompositeType, node: FieldNode, size: int | None, root_weight: int | None) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        weight = root_weight if root_weight is not None else int(is_composite_type(named))
        list_size = LIST_SIZES.get((parent.name, name), ListSize())
        slicing = self._slice(node, list_size)
        child_sizes = {f: slicing or list_size.assumed for f in list_size.sized_fields}
        children = self.selections(named, node.selection_set, child_sizes) if is_composite_type(named) else 0  # type: ignore[arg-type]
        if is_list_type(get_nullable_type(definition.type)) and is_composite_type(named):
            count = size or (slicing if slicing is not None else list_size.assumed)
            return count * (weight + children)
        return (size or 1) * (weight + children)

    def _slice(self, node: FieldNode, list_size: ListSize) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value not in list_size.slicing:
                continue
            value: Any = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value, self.defaults.get(value.name.value))
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, ListValueNode):
                return len(value.values)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return value
            if isinstance(value, list):
                return len(value)
        return None

    def _type(self, name: str | None, fallback: GraphQLCompositeType) -> GraphQLCompositeType:
        found = self.schema.get_type(name) if name else None
        return found if is_composite_type(found) else fallback  # type: ignore[return-value]
