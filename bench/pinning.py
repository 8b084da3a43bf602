"""`--pin`: the server under test on one core, everything that drives it on the other
(DESIGN.md, "Measuring on two cores"), so that a figure is per core and compares across peers
and runs.

Core 0 (`SERVER_CORE`): the target whole (Trado with its in-process simulator, a Node peer with
its tick source), but of `centrifugo` the Go binary alone, with `GOMAXPROCS=1`. Core 1
(`CLIENT_CORE`): this process (the harness), the load-client workers and side streams it starts
(they inherit its affinity), and Centrifugo's Node publisher. A target is started through
`taskset -c`, which sets the affinity before it execs the program, so no process of it runs a
moment on the other core; its children inherit it.
"""

from __future__ import annotations

import os
import shutil

SERVER_CORE = 0
CLIENT_CORE = 1
GO_ONE_CORE = {"GOMAXPROCS": "1"}  # a Go server's threads for Go code: one per core it has


class PinningUnavailable(RuntimeError):
    pass


def check() -> None:
    """Fail at once when this machine cannot pin: cores 0 and 1 not both allowed to this
    process, or no `taskset`."""
    allowed = os.sched_getaffinity(0)
    if not {SERVER_CORE, CLIENT_CORE} <= allowed:
        raise PinningUnavailable(
            f"--pin needs cores {SERVER_CORE} and {CLIENT_CORE}; "
            f"this process may run on {cpu_list(allowed)} only"
        )
    if shutil.which("taskset") is None:
        raise PinningUnavailable("--pin needs taskset (util-linux)")


def pin_this_process() -> None:
    """Every thread of this process onto the client core (the call moves one thread at a
    time); what it starts from now on inherits that."""
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), {CLIENT_CORE})


def on_core(core: int, command: list[str]) -> list[str]:
    """`command`, run on `core` only from its first instruction on."""
    return ["taskset", "-c", str(core), *command]


def cpu_list(cpus: set[int]) -> str:
    """A set of CPUs as `taskset` and /proc write it, without ranges: `0`, `0,1`."""
    return ",".join(str(cpu) for cpu in sorted(cpus))


def cpus_of(pid: int) -> str:
    """The CPUs process `pid` may run on, as read back from the kernel."""
    return cpu_list(os.sched_getaffinity(pid))


def cores(pin: bool) -> dict[str, str]:
    """Where each part of a run goes, for its results: unpinned, all of them on whatever this
    process may use."""
    if not pin:
        anywhere = cpus_of(0)
        return {"server": anywhere, "load client": anywhere, "publisher": anywhere}
    return {
        "server": f"{SERVER_CORE} (centrifugo: its binary alone, GOMAXPROCS=1)",
        "load client": f"{CLIENT_CORE} (with the harness and any side streams)",
        "publisher": f"{CLIENT_CORE} (centrifugo's Node publisher)",
    }
