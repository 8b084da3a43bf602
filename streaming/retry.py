"""Every retry in Trado goes through `retrying` (tenacity): a step that failed because a backend
was lost is tried again, forever (until cancelled) unless told when to stop, after a wait that
grows (capped exponential backoff, with jitter unless told otherwise), with one report (a
warning unless told otherwise) and one count per failed attempt, so an outage costs a few log
lines, not a flood. Only `Exception`s are retried: a `BaseException` (cancellation, a dying
process) passes straight through."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    AttemptManager,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.stop import StopBaseT
from tenacity.wait import WaitBaseT

log = logging.getLogger(__name__)
T = TypeVar("T")

Report = Callable[[BaseException, int, float], None]
"""How a failed attempt is told: its error, its number and the wait before the next one."""

DEFAULT_WAIT = wait_random_exponential(multiplier=0.1, max=5.0)


def retrying(
    what: str,
    *,
    retry_on: type[Exception] | tuple[type[Exception], ...] = Exception,
    failures: Counter | None = None,
    wait: WaitBaseT = DEFAULT_WAIT,
    stop: StopBaseT = stop_never,
    report: Report | None = None,
) -> AsyncRetrying:
    """`async for attempt in retrying("..."): with attempt: await step()`, or
    `await retrying("...")(step)`; each failed attempt is reported and counted in `failures`.
    An error that is not a `retry_on` is raised at once, as is the last one when `stop` says."""

    def warn(error: BaseException, attempt: int, delay: float) -> None:
        log.warning("%s failed (%r); attempt %d, retrying in %.1fs", what, error, attempt, delay)

    told = report or warn

    def before_sleep(state: RetryCallState) -> None:
        if failures is not None:
            failures.inc()
        assert state.outcome is not None  # only a failed attempt is followed by a sleep
        error = state.outcome.exception()
        assert error is not None
        told(error, state.attempt_number, state.upcoming_sleep)

    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        reraise=True,
    )


def equal_jitter(first: float, most: float) -> Callable[[RetryCallState], float]:
    """Capped exponential backoff (`first` doubling up to `most`) of which a random half to all
    is waited: never much less than the backoff, yet clients lost together come back apart."""
    backoff = wait_exponential(multiplier=first, max=most)
    return lambda state: backoff(state) * random.uniform(0.5, 1.0)


def start_over(attempt: AttemptManager) -> None:
    """The attempt made progress (its connection carried data): should it fail, the wait after
    it is the first one again, and so on, as if it were the first attempt."""
    attempt.retry_state.attempt_number = 1


async def retried(
    step: Callable[[], Awaitable[T]],
    retrying: Callable[[], AsyncRetrying],
    *,
    then: Callable[[], Awaitable[T]] | None = None,
) -> T:
    """`await step()`, retried by `retrying()` once it failed. For a step run once per message:
    a tenacity loop around every call would cost far more than the step. The plain
    call's failure is the first attempt (reported, counted, waited after); the attempts after
    it call `then` (by default `step` again)."""
    try:
        return await step()
    except Exception as error:
        failure = error
    replayed = False

    async def attempt() -> T:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise failure
        return await (then or step)()

    return await retrying()(attempt)
