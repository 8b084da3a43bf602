"""Loops that run until cancelled, on Python 3.11, where a cancel can be lost on the way.

Python 3.11's `asyncio.wait_for` returns the awaited call's result instead of raising when
the cancel arrives just as that call completes (CPython gh-86296, fixed in 3.12); redis-py
writes to its socket through it whenever a socket timeout is set. The task's cancel request
stays counted (`Task.cancelling()`) but nothing raises it, so a `while True` loop carries on
and whoever cancelled it to stop waits forever. On a loaded machine this happens often enough
to hang a bridge worker's shutdown.

From 3.12 on, `asyncio.wait_for` raises the cancel, so the check is not made there: the loops
call a function that does nothing. When Trado drops 3.11, this module and its calls go.
"""

from __future__ import annotations

import asyncio
import sys

if sys.version_info < (3, 12):

    def raise_if_cancelled() -> None:
        """Raise the cancel that code below us swallowed. Called at each turn of a loop that
        runs until cancelled: a count above zero there means a cancel was requested and
        delivered (the task is running again) yet nothing raised it."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

else:

    def raise_if_cancelled() -> None:
        """Nothing to raise: 3.12's `asyncio.wait_for` loses no cancel."""
