"""`python -m commands.bridge`: one bridge worker of the consumer group (Kafka → Redis and
PostgreSQL; see `streaming.bridge`)."""

from __future__ import annotations

from commands.worker import run_worker
from streaming.runtime import start_bridge


def main() -> None:
    run_worker(start_bridge, "trado-bridge")


if __name__ == "__main__":
    main()
