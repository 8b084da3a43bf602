"""The query-cost limit: an operation whose worst-case cost passes `MAX_QUERY_COST` is refused
before it runs, on HTTP and on every subscription transport (they all validate through the
schema). Depth, alias and token limits bound a document's shape, not its work: a few dozen
aliases of `watchlists { items { instrument quote } }` pass them and multiply the work of the
largest field by as many (what it cost: bench/README.md, "Figures behind design choices").

A field costs its declared `weight` (the work of its resolver: a database or cache read),
plus, per item it returns, 1 for an object and the cost of its selection:

    cost(field) = weight + size * (1 if it returns objects else 0) + size * cost(selection)

`size` is 1 for a single value; for a list (or a page) it is, in this order: the value of a
`first`/`last` argument (its default when absent), the length of a list argument
(`quotes(symbols: [...])`), or the field's declared `size` (the resolver's own maximum, e.g.
50 watchlists of 200 items). Declare next to the
field with `metadata=cost(...)`. Costs are worst cases: a page counts as full.

Each fragment's cost is computed once (its type condition fixes its parent type), so no
fragment structure can make the analysis itself exponential (see `document_limits.py`).
An operation is costed with the request's variables, so it runs per request, in one pass
over the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
)
from graphql.type.definition import GraphQLField, GraphQLInterfaceType
from opentelemetry import trace
from strawberry.types import ExecutionContext

from delivery.strawberry_internals import core_schema, provided_operation_name
from graph.document_limits import FragmentMemo
from resolvers.pagination import DEFAULT_PAGE_SIZE

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

COST_KEY = "trado.cost"
COST_ATTRIBUTE = "trado.query.cost"  # on the operation's span (graph/operation_tracing.py)
PAGE_ARGUMENTS = ("first", "last")
DEFAULT_LIST_SIZE = 100  # items assumed of a list that declares no size
# Weights of a resolver's own work, per call: a query of its own, a cache read, a batched load.
DATABASE = 5
CACHE = 2
LOADER = 1


def cost(
    weight: int = 0, *, size: int | None = None, sized_by: str | None = None
) -> dict[str, Any]:
    """A field's cost declaration, for `strawberry.field(metadata=...)`: `weight` for its
    resolver's own work, `size` for the most items it returns, `sized_by` for the argument
    whose value (a number) or length (a list) gives that count."""
    return {COST_KEY: {"weight": weight, "size": size, "sized_by": sized_by}}


@dataclass(frozen=True)
class _FieldFacts:
    """What costing needs of a schema field, worked out once per field."""

    weight: int
    item: int  # 1 when it returns objects, 0 for scalars and enums
    returned: GraphQLNamedType
    sized_by: str | None  # the argument giving its size: declared, `first`/`last`, a list
    absent: int  # its size when that argument is not given (or when there is none)


def _facts(field: GraphQLField) -> _FieldFacts:
    """Its declaration, else a `first`/`last` argument (default: the page default), else for
    a list its first list argument (default: its declared or the default list size)."""
    definition = (field.extensions or {}).get("strawberry-definition")
    metadata = getattr(definition, "metadata", None) or {}
    declared: Mapping[str, Any] = metadata.get(COST_KEY, {})
    returned = get_named_type(field.type)
    sized_by, absent = declared.get("sized_by"), declared.get("size") or 1
    pages = [name for name in PAGE_ARGUMENTS if name in field.args]
    lists = [name for name, a in field.args.items() if is_list_type(_nullable(a.type))]
    if not sized_by and pages:
        sized_by, absent = pages[0], field.args[pages[0]].default_value or DEFAULT_PAGE_SIZE
    elif not sized_by and is_list_type(_nullable(field.type)):
        absent = declared.get("size") or DEFAULT_LIST_SIZE
        sized_by = lists[0] if lists else None
    return _FieldFacts(
        weight=declared.get("weight", 0),
        item=1 if is_composite_type(returned) else 0,
        returned=returned,
        sized_by=sized_by,
        absent=int(absent),
    )


class _Costing(FragmentMemo):
    """The cost of each operation of one document, under one request's variables; each
    fragment costed once."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        known_fields: dict[tuple[str, str], _FieldFacts],
    ) -> None:
        super().__init__(fragments)
        self._schema = schema
        self._variables = variables
        self._known_fields = known_fields

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self._schema.get_root_type(operation.operation)
        return self._selection_set(root, operation.selection_set) if root else 0

    def _selection_set(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self._field(parent, node)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                own = self._schema.get_type(condition.name.value) if condition else parent
                total += self._selection_set(own or parent, node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                total += self._fragment(node.name.value)
        return total

    def _fragment_value(self, fragment: FragmentDefinitionNode) -> int:
        own = self._schema.get_type(fragment.type_condition.name.value)
        return self._selection_set(own, fragment.selection_set) if own else 0

    def _field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0  # __typename on a union
        field = parent.fields.get(node.name.value)
        if field is None:
            return 0  # introspection (__typename, __schema, __type) or unknown: not costed
        key = (parent.name, node.name.value)
        facts = self._known_fields.get(key)
        if facts is None:
            facts = self._known_fields[key] = _facts(field)
        size = facts.absent
        if facts.sized_by is not None:
            given = next(
                (a.value for a in node.arguments or () if a.name.value == facts.sized_by), None
            )
            size = self._count(given, facts.absent)
        below = self._selection_set(facts.returned, node.selection_set) if node.selection_set else 0
        return facts.weight + size * (facts.item + below)

    def _count(self, value: ValueNode | None, absent: int) -> int:
        """A number's value or a list's length, literal or from the variables; `absent` when
        not given (the resolver's default applies then)."""
        if isinstance(value, VariableNode):
            return _count_of(self._variables.get(value.name.value), absent)
        if isinstance(value, IntValueNode):
            return max(int(value.value), 0)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return absent if value is None else 1  # one value where a list goes: a list of one


def _count_of(given: object, absent: int) -> int:
    """The same for a variable's JSON value."""
    if given is None or isinstance(given, bool):
        return absent
    if isinstance(given, int):
        return max(given, 0)
    if isinstance(given, list):
        return len(given)
    return 1


def _nullable(type_: Any) -> Any:
    return type_.of_type if is_non_null_type(type_) else type_


def operation_cost(
    schema: GraphQLSchema,
    definitions: Any,
    variables: Mapping[str, Any],
    operation_name: str | None,
    known_fields: dict[tuple[str, str], _FieldFacts] | None = None,
) -> int:
    """The cost of the operation a request runs: the one named, else the costliest.
    `known_fields`: facts of `schema`'s fields from earlier calls, kept by the caller."""
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    costing = _Costing(schema, fragments, variables, {} if known_fields is None else known_fields)
    operations = [
        d
        for d in definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    return max((costing.operation(o) for o in operations), default=0)


class CostLimit:
    """The cost check of one schema's requests; what it learns of each field is kept."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self._known_fields: dict[tuple[str, str], _FieldFacts] = {}

    def error(self, context: ExecutionContext) -> GraphQLError | None:
        """QUERY_TOO_COSTLY when the operation would cost more than the limit, else None."""
        document = context.graphql_document
        if document is None:
            return None
        total = operation_cost(
            core_schema(context.schema),
            document.definitions,
            context.variables or {},
            provided_operation_name(context),
            self._known_fields,
        )
        trace.get_current_span().set_attribute(COST_ATTRIBUTE, total)  # when traced
        return too_costly(total, self.max_cost) if total > self.max_cost else None


def too_costly(total: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"This operation would cost {total}, over the limit of {max_cost}: "
        "ask for fewer items (smaller `first`, fewer aliases or symbols) or split it.",
        extensions={"code": QUERY_TOO_COSTLY, "cost": total, "maxCost": max_cost},
    )
