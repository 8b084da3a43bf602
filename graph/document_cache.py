"""Each query text parsed and validated once: clients send the same few documents over and
over, and the two were a large share of a small query's CPU and of a connect storm's
subscribes.

One extension for both steps, and the validation keyed by the parsed document's identity (the
parse cache hands every request of one text the same document) rather than by its hash, which
graphql-core computes over the whole tree on every lookup. A document that does not parse is
left to Strawberry's own parse, which reports the syntax error to its operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension

from delivery.strawberry_internals import core_schema, validate_document

Rules = tuple[type[ASTValidationRule], ...]


def document_cache(size: int) -> type[SchemaExtension]:
    """The extension class, with its caches of `size` query texts (least recently used out)."""

    @lru_cache(maxsize=size)
    def parsed(query: str, max_tokens: int | None) -> DocumentNode:
        return parse(query, max_tokens=max_tokens)

    validated: dict[tuple[int, Rules], tuple[DocumentNode, list[GraphQLError]]] = {}

    def errors_of(
        schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        key = (id(document), rules)
        known = validated.get(key)
        if known is not None and known[0] is document:
            return known[1]
        if len(validated) >= size:
            validated.clear()
        errors = validate_document(schema, document, rules)
        validated[key] = (document, errors)  # the document held: its id stays its own
        return errors

    class DocumentCache(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            if context.query is not None:
                with suppress(GraphQLError):
                    max_tokens = context.parse_options.get("max_tokens")
                    context.graphql_document = parsed(context.query, max_tokens)
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            document = context.graphql_document
            if document is not None:
                schema = core_schema(context.schema)
                context.pre_execution_errors = errors_of(schema, document, context.validation_rules)
            yield

    return DocumentCache
