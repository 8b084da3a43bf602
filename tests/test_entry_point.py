"""`server.py`, the API's entry point, stays a starter: it imports the app's `main` from
`commands.api` and nothing else, so everything it runs lies inside the import contracts (which
`lint-imports` checks on packages only, and a top-level module is not one)."""

from __future__ import annotations

import ast

from settings import ROOT


def test_server_py_imports_only_the_api_command() -> None:
    tree = ast.parse((ROOT / "server.py").read_text())
    imported = [
        (node.module, [alias.name for alias in node.names])
        if isinstance(node, ast.ImportFrom)
        else (None, [alias.name for alias in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert imported == [("commands.api", ["main"])]
