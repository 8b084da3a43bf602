"""Every part of graphql-core that Trado uses without graphql-core publishing it, in one place.

- `collect_fields`, `collect_subfields` (`graphql.execution.collect_fields`, "for internal
  use only"): the fields an operation selects on an object type, grouped by response key as
  graphql-core executes them (fragments, type conditions, `@include`/`@skip`, merged fields).
  A compiled shared selection (`delivery/compiled_selection.py`) must select exactly what
  graphql-core would; the executor's own `collect_subfields` is marked private too, and
  graphql-core publishes no other way. Reached through `selected_fields`.

- `Executor._relevant_sub_fields`: the memo of `collect_subfields` results, keyed on the
  identity of each field list, which `build_per_event_executor` shares (a shallow copy)
  between a subscription's executor and every per-event executor. A subscription's root
  fields are collected afresh for every event, so each event adds an entry that is never used
  again: a long-lived subscription would grow by some objects per event. `fresh_sub_field_memo`
  gives a per-event executor a memo of its own (it still serves lists within the event).
  graphql-core offers no option or hook to scope or bound that memo.

`tests/test_library_contracts.py` checks them against the installed graphql-core (the attribute
set by `Executor.__init__` and read by the memoized collection), `make upgrade-check` against
the newest release, and `pyproject.toml` bounds graphql-core below the first release not yet
checked.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType
from graphql.execution import Executor
from graphql.execution.collect_fields import (
    FieldDetailsList,
    GroupedFieldSet,
    collect_fields,
    collect_subfields,
)

__all__ = ["FieldDetailsList", "GroupedFieldSet", "fresh_sub_field_memo", "selected_fields"]


def fresh_sub_field_memo(executor: Executor[Any]) -> None:
    """Give `executor` its own, empty sub-field memo instead of the one it shares."""
    executor._relevant_sub_fields = {}


def selected_fields(
    executor: Executor[Any], parent: GraphQLObjectType, fields: FieldDetailsList | None = None
) -> GroupedFieldSet | None:
    """What `executor`'s operation selects on `parent`: its root fields, or (given the fields of
    one response key) their subfields, by response key in execution order. None when a
    fragment is deferred (graphql-core would then deliver part of it later)."""
    if fields is None:
        grouped, deferred, _ = collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            parent,
            executor.operation,
            executor.hide_suggestions,
        )
    else:
        grouped, deferred, _ = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            parent,
            fields,
            executor.hide_suggestions,
        )
    return None if deferred else grouped
