"""Concurrent lookups folded into one fetch at a time (`streaming.coalesced`), as the cache's
reads and the instrument checks use them, over a fake fetch that records what it was asked and
answers when told: pure logic, no service."""

from __future__ import annotations

import asyncio

import pytest

from streaming.coalesced import CoalescedLookups

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
    reads = CoalescedLookups(fetch)
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
    reads = CoalescedLookups(fetch)
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
    reads = CoalescedLookups(fetch)
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
    reads = CoalescedLookups(fetch)
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
    reads = CoalescedLookups(fetch)
    waiting = asyncio.create_task(reads.get_many(["k1"]))
    await settled()
    await reads.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_shared_in_flight_a_key_on_its_way_is_not_fetched_again() -> None:
    fetch = Fetch()
    lookups = CoalescedLookups(fetch, share_in_flight=True)
    first = asyncio.create_task(lookups.get_many(["k1", "k2"]))
    await settled()
    same = [asyncio.create_task(lookups.get_many(["k2", "k1"])) for _ in range(3)]
    mixed = asyncio.create_task(lookups.get_many(["k1", "k3"]))
    await settled()
    assert len(fetch.calls) == 1, "at most one fetch in flight"
    fetch.release.set()
    assert await first == [b"v1", b"v2"]
    assert [await task for task in same] == [[b"v2", b"v1"]] * 3
    assert await mixed == [b"v1", b"v3"]
    assert fetch.calls[1:] == [["k3"]], "only the key not on its way is fetched next"


async def test_shared_in_flight_a_caller_that_gives_up_leaves_the_fetch_to_the_others() -> None:
    fetch = Fetch()
    lookups = CoalescedLookups(fetch, share_in_flight=True)
    starter = asyncio.create_task(lookups.get_many(["k1"]))
    await settled()
    joiner = asyncio.create_task(lookups.get_many(["k1"]))
    await settled()
    starter.cancel()
    await settled()
    fetch.release.set()
    async with asyncio.timeout(5):
        assert await joiner == [b"v1"]
    assert starter.cancelled()
    assert len(fetch.calls) == 1


async def test_closing_cancels_the_callers_of_the_fetch_in_flight_and_of_the_next() -> None:
    fetch = Fetch()
    lookups = CoalescedLookups(fetch, share_in_flight=True)
    in_flight = asyncio.create_task(lookups.get_many(["k1"]))
    await settled()
    next_one = asyncio.create_task(lookups.get_many(["k2"]))
    await settled()
    await lookups.close()
    for waiting in (in_flight, next_one):
        with pytest.raises(asyncio.CancelledError):
            await waiting
    fetch.release.set()
    assert await lookups.get_many(["k3"]) == [b"v3"], "a later lookup fetches again"
