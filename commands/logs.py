"""One logging configuration for every entry point (API, bridge, feeds, migrations): text
lines for a developer's terminal, or JSON lines (LOG_FORMAT=json; the default in production)
for a log pipeline, each with `time`, `level`, `logger`, `message` and, where known, the
request's `operation` and `user_id` (`streaming.log_context`), the current span's `trace_id`
and `span_id` when traced, and `exc_info`."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id
from pythonjsonlogger.json import JsonFormatter

from settings import Settings
from streaming.log_context import log_fields

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class _RequestFields(logging.Filter):
    """Puts the current request's fields on each record (JSON lines show them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_fields().items():
            setattr(record, key, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # tracing is on and a span is current: the line joins its trace
            record.trace_id = format_trace_id(span.trace_id)
            record.span_id = format_span_id(span.span_id)
        return True


def configure_logging(settings: Settings) -> None:
    """The root logger's one handler, JSON or text lines (`Settings.logs_as_json`), at
    LOG_LEVEL; uvicorn's loggers go through it too (`commands.api` gives uvicorn no logging
    config of its own)."""
    handler = logging.StreamHandler()
    handler.setFormatter(_json_formatter() if settings.logs_as_json else _TEXT)
    handler.addFilter(_RequestFields())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


_TEXT = logging.Formatter(TEXT_FORMAT)


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields=RENAMED,
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )
