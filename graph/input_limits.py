"""Limits on every string a request carries, checked before execution: no String or ID
argument longer than `MAX_STRING_LENGTH` characters reaches a resolver, and none with a
control character other than tab, line feed and carriage return.

Length: symbols, names, emails, passwords and order ids all have shorter rules of their own;
this one bounds what any of them (or a field added later) is handed, and so what an error
message could echo back. Control characters: no name, symbol or search means one, PostgreSQL
cannot store NUL in text at all (the statement fails), and an error echoing them back would
put them on a client's screen or in its logs.

Every string value of the request counts, literal or variable, at any depth of a list or an
input object (a variable's object keys too): enums are names, not strings, so each string a
client sends ends up in a String, an ID or a string-typed scalar. Checked per request, before
validation's verdict is used and before execution, on HTTP and every subscription transport
alike. Only documents that could hold an offending literal are walked: one no longer than the
limit holds no literal over it, and a literal has a control character only when the text has
one or an escape (a backslash).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from strawberry.types import ExecutionContext

from graph.errors import BadInput

# C0 controls but tab, line feed and carriage return.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_OR_ESCAPE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\\\\]")


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        self.values.append(node.value)


def literal_strings(document: DocumentNode) -> list[str]:
    """The values of the document's string literals (block strings too)."""
    finder = _Literals()
    visit(document, finder)
    return finder.values


def value_strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a JSON value (the variables), object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from value_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from value_strings(item)


def too_long(longest: int, max_length: int) -> GraphQLError:
    return BadInput(
        f"A string argument is {longest} characters long; at most {max_length} are accepted."
    )


def control_character(character: str) -> GraphQLError:
    return BadInput(
        f"A string argument contains the control character U+{ord(character):04X}; "
        "only tab, line feed and carriage return are accepted."
    )


def string_error(strings: Iterable[str], max_length: int) -> GraphQLError | None:
    """What is wrong with the first offending string, the length before the characters (a
    string over the limit is not searched)."""
    longest = 0
    control = None
    for text in strings:
        longest = max(longest, len(text))
        if control is None and longest <= max_length:
            control = _CONTROL.search(text)
    if longest > max_length:
        return too_long(longest, max_length)
    return control_character(control.group()) if control else None


def request_string_error(context: ExecutionContext, max_length: int) -> GraphQLError | None:
    """What is wrong with the request's strings (BAD_USER_INPUT, naming the length or the
    character, never the string), or None."""
    document = context.graphql_document
    query = context.query
    suspect = query is None or len(query) > max_length or bool(_CONTROL_OR_ESCAPE.search(query))
    literals = literal_strings(document) if document is not None and suspect else []
    return string_error([*literals, *value_strings(context.variables or {})], max_length)
