"""Every limit a request meets before it runs, in one schema extension: the token limit of
its parse, the depth, alias and introspection rules of its validation, then (validation
passed) one operation named when the document holds several, its strings, its cost.

One extension rather than one per limit: Strawberry builds each extension and each of its
hooks anew for every operation, and a connect storm's subscriptions paid for all of them
(bench/README.md, "Connect storms").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graphql import ASTValidationRule, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from delivery.strawberry_internals import provided_operation_name
from graph.input_limits import request_string_error
from graph.query_cost import CostLimit

OPERATION_NAME_REQUIRED = "Must provide operation name if query contains multiple operations."


def operation_name_error(context: ExecutionContext) -> GraphQLError | None:
    """A document of several operations names the one to run (GraphQL spec, GetOperation());
    Strawberry would otherwise run the first."""
    document = context.graphql_document
    operations = sum(
        isinstance(definition, OperationDefinitionNode)
        for definition in (document.definitions if document else ())
    )
    if operations > 1 and provided_operation_name(context) is None:
        return GraphQLError(OPERATION_NAME_REQUIRED)
    return None


def request_limits(
    *,
    max_tokens: int,
    rules: Sequence[type[ASTValidationRule]],
    max_string_length: int,
    max_cost: int,
) -> type[SchemaExtension]:
    """The extension class (placed after the validation cache's: an invalid document is
    refused for that, and the cache's shared list of errors is never modified)."""
    added_rules = tuple(rules)
    cost_limit = CostLimit(max_cost)

    class RequestLimits(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            context = self.execution_context
            context.parse_options["max_tokens"] = max_tokens
            context.validation_rules = (*context.validation_rules, *added_rules)
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            unnamed = operation_name_error(context)
            if unnamed is not None:
                context.pre_execution_errors = [*(context.pre_execution_errors or []), unnamed]
            strings = request_string_error(context, max_string_length)
            if strings is not None:
                context.pre_execution_errors = [strings]
            if not context.pre_execution_errors:
                costly = cost_limit.error(context)
                if costly is not None:
                    context.pre_execution_errors = [costly]
            yield

    return RequestLimits
