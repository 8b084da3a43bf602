"""Every part of graphql-core that Trado uses without graphql-core publishing it, in one place.

- `Executor._relevant_sub_fields`: the memo of `collect_subfields` results, keyed on the
  identity of each field list, which `build_per_event_executor` shares (a shallow copy)
  between a subscription's executor and every per-event executor. A subscription's root
  fields are collected afresh for every event, so each event adds an entry that is never used
  again: a long-lived subscription would grow by some objects per event. `fresh_sub_field_memo`
  gives a per-event executor a memo of its own (it still serves lists within the event).
  graphql-core offers no option or hook to scope or bound that memo.

`tests/test_library_contracts.py` checks it against the installed graphql-core (the attribute
set by `Executor.__init__` and read by the memoized collection), `make upgrade-check` against
the newest release, and `pyproject.toml` bounds graphql-core below the first release not yet
checked.
"""

from __future__ import annotations

from typing import Any

from graphql.execution import Executor


def fresh_sub_field_memo(executor: Executor[Any]) -> None:
    """Give `executor` its own, empty sub-field memo instead of the one it shares."""
    executor._relevant_sub_fields = {}
