"""Loops that run until cancelled, where a cancel can be lost on the way (3.11 and 3.13 alike).

Python 3.11's `asyncio.wait_for` returns the awaited call's result instead of raising when
the cancel arrives just as that call completes (CPython gh-86296, fixed in 3.12); redis-py
writes to its socket through it whenever a socket timeout is set. The task's cancel request
stays counted (`Task.cancelling()`) but nothing raises it, so a `while True` loop carries on
and whoever cancelled it to stop waits forever. On a loaded machine this happens often enough
to hang a bridge worker's shutdown.

The same loss shows on 3.13, where `wait_for` was rewritten: without this check there, a
relay stopped at the end of one test went on running beside the next one's and held its rows
(tests/test_live_trading.py's crash test failed; it passes with the check). So the check is
made on every version until the library that swallows the cancel there is found.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise the cancel that code below us swallowed. Called at each turn of a loop that runs
    until cancelled: a count above zero there means a cancel was requested and delivered (the
    task is running again) yet nothing raised it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
