"""The executor every operation runs with: Strawberry's, with subscription events that forget
their work when they are done.

graphql-core 3.3 memoizes `collect_subfields` on the identity of each field list, in a dict
that per-event executors share with the subscription's executor (`copy()` is shallow). The
root fields are collected afresh for every event, so each event adds an entry that is never
used again: a long-lived subscription grows by a few objects per event, which full
collections then walk (bench/README.md, "Figures behind design choices"). Each event gets its
own memo instead; it still serves lists within the event.
"""

from __future__ import annotations

from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class TradoExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> TradoExecutor:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor  # type: ignore[return-value]
