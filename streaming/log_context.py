"""What a log line is about, beyond its message: the GraphQL operation and the user a request
runs for (and, once tracing is on, its trace id), kept in context variables so every line
logged while serving it carries them (`commands/logs.py` puts them in the JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

LOG_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)


def log_fields() -> dict[str, Any]:
    """The fields of the current request (empty outside one)."""
    return LOG_FIELDS.get() or {}


@contextmanager
def logging_with(**fields: Any) -> Iterator[None]:
    """`fields` (those not None) added to every line logged in the block."""
    token = LOG_FIELDS.set({**log_fields(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        with suppress(ValueError):  # left in another context than it was entered in
            LOG_FIELDS.reset(token)
