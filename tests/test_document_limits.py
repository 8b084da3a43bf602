"""The depth and alias limits on documents whose fragments spread each other many times: each
answered (or refused) at once, never walked once per expansion (2^levels)."""

from __future__ import annotations

import asyncio

import pytest

from graph.schema import make_schema
from settings import Settings

SCHEMA = make_schema(Settings(_env_file=None))


def doubling(levels: int, leaf: str) -> str:
    """`levels` fragments, each spreading the next twice, around `leaf`."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "query Q { ...F0 }\n" + "\n".join(fragments)


async def run(document: str) -> dict[str, object] | list[str]:
    result = await asyncio.wait_for(SCHEMA.execute(document), timeout=10)
    return [e.message for e in result.errors] if result.errors else dict(result.data or {})


@pytest.mark.parametrize("levels", [20, 30, 60])
async def test_a_fragment_doubling_document_is_answered(levels: int) -> None:
    assert await run(doubling(levels, "__typename")) == {"__typename": "Query"}


@pytest.mark.parametrize("levels", [20, 60])
async def test_aliases_are_counted_as_the_fragments_expand_them(levels: int) -> None:
    assert await run(doubling(levels, "a: __typename")) == [
        f"{2**levels} aliases found. Allowed: 30"
    ]


@pytest.mark.parametrize(("levels", "refused"), [(12, False), (13, True)])
async def test_depth_counts_through_fragments(levels: int, refused: bool) -> None:
    """Each fragment nests one field deeper (the fields need not exist: the depth rule reads
    the document alone, beside the rule that reports unknown fields)."""
    fragments = [f"fragment F{i} on Query {{ x {{ ...F{i + 1} }} }}" for i in range(levels)]
    document = "query Deep { ...F0 ...F0 }\n" + "\n".join(fragments)
    document += f"\nfragment F{levels} on Query {{ y }}"
    errors = await run(document)
    assert isinstance(errors, list)
    assert ("'Deep' exceeds maximum operation depth of 12" in errors) is refused
