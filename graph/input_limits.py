"""The string-length limit: no String or ID argument longer than `MAX_STRING_LENGTH`
characters reaches a resolver. Symbols, names, emails, passwords and order ids all have
shorter rules of their own; this one bounds what any of them (or a field added later) is
handed, and so what an error message could echo back.

Every string value of the request counts, literal or variable, at any depth of a list or an
input object: enums are names, not strings, so each string a client sends ends up in a String,
an ID or a string-typed scalar. Checked per request, before validation's verdict is used and
before execution, on HTTP and every subscription transport alike. A document no longer than
the limit holds no literal over it, so only longer ones are walked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from graph.errors import BadInput


class _LongestString(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.longest = 0

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        self.longest = max(self.longest, len(node.value))


def longest_literal(document: DocumentNode) -> int:
    """The length of the document's longest string literal (block strings too)."""
    finder = _LongestString()
    visit(document, finder)
    return finder.longest


def longest_value(value: Any) -> int:
    """The length of the longest string anywhere in a JSON value (the variables)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return max(map(longest_value, value.values()), default=0)
    if isinstance(value, list):
        return max(map(longest_value, value), default=0)
    return 0


def too_long(longest: int, max_length: int) -> GraphQLError:
    return BadInput(
        f"A string argument is {longest} characters long; at most {max_length} are accepted."
    )


def string_length_limit(max_length: int) -> type[SchemaExtension]:
    """A schema extension refusing, before execution, a request with a string over
    `max_length` characters (BAD_USER_INPUT, naming the lengths, not the string)."""

    class StringLengthLimit(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            document = context.graphql_document
            short = context.query is not None and len(context.query) <= max_length
            literal = longest_literal(document) if document is not None and not short else 0
            longest = max(literal, longest_value(context.variables or {}))
            if longest > max_length:
                context.pre_execution_errors = [too_long(longest, max_length)]
            yield

    return StringLengthLimit
