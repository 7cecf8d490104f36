"""Pod-log friendly logging: one event, one line on stderr.

The library only logs (``logging.getLogger(__name__)``); :func:`configure` is called by
the CLI, or by a service that wants our format. Text lines look like::

    [migrate-bootstrap] INFO: applied migration event=MIGRATION_APPLIED service=platform version=0042 ...

``MIGRATE_LOG_FORMAT=json`` gives one JSON object per line with ``ts``, ``level``,
``component``, ``event``, ``msg`` and the fields. Passwords are masked in every line as a
last defence, whatever a message contains (:func:`config.redact_url`: each configured
password as libpq reads it, in every way it may be written, and any URL's or ``password=``
pair's); a JSON line is masked value by value before it is serialised, so it stays JSON.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from scrydon_migrate.logline import json_line, text_line

FATAL = logging.CRITICAL
logging.addLevelName(FATAL, "FATAL")

PACKAGE_LOGGER = "scrydon_migrate"

logging.getLogger(PACKAGE_LOGGER).addHandler(logging.NullHandler())


def event(logger: logging.Logger, level: int, message: str, name: str, **fields: Any) -> None:
    """Log ``message`` as the event ``name`` with ``fields`` rendered as key=value."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": name, "fields": fields})


class TextFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        return text_line(self.component, record.levelname, record.getMessage(), *_parts(self, record))


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        return json_line(
            self.component,
            record.levelname,
            record.created,
            record.msecs,
            record.getMessage(),
            *_parts(self, record),
        )


def _parts(formatter: logging.Formatter, record: logging.LogRecord) -> tuple[str | None, Mapping[str, Any], str | None]:
    """The record's event name, its fields, and its traceback (shown for errors only)."""
    fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
    exc_info = record.exc_info if record.levelno >= logging.ERROR else None
    return getattr(record, "event", None), fields, formatter.formatException(exc_info) if exc_info else None


def configure(
    component: str = "migrate-bootstrap",
    *,
    fmt: str = "text",
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> None:
    """Send the package's log events to ``stream`` (stderr) in the chosen format."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_scrydon", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(component) if fmt == "json" else TextFormatter(component))
    handler._scrydon = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
