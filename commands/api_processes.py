"""`API_PROCESSES` > 1: that many API processes on one host and port, each accepting on a
listening socket of its own bound with SO_REUSEPORT, so the kernel spreads new connections over
them (by a hash of each connection's addresses) and each connection stays with one process.

Why not uvicorn's `workers`: they share one listening socket, every idle worker wakes for a new
connection and the first to accept takes it. With two workers, 24 clients connecting at once all
landed on the same one (tests/test_api_processes.py), which is no use for a fan-out.

Each worker is a new process (spawned, not forked: prometheus_client's multiprocess mode must
be chosen before the metrics are created, and a fork would inherit the parent's) that loads its
own settings and builds its own app, hub and connections. The parent only waits: when a worker
exits, the others are stopped and the parent exits with that worker's code (`exit_code`; a
process manager restarts the whole, as it would one process); SIGTERM or SIGINT stops every
worker, and the parent exits with 0.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
from collections.abc import Callable
from multiprocessing.connection import wait
from types import FrameType

BACKLOG = 2048  # uvicorn's own default
SPAWN = multiprocessing.get_context("spawn")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port in the port's SO_REUSEPORT group."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    return sock


def stop_on_signal(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def exit_code(worker_exit_code: int) -> int:
    """What the parent exits with when a worker ended by itself: its code, 128 + the signal
    that killed it (as a shell reports it), 1 if it exited with 0 (no one asked it to)."""
    if worker_exit_code < 0:
        return 128 - worker_exit_code
    return worker_exit_code or 1


def run_processes(count: int, host: str, port: int, serve: Callable[[socket.socket], None]) -> int:
    """`serve(socket)` in `count` spawned processes, one listening socket each, until one of
    them exits or a signal stops them all; the exit code to leave with."""
    workers = []
    for number in range(count):
        sock = listening_socket(host, port)  # in the parent: a port in use fails at once
        worker = SPAWN.Process(target=serve, args=(sock,), name=f"api-{number + 1}")
        worker.start()
        sock.close()  # the worker has its own descriptor; one no process accepts on would
        workers.append(worker)  # still get its share of the connections
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    try:
        ended = wait([worker.sentinel for worker in workers])
        first = next(worker for worker in workers if worker.sentinel in ended)
        first.join()  # its descriptors close a moment before its exit code can be read
        assert first.exitcode is not None
        return exit_code(first.exitcode)
    except SystemExit:
        return 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn shuts down gracefully
        for worker in workers:
            worker.join()
