"""The lean WebSocket (`delivery/lean_websocket.py`) against Autobahn|Testsuite, the RFC 6455
conformance suite: its fuzzingclient drives an echo endpoint served by the same
`LeanWebSocket` class the API uses, through sections 1-7 and 10 (framing, pings, reserved
bits, opcodes, fragmentation, UTF-8, closing, misc). Section 9 (large-message speed) and
12-13 (compression, which the socket does not offer) are left out. No case may fail.

`scripts/autobahn.sh` installs the suite (Python 2.7) on first use."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from delivery.lean_websocket import Endpoint, LeanWebSocket, Message, Receiver
from tests.utils.server import serving

ROOT = Path(__file__).resolve().parent.parent
WSTEST = ROOT / "scripts" / "autobahn.sh"
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
BEHAVIOURS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
AGENT = "trado-lean-websocket"
RUN_SECONDS = 600  # each of the install and the run (about 15 s each here)

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(2 * RUN_SECONDS + 60)]


class EchoWebSocket(LeanWebSocket):
    fallback = WebSocketsSansIOProtocol  # unused: every handshake the suite makes is lean


async def echo(_connection: HTTPConnection, socket: LeanWebSocket) -> Receiver:
    """Each message back as it came, text or binary."""

    async def receive(message: Message) -> bool:
        if message is None:
            return False
        socket.write_frame(*message)
        return True

    return receive


def install_wstest() -> None:
    done = subprocess.run(
        [WSTEST, "install"], capture_output=True, text=True, timeout=RUN_SECONDS, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"Autobahn|Testsuite could not be installed:\n{done.stderr}\n"
            "Install it with `scripts/autobahn.sh install` (needs Python 2.7, e.g. "
            "`pyenv install 2.7.18`, and PyPI).",
            pytrace=False,
        )


def summary(index: dict[str, dict[str, dict[str, object]]]) -> Counter[str]:
    return Counter(str(case["behavior"]) for case in index[AGENT].values())


def failures(outdir: Path, index: dict[str, dict[str, dict[str, object]]]) -> list[str]:
    """Each failed case with what the suite says went wrong."""
    lines = []
    for case_id, case in sorted(index[AGENT].items()):
        if case["behavior"] == "FAILED" or case["behaviorClose"] == "FAILED":
            report = json.loads((outdir / str(case["reportfile"])).read_text())
            lines.append(f"{case_id}: {report['result']} / {report['resultClose']}")
    return lines


async def test_the_lean_socket_passes_autobahn_sections_1_to_7_and_10(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_wstest()
    app = Starlette()
    app.state.lean_websocket = Endpoint("/echo", echo)
    config = uvicorn.Config(
        app,
        ws=EchoWebSocket,
        ws_max_size=16 * 1024 * 1024,
        ws_ping_interval=None,  # no keepalive ping in the middle of a case's expected frames
        lifespan="off",
        log_level="warning",
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    async with serving(config, listener) as port:
        spec = {
            "outdir": str(tmp_path / "reports"),
            "servers": [
                {
                    "agent": AGENT,
                    "url": f"ws://127.0.0.1:{port}/echo",
                    "protocols": ["graphql-transport-ws"],  # what the lean path requires
                }
            ],
            "cases": CASES,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        run = await asyncio.create_subprocess_exec(
            WSTEST,
            "--mode",
            "fuzzingclient",
            "--spec",
            "spec.json",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(RUN_SECONDS):
            output, _ = await run.communicate()
    index_file = tmp_path / "reports" / "index.json"
    assert run.returncode == 0, output.decode(errors="replace")[-4000:]
    assert index_file.exists(), output.decode(errors="replace")[-4000:]
    index = json.loads(index_file.read_text())
    counts = summary(index)
    line = ", ".join(f"{name} {counts[name]}" for name in BEHAVIOURS)
    with capsys.disabled():
        print(f"\nAutobahn|Testsuite, sections 1-7 and 10: {sum(counts.values())} cases: {line}")
    failed = failures(tmp_path / "reports", index)
    assert not failed, "cases FAILED:\n" + "\n".join(failed)
    assert sum(counts.values()) > 200, "the suite ran fewer cases than sections 1-7 and 10 hold"
