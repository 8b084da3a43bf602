"""The checked-in schema.graphql is what the code serves (`make schema` rewrites it)."""

from __future__ import annotations

from commands.schema import schema_sdl
from settings import ROOT


def test_schema_file_is_in_step_with_the_code() -> None:
    checked_in = (ROOT / "schema.graphql").read_text()
    assert checked_in == schema_sdl(), "schema.graphql is stale: run `make schema`"
