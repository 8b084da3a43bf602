"""A shared selection compiled once into plain reads and serializers, so that rendering a live
message costs what the payload needs and not graphql-core's execution of it.

graphql-core executes a selection field by field: it collects the fields again, builds a
resolve info, calls the resolver through Strawberry's wrapper, checks for awaitables and
completes the value, for every field of every message. A subscription's selection is the
same for every message, so all of that is decided once here: for each field the operation
selects (collected by graphql-core's own rules: fragments, type conditions, `@include` and
`@skip`, merged fields, aliases), its response key, how Strawberry reads it off the object
(`plain_reader`), and how its value completes (the type's own serializer, the object's
fields, each item of a list, `__typename`'s name).

A selection compiles only when all of it is that plain; otherwise `compile_selection` says
None and graphql-core executes it as before: a field with arguments, `info` or extensions, an
async resolver, an interface or union, an object type with an `is_type_of` check, a directive
other than `@include`/`@skip` (`@defer`, `@stream`, one of the schema's own), middleware.
A message whose values graphql-core would report an error for (a null where the schema
promises a value, a serializer that fails or returns nothing, a resolver that raises) makes
the encoder raise; the caller then lets graphql-core render that message, errors and all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSkipDirective,
    GraphQLString,
    TypeNameMetaFieldDef,
    Undefined,
    is_leaf_type,
)
from graphql.execution import Executor, get_argument_values

from delivery.graphql_core_internals import FieldDetailsList, GroupedFieldSet, selected_fields
from delivery.strawberry_internals import is_event_field, plain_reader

Encoder = Callable[[Any], Any]  # a value as the response holds it; raises where graphql-core errs
Field = tuple[str, Callable[[Any], Any], Encoder]  # response key, read, encode

PLAIN_DIRECTIVES = frozenset({GraphQLIncludeDirective.name, GraphQLSkipDirective.name})
# Values graphql-core's own serializer returns unchanged: String and Boolean of exactly `str`
# and `bool` (a subclass, an int or a float go through the serializer).
UNCHANGED: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLBoolean: bool}


class NotEncoded(Exception):
    """graphql-core would report an error for this value."""


def compile_selection(executor: Executor[Any]) -> Encoder | None:
    """The `data` of a subscription event from its root value, for `executor`'s operation;
    None when some of the selection cannot be compiled."""
    root_type = executor.schema.subscription_type
    if root_type is None or executor.middleware_manager is not None or _other_directives(executor):
        return None
    grouped = selected_fields(executor, root_type)
    if grouped is None or len(grouped) != 1:
        return None
    ((key, fields),) = grouped.items()
    node = fields[0].node
    field = executor.schema.get_field(root_type, node.name.value)
    if field is None or not is_event_field(field) or not _arguments_hold(executor, field, node):
        return None
    encode = _encoder(executor, field.type, fields)
    if encode is None:
        return None
    return lambda root: {key: encode(root)}


def _other_directives(executor: Executor[Any]) -> bool:
    """Whether a selection of the operation or its fragments has a directive other than
    @include/@skip."""
    fragments = executor.fragment_definitions.values()
    pending = [executor.operation.selection_set, *(f.selection_set for f in fragments)]
    while pending:
        for selection in pending.pop().selections:
            if any(d.name.value not in PLAIN_DIRECTIVES for d in selection.directives or ()):
                return True
            if getattr(selection, "selection_set", None) is not None:
                pending.append(selection.selection_set)  # type: ignore[attr-defined]
    return False


def _arguments_hold(executor: Executor[Any], field: GraphQLField, node: FieldNode) -> bool:
    """The root field's arguments coerce (graphql-core coerces them again for every event)."""
    try:
        get_argument_values(field, node, executor.variable_values)
    except Exception:  # whatever it raises, graphql-core would report it
        return False
    return True


def _encoder(
    executor: Executor[Any], type_: GraphQLOutputType, fields: FieldDetailsList
) -> Encoder | None:
    """How a value of `type_` completes for `fields` (the field nodes of one response key)."""
    nullable = not isinstance(type_, GraphQLNonNull)
    named = type_ if nullable else type_.of_type  # type: ignore[union-attr]
    if isinstance(named, GraphQLList):
        item = _encoder(executor, named.of_type, fields)
        return None if item is None else _list(item, nullable=nullable)
    if is_leaf_type(named):
        return _leaf(named, nullable=nullable)
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        sub = selected_fields(executor, named, fields)
        compiled = None if sub is None else _fields(executor, named, sub)
        return None if compiled is None else _object(compiled, nullable=nullable)
    return None  # an interface or a union, or an object type that checks its values


def _fields(
    executor: Executor[Any], parent: GraphQLObjectType, grouped: GroupedFieldSet
) -> tuple[Field, ...] | None:
    compiled: list[Field] = []
    for key, fields in grouped.items():
        name = fields[0].node.name.value
        field = executor.schema.get_field(parent, name)
        if field is TypeNameMetaFieldDef:
            compiled.append((key, _constant(parent.name), _same))
            continue
        read = None if field is None else plain_reader(field)
        encode = None if read is None else _encoder(executor, field.type, fields)  # type: ignore[union-attr]
        if read is None or encode is None:
            return None
        compiled.append((key, read, encode))
    return tuple(compiled)


def _leaf(type_: GraphQLLeafType, *, nullable: bool) -> Encoder:
    serialize = type_.coerce_output_value
    unchanged = UNCHANGED.get(type_)

    def encode(value: Any) -> Any:
        if type(value) is unchanged:
            return value
        if value is None:
            if nullable:
                return None
            raise NotEncoded
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise NotEncoded
        return serialized

    return encode


def _object(fields: tuple[Field, ...], *, nullable: bool) -> Encoder:
    def encode(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise NotEncoded
        return {key: complete(read(value)) for key, read, complete in fields}

    return encode


def _list(item: Encoder, *, nullable: bool) -> Encoder:
    def encode(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise NotEncoded
        if not isinstance(value, list | tuple):  # graphql-core takes any iterable: let it
            raise NotEncoded
        return [item(each) for each in value]

    return encode


def _constant(value: str) -> Callable[[Any], str]:
    return lambda _: value


def _same(value: Any) -> Any:
    return value
