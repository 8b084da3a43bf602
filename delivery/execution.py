"""The executor every operation runs with: Strawberry's, with subscription events that forget
their work when they are done.

graphql-core 3.3 memoizes `collect_subfields` on the identity of each field list, in a dict
that per-event executors share with the subscription's executor (`copy()` is shallow). The
root fields are collected afresh for every event, so each event adds an entry that is never
used again: a long-lived subscription grows with every event (and the garbage collector's
full collections with it). Each event gets its own memo instead
(`delivery/graphql_core_internals.py`); it still serves lists within the event.
"""

from __future__ import annotations

from typing import Any

from delivery.graphql_core_internals import fresh_sub_field_memo
from delivery.strawberry_internals import StrawberryGraphQLCoreExecutionContext


class TradoExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> TradoExecutor:
        executor = super().build_per_event_executor(payload)
        fresh_sub_field_memo(executor)
        return executor  # type: ignore[return-value]
