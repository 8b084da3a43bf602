"""The one retry helper (`streaming.retry`) and the supervisor built on it: what is retried,
reported and waited, and that cancellation never is."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tenacity import AsyncRetrying, RetryCallState, wait_exponential, wait_fixed

from streaming.retry import equal_jitter, retried, retrying, start_over
from streaming.supervisor import Supervisor

Reports = list[tuple[str, int, float]]


def recording(reports: Reports, **options: object) -> AsyncRetrying:
    def report(error: BaseException, attempt: int, delay: float) -> None:
        reports.append((str(error), attempt, delay))

    return retrying("step", report=report, **options)  # type: ignore[arg-type]


async def test_failed_attempts_are_reported_then_retried_until_one_works() -> None:
    reports: Reports = []
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError(f"down {calls}")
        return "up"

    wait = wait_exponential(multiplier=0.01, max=0.02)
    assert await recording(reports, wait=wait)(step) == "up"
    assert reports == [("down 1", 1, 0.01), ("down 2", 2, 0.02)]


async def test_an_error_not_retried_and_a_cancellation_pass_straight_through() -> None:
    reports: Reports = []

    async def wrong() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await recording(reports, retry_on=OSError)(wrong)

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await recording(reports)(cancelled)
    assert reports == []


async def test_retried_builds_no_retry_loop_until_the_plain_call_fails() -> None:
    reports: Reports = []
    built: list[AsyncRetrying] = []

    def again() -> AsyncRetrying:
        built.append(recording(reports, wait=wait_fixed(0)))
        return built[-1]

    async def step() -> str:
        return "message"

    assert await retried(step, again) == "message"
    assert built == []

    async def lost() -> str:
        raise ConnectionError("lost")

    async def reconnected() -> str:
        return "after reconnecting"

    assert await retried(lost, again, then=reconnected) == "after reconnecting"
    assert reports == [("lost", 1, 0)], "the plain call's failure is the first attempt"


async def test_start_over_makes_the_next_wait_the_first_one_again() -> None:
    reports: Reports = []
    wait = wait_exponential(multiplier=0.001, max=1)
    tries = 0
    async for attempt in recording(reports, wait=wait):
        with attempt:
            tries += 1
            if tries == 3:
                start_over(attempt)  # data flowed, then the connection was lost again
            if tries < 5:
                raise OSError("lost")
    assert [(n, delay) for _, n, delay in reports] == [
        (1, 0.001),
        (2, 0.002),
        (1, 0.001),
        (2, 0.002),
    ]


def test_equal_jitter_waits_half_to_all_of_the_backoff() -> None:
    wait = equal_jitter(1.0, 4.0)
    state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
    for attempt, backoff in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 4.0)]:
        state.attempt_number = attempt
        delays = [wait(state) for _ in range(200)]
        assert backoff / 2 <= min(delays)
        assert max(delays) <= backoff


async def test_supervisor_restarts_a_task_that_returns_or_crashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0
    third_run = asyncio.Event()

    async def work() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            return
        if runs == 2:
            raise RuntimeError("boom")
        third_run.set()
        await asyncio.Event().wait()

    supervisor = Supervisor()
    with caplog.at_level(logging.WARNING, "streaming.supervisor"):
        supervisor.start("worker", work)
        await asyncio.wait_for(third_run.wait(), 5)  # after 0.5 s, then 1 s
        await supervisor.stop()
    lines = [(r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records]
    assert lines == [
        ("WARNING", "worker returned; restarting", False),
        ("ERROR", "worker crashed; restarting in 1.0s", True),
    ]
