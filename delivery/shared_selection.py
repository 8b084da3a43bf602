"""A subscription's selection, executed and encoded once per live message for every subscriber
who asked for the same one.

Subscribers share a selection when their root field's shape is the same: fields, aliases,
directives, fragments and the values of the variables those use. The root field's arguments
do not count: they only pick the channels (symbols, an interval), never the payload.

A selection is compiled once into direct reads and serializers where all of it allows
(`delivery/compiled_selection.py`); graphql-core executes the rest, and any message the
compiled encoder declines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    print_ast,
)
from graphql.execution import Executor, execute_subscription_event
from graphql.language import Visitor, visit
from strawberry.types import Info as StrawberryInfo

from delivery.compiled_selection import compile_selection
from delivery.execution import TradoExecutor
from delivery.strawberry_internals import resolve_info

log = logging.getLogger(__name__)

Info = StrawberryInfo[Any, Any]


class SharedSelection:
    """One selection of a subscription field, executed and encoded once per message."""

    def __init__(self, executor: Executor[Any]) -> None:
        self._executor = executor
        self._encode = compile_selection(executor)  # None: graphql-core executes every message
        # The latest opening payload per key (a view and a symbol) and its position: a burst of
        # joiners renders it once.
        self._openings: dict[Hashable, tuple[object, bytes]] = {}

    def render_opening(self, key: Hashable, position: object, root: Callable[[], object]) -> bytes:
        """`render` of an opening root value (`root()`), once per key and position."""
        known = self._openings.get(key)
        if known is not None and known[0] == position:
            return known[1]
        payload = self.render(root())
        self._openings[key] = (position, payload)
        return payload

    @property
    def compiled(self) -> bool:
        return self._encode is not None

    def render(self, root: object) -> bytes:
        """The `payload` of a `next` message for this root value, as JSON."""
        if self._encode is None:
            return self.execute(root)
        try:
            return orjson.dumps({"data": self._encode(root)})
        except Exception:  # a value graphql-core reports an error for: it writes the message
            return self.execute(root)

    def execute(self, root: object) -> bytes:
        """`render` through graphql-core's execution, compiled or not."""
        result = execute_subscription_event(self._executor.build_per_event_executor(root))
        if not isinstance(result, ExecutionResult):  # a field became async: not shareable
            raise TypeError("a shared selection must resolve synchronously")
        payload: dict[str, object] = {"data": result.data}
        if result.errors:  # as MaskErrors does on Strawberry's path: logged, then masked
            for error in result.errors:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
            payload["errors"] = [
                GraphQLError("Unexpected error.", path=error.path).formatted
                for error in result.errors
            ]
        return orjson.dumps(payload)


class _VariablesUsed(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: object, *_: object) -> None:
        self.names.add(node.name.value)  # type: ignore[attr-defined]


SHAPES_KEPT = 512  # distinct documents' selection shapes remembered (the parser cache's size)


class _Shape:
    """A root field's shape printed once: subscribers of one query text share its parsed
    nodes (the parser cache), so a connect storm prints each document once, not per joiner."""

    def __init__(self, root: FieldNode, fragments: tuple[Any, ...]) -> None:
        self.nodes = (root, *fragments)  # held, so their ids stay theirs while cached
        shape = FieldNode(
            alias=root.alias,
            name=root.name,
            directives=root.directives,
            selection_set=root.selection_set,
            arguments=(),
        )
        used = _VariablesUsed()
        for node in (shape, *fragments):
            visit(node, used)
        self.variables = tuple(sorted(used.names))
        self.printed = (print_ast(shape), tuple(print_ast(fragment) for fragment in fragments))


_SHAPES: dict[tuple[int, ...], _Shape] = {}


def _shape_of(root: FieldNode, fragments: tuple[Any, ...]) -> _Shape:
    nodes = (root, *fragments)
    key = tuple(map(id, nodes))
    known = _SHAPES.get(key)
    if known is not None and all(a is b for a, b in zip(known.nodes, nodes, strict=True)):
        return known
    if len(_SHAPES) >= SHAPES_KEPT:
        _SHAPES.clear()
    shape = _SHAPES[key] = _Shape(root, fragments)
    return shape


def selection_key(info: Info) -> Hashable:
    """What decides a message's payload: the root field without its arguments, the
    document's fragments and the values of the variables those use."""
    raw = resolve_info(info)
    shape = _shape_of(raw.field_nodes[0], tuple(raw.fragments.values()))
    values = {name: info.variable_values.get(name) for name in shape.variables}
    return (
        *shape.printed,
        orjson.dumps(values, default=str).decode(),  # str: exactly its size, kept per member
    )


def build_selection(info: Info, context: object) -> SharedSelection | None:
    """An executor for this operation's selection, or None when it cannot be built (the
    caller then streams per subscriber instead)."""
    raw = resolve_info(info)
    document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    name = raw.operation.name.value if raw.operation.name else None
    # the coerced variables: the same for our arguments
    return shared_selection(raw.schema, document, info.variable_values, name, context)


def shared_selection(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    context: object = None,
) -> SharedSelection | None:
    """`document`'s subscription as a shared selection, or None when no executor can be
    built for it."""
    executor = TradoExecutor.build(
        schema,
        document,
        context_value=context,
        raw_variable_values=variables,
        operation_name=operation_name,
    )
    return None if isinstance(executor, list) else SharedSelection(executor)
