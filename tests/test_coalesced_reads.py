"""Concurrent cache reads folded into one (`streaming.cache.coalesced`), over a fake fetch that
records what it was asked and answers when told: pure logic, no service."""

from __future__ import annotations

import asyncio

import pytest

from streaming.cache.coalesced import CoalescedReads

STORE = {f"k{i}": f"v{i}".encode() for i in range(100)}


class Fetch:
    """Answers from STORE (None for a missing key) once `release` is set; notes each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, keys: list[str]) -> list[bytes | None]:
        self.calls.append(keys)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [STORE.get(key) for key in keys]


async def settled() -> None:
    """Let every ready task run until each waits on something."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_asking_together_share_one_fetch_of_the_distinct_keys() -> None:
    fetch = Fetch()
    reads = CoalescedReads(fetch)
    fetch.release.set()
    asked = [[f"k{(i * 7 + j) % 100}" for j in range(10)] + ["missing"] for i in range(500)]
    answers = await asyncio.gather(*(reads.get_many(keys) for keys in asked))
    assert answers == [[STORE.get(key) for key in keys] for keys in asked], "each in its order"
    assert len(fetch.calls) == 1
    assert sorted(fetch.calls[0]) == sorted({key for keys in asked for key in keys})
    assert await reads.get_many([]) == []
    assert len(fetch.calls) == 1, "nothing asked, nothing fetched"


async def test_a_caller_asking_while_a_read_is_on_its_way_gets_the_next_read() -> None:
    """Its read starts after it asked, so it sees every write finished before that."""
    fetch = Fetch()
    reads = CoalescedReads(fetch)
    first = asyncio.create_task(reads.get_many(["k1"]))
    await settled()
    assert fetch.calls == [["k1"]]
    later = [asyncio.create_task(reads.get_many([key])) for key in ("k1", "k2", "k2")]
    await settled()
    assert len(fetch.calls) == 1, "at most one read in flight"
    fetch.release.set()
    assert await first == [b"v1"]
    assert [await task for task in later] == [[b"v1"], [b"v2"], [b"v2"]]
    assert len(fetch.calls) == 2
    assert sorted(fetch.calls[1]) == ["k1", "k2"]


async def test_a_failed_read_fails_its_callers_and_the_next_read_goes_on() -> None:
    fetch = Fetch()
    reads = CoalescedReads(fetch)
    fetch.fail = ConnectionError("Redis is away")
    failing = [asyncio.create_task(reads.get_many(["k1"])) for _ in range(3)]
    await settled()
    fetch.release.set()
    for task in failing:
        with pytest.raises(ConnectionError, match="Redis is away"):
            await task
    fetch.fail = None
    assert await reads.get_many(["k3"]) == [b"v3"]


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others() -> None:
    fetch = Fetch()
    reads = CoalescedReads(fetch)
    quitter = asyncio.create_task(reads.get_many(["k1"]))
    stayer = asyncio.create_task(reads.get_many(["k1", "k2"]))
    await settled()
    quitter.cancel()
    await settled()
    fetch.release.set()
    assert await stayer == [b"v1", b"v2"]
    assert quitter.cancelled()


async def test_closing_cancels_the_callers_still_waiting() -> None:
    fetch = Fetch()
    reads = CoalescedReads(fetch)
    waiting = asyncio.create_task(reads.get_many(["k1"]))
    await settled()
    await reads.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
