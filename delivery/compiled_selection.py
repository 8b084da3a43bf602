"""A shared selection compiled once into a Python function of plain reads and serializers, so
that rendering a live message costs what the payload needs and not graphql-core's execution of
it.

graphql-core executes a selection field by field: it collects the fields again, builds a
resolve info, calls the resolver through Strawberry's wrapper, checks for awaitables and
completes the value, for every field of every message. A subscription's selection is the
same for every message, so all of that is decided once here: for each field the operation
selects (collected by graphql-core's own rules: fragments, type conditions, `@include` and
`@skip`, merged fields, aliases), its response key, how Strawberry reads it off the object
(`plain_reader`), and how its value completes (the type's own serializer, the object's
fields, each item of a list, `__typename`'s name). That plan is then written out as source:
a function per selected object that holds objects or lists, whose return is one dict display
of its fields, each value one expression; an object of leaves alone is written inline where it
is read (a book's levels cost no call each), a list as a comprehension. A leaf's serializer may
declare that `str(value)` is its answer for values of a type whose text holds none of some
marks (`text_first`: the Decimal scalar does); that case is written inline too, and the
serializer called for the rest. Python's compile of each function is cached by its source,
most of the cost of compiling a selection.

The source holds no text taken from a document: response keys and type names are written with
`repr()` (a string literal, whatever they hold), attributes are read inline only under a
name that is a plain Python identifier (else through `getattr`), and every serializer,
method and other value is passed in through the function's namespace under a generated name.

A selection compiles only when all of it is that plain; otherwise `compile_selection` says
None and graphql-core executes it as before: a field with arguments, `info` or extensions, an
async resolver, an interface or union, an object type with an `is_type_of` check, a directive
other than `@include`/`@skip` (`@defer`, `@stream`, one of the schema's own), middleware.
A message whose values graphql-core would report an error for (a null where the schema
promises a value, a serializer that fails or returns nothing, a resolver that raises) makes
the encoder raise; the caller then lets graphql-core render that message, errors and all.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType
from typing import Any, TypeVar

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

PLAIN_DIRECTIVES = frozenset({GraphQLIncludeDirective.name, GraphQLSkipDirective.name})
# Values graphql-core's own serializer returns unchanged: String and Boolean of exactly `str`
# and `bool` (a subclass, an int or a float go through the serializer).
UNCHANGED: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLBoolean: bool}
# Serializers that are these builtins (BigInt's `int`) return an exact value of that type: an
# exact one is left as it is, and what they return needs no check for None.
BUILTIN_SERIALIZERS = (int, str)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEXT_FIRST = "text_first"  # the attribute `text_first` sets on a serializer

# What a serializer declares with `text_first`: a value of exactly one of these types is
# written as `str(value)` when that text holds none of the type's marks.
TextFirst = tuple[tuple[type, tuple[str, ...]], ...]
Serializer = TypeVar("Serializer", bound=Callable[[Any], Any])


class NotEncoded(Exception):
    """graphql-core would report an error for this value."""


def text_first(marks: Mapping[type, tuple[str, ...]]) -> Callable[[Serializer], Serializer]:
    """Declares of a leaf serializer that it writes a value of exactly type `T` as `str(value)`
    whenever that text holds none of `marks[T]` (a Decimal's exponent, say): a compiled encoder
    then writes that case inline and calls the serializer only for the rest."""
    declared: TextFirst = tuple((type_, tuple(found)) for type_, found in marks.items())

    def declare(serialize: Serializer) -> Serializer:
        setattr(serialize, TEXT_FIRST, declared)
        return serialize

    return declare


@dataclass(frozen=True)
class Leaf:
    serialize: Callable[[Any], Any]
    unchanged: type | None  # a value of exactly this type is already serialized
    text_first: TextFirst  # what the serializer declared with `text_first`
    nullable: bool


@dataclass(frozen=True)
class Object:
    fields: tuple[Selected, ...]
    nullable: bool


@dataclass(frozen=True)
class Items:
    item: Plan
    nullable: bool


@dataclass(frozen=True)
class Selected:
    key: str  # the response key
    read: str | Callable[[Any], Any] | None  # an attribute's name, a method; None: __typename
    plan: Plan | str  # how its value completes; a str: __typename's value


Plan = Leaf | Object | Items


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
    plan = _plan(executor, field.type, fields)
    return None if plan is None else encoder(key, plan)


def encoder(key: str, plan: Plan) -> Encoder:
    """The encoder of `plan` as the response key `key`, written as source and run once."""
    return _Source().encoder(key, plan)


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


# ------------------------------------------------------------ the plan: what each field is


def _plan(
    executor: Executor[Any], type_: GraphQLOutputType, fields: FieldDetailsList
) -> Plan | None:
    """How a value of `type_` completes for `fields` (the field nodes of one response key)."""
    nullable = not isinstance(type_, GraphQLNonNull)
    named = type_ if nullable else type_.of_type  # type: ignore[union-attr]
    if isinstance(named, GraphQLList):
        item = _plan(executor, named.of_type, fields)
        return None if item is None else Items(item, nullable)
    if is_leaf_type(named):
        serialize = named.coerce_output_value
        builtin = serialize if serialize in BUILTIN_SERIALIZERS else None
        declared = getattr(serialize, TEXT_FIRST, ())
        return Leaf(serialize, UNCHANGED.get(named) or builtin, declared, nullable)
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        sub = selected_fields(executor, named, fields)
        selected = None if sub is None else _fields(executor, named, sub)
        return None if selected is None else Object(selected, nullable)
    return None  # an interface or a union, or an object type that checks its values


def _fields(
    executor: Executor[Any], parent: GraphQLObjectType, grouped: GroupedFieldSet
) -> tuple[Selected, ...] | None:
    selected: list[Selected] = []
    for key, fields in grouped.items():
        name = fields[0].node.name.value
        field = executor.schema.get_field(parent, name)
        if field is TypeNameMetaFieldDef:
            selected.append(Selected(key, None, parent.name))
            continue
        read = None if field is None else plain_reader(field)
        plan = None if read is None else _plan(executor, field.type, fields)  # type: ignore[union-attr]
        if read is None or plan is None:
            return None
        selected.append(Selected(key, read, plan))
    return tuple(selected)


# ------------------------------------------------------------ the plan written out as code


class _Source:
    """The functions of one selection's encoder, written as source and run once.

    Each value is written as one expression: its common case inline (a value of the type its
    serializer returns unchanged, or whose `str` it declared its answer; an object's fields;
    a list's items), anything else (None, a value for the serializer, something graphql-core
    reports an error for) through a helper that completes it as graphql-core would or raises
    `NotEncoded` (`_completed`, `_not_a_list`, `_absent`)."""

    def __init__(self) -> None:
        self._functions_source: list[str] = []  # each compiled on its own (see `_code`)
        self._names: dict[str, object] = {"Undefined": Undefined, "absent": _absent}
        self._constants: dict[object, str] = {}  # by the identity of each value (see `_constant`)
        self._functions: dict[Plan, str] = {}  # a plan met twice (`bids`, `asks`) is one function
        self._temporaries = 0

    def encoder(self, key: str, plan: Plan) -> Encoder:
        completed = self._function(plan)
        self._functions_source.append(
            f"def encode(root):\n    return {{{key!r}: {completed}(root)}}"
        )
        namespace: dict[str, Any] = dict(self._names)
        for source in self._functions_source:
            exec(_code(source), namespace)  # our own source: see the module's docstring
        encode: Encoder = namespace["encode"]
        return encode

    def _constant(self, value: object, *key: object) -> str:
        """The name `value` goes by in the namespace (one per value, or per `key` given)."""
        known = self._constants.get(key or id(value))
        if known is not None:
            return known
        name = self._constants[key or id(value)] = f"c{len(self._names)}"
        self._names[name] = value  # kept, so that no other value takes its id meanwhile
        return name

    def _temporary(self, prefix: str) -> str:
        self._temporaries += 1
        return f"{prefix}{self._temporaries}"

    def _function(self, plan: Plan) -> str:
        """The name of a function that completes a value of `plan`."""
        known = self._functions.get(plan)
        if known is not None:
            return known
        name = f"f{len(self._functions)}"
        self._functions[plan] = name
        if isinstance(plan, Object):
            absent = "return None" if plan.nullable else "absent()"
            body = [f"if value is None: {absent}", f"return {self._fields(plan, 'value')}"]
        else:
            body = [f"return {self._value(plan, 'value')}"]
        lines = [f"def {name}(value):", *(f"    {line}" for line in body)]
        self._functions_source.append("\n".join(lines))
        return name

    def _fields(self, plan: Object, parent: str) -> str:
        """The dict of `plan`'s fields, read off `parent` (not None)."""
        entries = []
        for field in plan.fields:
            if isinstance(field.plan, str):  # __typename
                entries.append(f"{field.key!r}: {field.plan!r}")
            else:
                read = self._read(field.read, parent)
                entries.append(f"{field.key!r}: {self._value(field.plan, read)}")
        return f"{{{', '.join(entries)}}}"

    def _read(self, read: str | Callable[[Any], Any] | None, parent: str) -> str:
        if not isinstance(read, str):
            return f"{self._constant(read)}({parent})"
        if IDENTIFIER.fullmatch(read) and not keyword.iskeyword(read):
            return f"{parent}.{read}"
        return f"getattr({parent}, {read!r})"  # not a name Python code could spell

    def _value(self, plan: Plan, read: str) -> str:
        """An expression of the completion of the value `read` gives."""
        if isinstance(plan, Leaf):
            return self._leaf(plan, read)
        if isinstance(plan, Items):
            return self._items(plan, read)
        if all(isinstance(field.plan, Leaf | str) for field in plan.fields):  # flat: inline
            value = read if read.isidentifier() else self._temporary("o")  # a list's item
            fields = self._fields(plan, value)
            reads = value if value == read else f"({value} := {read})"
            if plan.nullable:
                return f"(None if {reads} is None else {fields})"
            return f"({fields} if {reads} is not None else absent())"
        return f"{self._function(plan)}({read})"

    def _items(self, plan: Items, read: str) -> str:
        value, each = self._temporary("x"), self._temporary("each")
        item = self._value(plan.item, each)
        rest = self._constant(_not_a_list(plan.nullable), "not a list", plan.nullable)
        # graphql-core takes any iterable: one not a list or tuple is left to it
        return (
            f"([{item} for {each} in {value}] "
            f"if isinstance({value} := {read}, (list, tuple)) else {rest}({value}))"
        )

    def _leaf(self, plan: Leaf, read: str) -> str:
        """Left as it is when of exactly the type the serializer returns unchanged, its `str`
        where the serializer declared so, else through the serializer."""
        value, text = self._temporary("x"), self._temporary("text")
        serialize = self._constant(plan.serialize)
        cases: list[tuple[str | None, str, str]] = []  # (exact type or None, the rest, value)
        if plan.unchanged is not None:
            cases.append((self._constant(plan.unchanged), "", value))
        for type_, marks in plan.text_first:
            found = [f" and {mark!r} not in {text}" for mark in marks]
            if found:  # the first finds the text
                found[0] = f" and {marks[0]!r} not in ({text} := str({value}))"
            cases.append(
                (self._constant(type_), "".join(found), text if marks else f"str({value})")
            )
        if not cases:  # any value but None through the serializer, its result checked
            result = self._temporary("result")
            checked = (
                ""
                if plan.serialize in BUILTIN_SERIALIZERS
                else f" and ({result} := {serialize}({value})) is not None"
                f" and {result} is not Undefined"
            )
            cases.append(
                (None, f" is not None{checked}", result if checked else f"{serialize}({value})")
            )
        rest = self._constant(
            _completed(plan.serialize, plan.nullable), "leaf", plan.serialize, plan.nullable
        )
        written = f"{rest}({value})"
        for number, (exactly, test, then) in reversed(list(enumerate(cases))):
            subject = f"({value} := {read})" if number == 0 else value  # the first reads it
            condition = subject if exactly is None else f"type({subject}) is {exactly}"
            written = f"{then} if {condition}{test} else {written}"
        return f"({written})"


def _absent() -> None:
    """A null where graphql-core would report an error for one."""
    raise NotEncoded


def _completed(serialize: Callable[[Any], Any], nullable: bool) -> Callable[[Any], Any]:
    """A leaf's value completed as graphql-core completes it, or NotEncoded where it errs."""

    def completed(value: Any) -> Any:
        if value is None:
            return None if nullable else _absent()
        result = serialize(value)
        return _absent() if result is None or result is Undefined else result

    return completed


def _not_a_list(nullable: bool) -> Callable[[Any], None]:
    """A list's value that is not a list or tuple: None where `nullable`, else NotEncoded."""

    def rest(value: Any) -> None:
        return None if value is None and nullable else _absent()

    return rest


@lru_cache(maxsize=512)  # a few KB each
def _code(source: str) -> CodeType:
    """Python's compile of one function of an encoder, most of the cost of compiling a
    selection: the same source recurs (a selection built again once its last subscriber
    left, or for another view; an object selected the same way in another selection, which
    the root's alias alone does not change), run each time in its own selection's namespace."""
    return compile(source, "<compiled selection>", "exec")
