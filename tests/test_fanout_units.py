"""The live fan-out's pure logic: the outbox's writing rules (against a recording writer; the
real socket path is covered by the subscription tests), an HTTP stream's response writer,
throttling, and which subscribers share a selection."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import SimpleNamespace
from typing import cast

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from delivery.fanout import LiveFanout, LiveOperation
from delivery.http_streams import BUFFER_BYTES, ResponseWriter
from delivery.live_subscribers import Envelope, ThrottledSubscriber
from delivery.outbox import Flusher, Outbox
from delivery.shared_selection import selection_key
from graph.context import Info


class RecordingWriter:
    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []
        self.ready = True
        self.closed = False
        self._drained = asyncio.Event()

    def write(self, payloads: list[bytes]) -> bool:
        if not self.ready or self.closed:
            return False
        self.writes.append(list(payloads))
        return True

    async def writable(self) -> None:
        while not self.ready:
            self._drained.clear()
            await self._drained.wait()
        if self.closed:
            raise ConnectionError("closed")

    def drain(self) -> None:
        self.ready = True
        self._drained.set()


async def test_frames_of_one_turn_leave_in_one_write_in_order() -> None:
    writer = RecordingWriter()
    outbox = Outbox(limit=16, direct=writer, flusher=Flusher())
    for n in range(5):
        outbox.push(f"k{n % 2}", b"%d" % n)
    assert writer.writes == []  # nothing before the turn ends
    await asyncio.sleep(0)
    assert writer.writes == [[b"0", b"1", b"2", b"3", b"4"]]
    outbox.push("k0", b"5")
    await asyncio.sleep(0)
    assert writer.writes[-1] == [b"5"]


async def test_one_flush_per_turn_for_many_outboxes() -> None:
    flusher = Flusher()
    writers = [RecordingWriter() for _ in range(3)]
    outboxes = [Outbox(limit=4, direct=w, flusher=flusher) for w in writers]
    for outbox in outboxes:
        outbox.push("a", b"x")
        outbox.push("a", b"y")
    await asyncio.sleep(0)
    assert [w.writes for w in writers] == [[[b"x", b"y"]]] * 3


async def test_a_full_socket_holds_a_bounded_conflated_backlog_then_catches_up() -> None:
    writer = RecordingWriter()
    writer.ready = False
    outbox = Outbox(limit=4, direct=writer, flusher=Flusher())
    for n in range(10):
        outbox.push("AAPL" if n % 2 else "MSFT", b"%d" % n)
        await asyncio.sleep(0)
    assert writer.writes == []
    assert outbox.dropped > 0
    writer.drain()
    for _ in range(3):
        await asyncio.sleep(0)
    # Past the limit of 4 the backlog collapsed to the latest per key (twice), then grew.
    assert writer.writes == [[b"6", b"7", b"8", b"9"]]
    assert outbox.dropped == 6
    outbox.push("MSFT", b"10")
    await asyncio.sleep(0)
    assert writer.writes[-1] == [b"10"]
    await outbox.close()


async def test_a_closed_socket_stops_the_outbox() -> None:
    writer = RecordingWriter()
    writer.closed = True
    outbox = Outbox(limit=4, direct=writer, flusher=Flusher())
    outbox.push("a", b"x")
    await asyncio.sleep(0)
    outbox.push("a", b"y")
    await asyncio.sleep(0)
    assert writer.writes == []


async def test_without_a_direct_writer_frames_go_one_by_one_through_send() -> None:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    outbox = Outbox(send=send, limit=8)
    for n in range(3):
        outbox.push("a", b"%d" % n)
    for _ in range(3):
        await asyncio.sleep(0)
    assert sent == [b"0", b"1", b"2"]
    await outbox.close()


def shape_of(document: str, variables: dict[str, object]) -> Hashable:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = operation.selection_set.selections[0]
    raw = SimpleNamespace(field_nodes=[root], fragments=fragments)
    return selection_key(cast(Info, SimpleNamespace(_raw_info=raw, variable_values=variables)))


def test_subscribers_share_a_selection_whatever_their_symbols() -> None:
    query = "subscription($s: [String!]!) { quotes(symbols: $s) { symbol price } }"
    inline = 'subscription { quotes(symbols: ["MSFT"]) { symbol price } }'
    assert shape_of(query, {"s": ["AAPL"]}) == shape_of(query, {"s": ["MSFT", "GS"]})
    assert shape_of(query, {"s": ["AAPL"]}) == shape_of(inline, {})


def test_what_changes_a_payload_changes_the_selection() -> None:
    base = shape_of('subscription { quotes(symbols: ["A"]) { symbol price } }', {})
    for other in (
        'subscription { quotes(symbols: ["A"]) { symbol bid } }',
        'subscription { q: quotes(symbols: ["A"]) { symbol price } }',
        'subscription { quotes(symbols: ["A"]) { symbol p: price } }',
    ):
        assert shape_of(other, {}) != base, other
    guarded = (
        "subscription($s: [String!]!, $b: Boolean!) "
        "{ quotes(symbols: $s) { symbol bid @include(if: $b) } }"
    )
    assert shape_of(guarded, {"s": ["A"], "b": True}) != shape_of(guarded, {"s": ["A"], "b": False})
    assert shape_of(guarded, {"s": ["A"], "b": True}) == shape_of(guarded, {"s": ["B"], "b": True})
    fragment = 'fragment F on Quote { symbol %s } subscription { quotes(symbols: ["A"]) { ...F } }'
    assert shape_of(fragment % "price", {}) != shape_of(fragment % "bid", {})


async def test_a_throttled_subscriber_sends_the_opening_at_once_then_the_latest_per_period() -> (
    None
):
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    outbox = Outbox(send=send, limit=64)
    operation = LiveOperation("q", outbox, cast(LiveFanout, None), prefix=b"", suffix=b"")
    subscriber = ThrottledSubscriber(Envelope.of(operation, ["A", "B"]), {}, period=0.2)
    opening = [("A", n, b"A%d" % n) for n in (1, 2)]
    subscriber.deliver("B", 1, b"B1")  # held until the opening is out
    subscriber.release(opening)
    await asyncio.sleep(0.05)
    assert sent == [b"A1", b"A2", b"B1"], "the opening (every tick of a resume) at once"
    for n in range(3, 8):  # within one period: only each symbol's latest goes out, together
        subscriber.deliver("A", n, b"A%d" % n)
    subscriber.deliver("B", 2, b"B2")
    await asyncio.sleep(0.05)
    assert sent[3:] == [], "not again before the period is over"
    await asyncio.sleep(0.2)
    assert sent[3:] == [b"A7", b"B2"]
    subscriber.deliver("A", 8, b"A8")
    await asyncio.sleep(0.05)
    assert sent[5:] == []
    await asyncio.sleep(0.2)
    assert sent[5:] == [b"A8"]
    subscriber.deliver("A", 9, b"A9")
    subscriber.close()
    await asyncio.sleep(0.3)
    assert sent[6:] == [], "nothing after the operation ends"
    await outbox.close()


async def test_a_response_writer_sends_what_waits_as_one_chunk_and_beats_when_quiet() -> None:
    writer = ResponseWriter()
    chunks = writer.chunks(b": ping\r\n\r\n", interval=0.05)
    assert writer.write([b"a", b"b"])
    assert await anext(chunks) == b"ab"
    assert await anext(chunks) == b": ping\r\n\r\n", "after a quiet interval"
    assert writer.write([b"x" * (BUFFER_BYTES + 1)])
    assert not writer.write([b"y"]), "past the buffer the outbox must hold its backlog"
    room = asyncio.create_task(writer.writable())
    await asyncio.sleep(0)
    assert not room.done()
    assert len(await anext(chunks)) == BUFFER_BYTES + 1
    await room
    writer.write([b"c"])
    writer.end()
    assert [chunk async for chunk in chunks] == [b"c"]
