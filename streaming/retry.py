"""Retrying a step that failed because a backend was lost: forever (until cancelled), with
capped exponential backoff and jitter, one warning per failed attempt, so an outage costs a
few log lines, not a flood. `BaseException`s (cancellation, a dying process) are not retried."""

from __future__ import annotations

import logging

from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)

log = logging.getLogger(__name__)


def retrying(
    what: str, *, failures: Counter | None = None, first_wait: float = 0.1, max_wait: float = 5.0
) -> AsyncRetrying:
    """`async for attempt in retrying("..."): with attempt: await step()`; each failed
    attempt is logged and counted in `failures`."""

    def warn(state: RetryCallState) -> None:
        if failures is not None:
            failures.inc()
        error = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        log.warning("%s failed (%r); attempt %d, retrying in %.1fs", what, error,
                    state.attempt_number, delay)  # fmt: skip

    return AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_random_exponential(multiplier=first_wait, max=max_wait),
        before_sleep=warn,
        reraise=True,
    )
