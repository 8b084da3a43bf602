"""The operation depth and alias limits, in time linear in the document.

Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` walk every fragment spread afresh,
so a document of a few fragments each spreading the next twice costs 2^n steps: a short
document hangs the process. Here each fragment's value (its height, its number of aliases as
expanded) is computed once and remembered (what it cost before: bench/README.md, "Figures
behind design choices").

Both count as Strawberry counts: a root field is at depth 0, each field with a selection set
adds one, introspection fields (`__schema`, `__type`) are not counted; every aliased field
counts, as often as the document's fragments expand it. A document over a limit is refused
before it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

FieldValue = Callable[[FieldNode, int], int]  # (field, value of its selection set) -> value
Combine = Callable[[Iterable[int]], int]  # the values of a selection set's members -> its value


class FragmentMemo:
    """A walk of a document that computes each fragment's value once, however often it is
    spread (a cycle or an unknown fragment counts as 0: validation reports them)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._known: dict[str, int] = {}
        self._open: set[str] = set()

    def _fragment(self, name: str) -> int:
        if name in self._known:
            return self._known[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        value = self._known[name] = self._fragment_value(fragment)
        self._open.discard(name)
        return value

    def _fragment_value(self, fragment: FragmentDefinitionNode) -> int:
        raise NotImplementedError


class _Fold(FragmentMemo):
    """A value per selection set."""

    def __init__(
        self, fragments: dict[str, FragmentDefinitionNode], field: FieldValue, combine: Combine
    ) -> None:
        super().__init__(fragments)
        self._field = field
        self._combine = combine

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        return self._combine(self._selection(node) for node in selection_set.selections)

    def _selection(self, node: object) -> int:
        if isinstance(node, FieldNode):
            return self._field(node, self.of(node.selection_set))
        if isinstance(node, InlineFragmentNode):
            return self.of(node.selection_set)
        if isinstance(node, FragmentSpreadNode):
            return self._fragment(node.name.value)
        return 0

    def _fragment_value(self, fragment: FragmentDefinitionNode) -> int:
        return self.of(fragment.selection_set)


def _height(field: FieldNode, below: int) -> int:
    if field.name.value.startswith("__") or field.selection_set is None:
        return 0
    return 1 + below


def _aliases(field: FieldNode, below: int) -> int:
    return (1 if field.alias else 0) + below


def _deepest(values: Iterable[int]) -> int:
    return max(values, default=0)


def _folds(
    context: ValidationContext, field: FieldValue, combine: Combine
) -> list[tuple[str, int]]:
    """Each operation of the document with its value: (name, value)."""
    definitions = context.document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    fold = _Fold(fragments, field, combine)
    return [
        (d.name.value if d.name else "anonymous", fold.of(d.selection_set))
        for d in definitions
        if isinstance(d, OperationDefinitionNode)
    ]


def depth_limit(max_depth: int) -> type[ASTValidationRule]:
    """Refuses operations whose deepest field lies deeper than `max_depth`."""

    class DepthLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for name, depth in _folds(context, _height, _deepest):
                if depth > max_depth:
                    message = f"'{name}' exceeds maximum operation depth of {max_depth}"
                    context.report_error(GraphQLError(message))

    return DepthLimit


def alias_limit(max_aliases: int) -> type[ASTValidationRule]:
    """Refuses documents with more than `max_aliases` aliased fields, fragments expanded."""

    class AliasLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            total = sum(count for _name, count in _folds(context, _aliases, sum))
            if total > max_aliases:
                message = f"{total} aliases found. Allowed: {max_aliases}"
                context.report_error(GraphQLError(message))

    return AliasLimit
