"""Prometheus metrics of the live path, on the process's default registry.

The API serves them at `/metrics`; a worker process (bridge, feed) serves them on
`METRICS_PORT` when that is set. Several API processes on one port (`API_PROCESSES`) use
prometheus_client's multiprocess mode: each writes its samples to files in one folder, and any
process's `/metrics` reads them all (counters and histograms summed, gauges one per process,
labelled `pid`), so a scrape never passes one process's figures off as the whole.

Names follow Prometheus' conventions (`_total` is added to counters by the client library).
"""

from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

TICKS_CONSUMED = Counter(
    "trado_ticks_consumed", "Ticks the bridge applied (re-deliveries excluded)."
)
BAD_TICKS = Counter("trado_bad_ticks", "Log records the bridge could not parse as a tick.")
DUPLICATE_TICKS = Counter(
    "trado_duplicate_ticks", "Re-delivered ticks the bridge dropped by sequence."
)
CONSUMER_LAG = Gauge(
    "trado_consumer_lag", "Records in this bridge's partitions not yet consumed (after a batch)."
)
BRIDGE_BATCH_SECONDS = Histogram(
    "trado_bridge_batch_seconds",
    "Time to apply one batch of ticks (every stage), before the offset commit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BRIDGE_RETRIES = Counter(
    "trado_bridge_retries", "Failed bridge steps (a lost backend), each retried with backoff."
)
BRIDGE_BACKLOG = Gauge(
    "trado_bridge_backlog_ticks",
    "Ticks published live but not yet through candles, alerts and matching (grows while "
    "PostgreSQL is unreachable; past BRIDGE_MAX_BACKLOG_TICKS the bridge stops fetching).",
)
PUBLISHES = Counter("trado_publishes", "Messages published on pub/sub.", ["kind"])
CANDLES_WRITTEN = Counter("trado_candles_written", "Candle rows upserted to the database.")
GRAPHQL_OPERATIONS = Histogram(
    "trado_graphql_operation_seconds",
    "GraphQL operations from parse to result (a subscription: until the shared fan-out takes "
    "it over, or, on the per-subscriber path, until it ends), by operation "
    "name (the first MAX_OPERATION_NAMES names a process sees; later ones count as `other`), "
    "type and outcome (`ok`, or the first error's code).",
    ["operation", "type", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "trado_active_subscriptions", "Live subscriptions reading from this process's hub."
)
SHARED_SUBSCRIPTIONS = Gauge(
    "trado_shared_subscriptions",
    "Live subscriptions served by the shared fan-out (each tick executed and encoded once per "
    "selection, whatever the transport), a subset of trado_active_subscriptions.",
)
TICK_AGE = Histogram(
    "trado_tick_age_seconds",
    "How old a tick is (since its feed received it) as it passes each stage: `logged` (the "
    "log acknowledged it), `consumed` (a bridge took it), `published` (on pub/sub and in the "
    "cache), `received` (an API process's hub handed it to its subscribers), `written` (its "
    "frames written to the sockets that keep up, at the end of that event-loop turn). Observed "
    "once a batch (the batch's newest tick), and one message in TICK_AGE_SAMPLE in an API "
    "process.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TICK_AGE_SAMPLE = 16


def observe_tick_age(stage: str, received: datetime) -> None:
    """`received` (a tick's feed receipt, wall clock) to now, at `stage`."""
    TICK_AGE.labels(stage).observe(max(0.0, time.time() - received.timestamp()))


LIVE_CONNECTIONS = Gauge(
    "trado_live_connections",
    "Open live connections by transport: graphql-transport-ws (the lean WebSocket's too), "
    "graphql-ws, sse, multipart, and sse-single-connection (graphql-sse's reserved streams).",
    ["transport"],
)
LEAN_WEBSOCKETS = Gauge(
    "trado_lean_websockets",
    "graphql-transport-ws connections open on the lean WebSocket (delivery/lean_websocket.py).",
)
HUB_CHANNELS = Gauge("trado_hub_channels", "Pub/sub channels this process's hub subscribes.")
HUB_RECEIVED = Counter("trado_hub_received", "Messages the hub received from pub/sub.")
DELIVERIES = Counter("trado_deliveries", "Messages the hub handed to local subscribers.")
LIVE_GAPS = Counter(
    "trado_live_gaps",
    "Ticks this process's pub/sub missed (a jump in a channel's sequence): filled from the "
    "channel's history, or unfilled (the history no longer held them; subscribers saw the jump).",
    ["outcome"],
)
CONFLATED_DROPS = Counter(
    "trado_conflated_drops",
    "Messages replaced by a newer one before a slow subscriber read them.",
)
ALERTS_FIRED = Counter("trado_alerts_fired", "Price alerts the bridge fired (each once).")
ORDERS_FILLED = Counter("trado_limit_orders_filled", "Resting limit orders the bridge filled.")
FEED_TICKS = Counter(
    "trado_feed_ticks", "Ticks of a feed the log acknowledged (acks from Kafka).", ["feed"]
)
FEED_SEND_FAILURES = Counter(
    "trado_feed_send_failures",
    "Ticks of a feed never acknowledged: dropped from a full buffer (oldest first), or still "
    "unsent when the feed stopped.",
    ["feed"],
)
FEED_SEND_RETRIES = Counter(
    "trado_feed_send_retries", "Attempts that left ticks unacknowledged and were retried.", ["feed"]
)
FEED_BUFFERED = Gauge(
    "trado_feed_buffered",
    "Ticks of a feed held for the log: unsent or not yet acknowledged.",
    ["feed"],
)
FEED_BAD_MESSAGES = Counter(
    "trado_feed_bad_messages", "Upstream messages a feed could not map to a tick.", ["feed"]
)
FEED_RECONNECTS = Counter(
    "trado_feed_reconnects", "Provider connections lost (or refused) and retried.", ["feed"]
)
FEED_PROVIDER_ERRORS = Counter(
    "trado_feed_provider_errors",
    "Error messages a provider sent, by code (Alpaca's 402 auth failed, 406 connection limit "
    "exceeded, 407 slow client...).",
    ["feed", "code"],
)
FEED_SKIPPED_MESSAGES = Counter(
    "trado_feed_skipped_messages",
    "Readable provider messages a feed does not publish, by reason (a one-sided quote, a trade "
    "correction it cannot apply...).",
    ["feed", "reason"],
)
FEED_BOOK_RESYNCS = Counter(
    "trado_feed_book_resyncs",
    "Times a feed's local order book missed updates and was resynchronised from a snapshot.",
    ["feed"],
)
FEED_SNAPSHOT_FAILURES = Counter(
    "trado_feed_snapshot_failures",
    "Order book snapshot requests that failed and were retried (rate limits included).",
    ["feed"],
)
NEWEST_TICK_AGE = Gauge(
    "trado_newest_tick_age_seconds",
    "Seconds since the newest tick this API process has seen (its hub, else the quote "
    "cache), computed at scrape time; NaN until one has been seen.",
)
NEWEST_TICK_AGE.set(float("nan"))
DATABASE_SYNC_STANDBYS = Gauge(
    "trado_database_sync_standbys",
    "Synchronous standbys streaming from the PostgreSQL primary, as this process (an API "
    "process, a bridge worker) last checked (with DATABASE_SYNC_STANDBYS set); NaN while the "
    "database does not answer. Fewer than that: writes go on, unprotected (a lost primary "
    "would lose what they committed since).",
)
BACKEND_UP = Gauge(
    "trado_backend_up",
    "1 while a backend passes this API process's readiness checks, 0 once it is reported down.",
    ["backend"],
)


def serve_metrics(port: int | None, host: str) -> None:
    """Expose this worker's metrics over HTTP (a daemon thread owned by prometheus-client)."""
    if port is not None:
        start_http_server(port, addr=host)


def exposition(across_processes: bool) -> bytes:
    """What `/metrics` serves: this process's registry, or (`across_processes`) the samples of
    every API process from the multiprocess folder, read anew at each scrape."""
    if not across_processes:
        return generate_latest()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
