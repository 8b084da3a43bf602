"""Node scripts of the test suite (tests/node): run one, read the JSON it prints."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from bench.targets import ensure_node_modules

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


async def node_json(
    script: str, *args: str, package: str, env: dict[str, str] | None = None
) -> Any:
    """What `node tests/node/<script> <args>` prints, parsed, after installing the locked
    packages when `package` is missing; the script must exit 0."""
    await asyncio.to_thread(ensure_node_modules, NODE_DIR, package)
    node = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await node.communicate()
    assert node.returncode == 0, err.decode()
    return json.loads(out)
