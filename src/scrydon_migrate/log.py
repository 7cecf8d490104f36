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

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from scrydon_migrate.config import redact_document, redact_url

FATAL = logging.CRITICAL
logging.addLevelName(FATAL, "FATAL")

PACKAGE_LOGGER = "scrydon_migrate"
MAX_FIELD_CHARS = 500

logging.getLogger(PACKAGE_LOGGER).addHandler(logging.NullHandler())


def event(logger: logging.Logger, level: int, message: str, name: str, **fields: Any) -> None:
    """Log ``message`` as the event ``name`` with ``fields`` rendered as key=value."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": name, "fields": fields})


def _one_line(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if len(text) > MAX_FIELD_CHARS:
        text = text[: MAX_FIELD_CHARS - 1] + "…"
    if text == "" or any(c in text for c in ' "='):
        text = '"' + text.replace('"', '\\"') + '"'
    return text


class TextFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"[{self.component}] {record.levelname}: {record.getMessage()}"]
        name = getattr(record, "event", None)
        if name:
            parts.append(f"event={name}")
        fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
        parts.extend(f"{k}={_one_line(v)}" for k, v in fields.items() if v is not None)
        line = " ".join(parts)
        if record.exc_info and record.levelno >= logging.ERROR:
            line += "\n" + self.formatException(record.exc_info)
        return redact_url(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "component": self.component,
            "event": getattr(record, "event", None),
            "msg": record.getMessage(),
        }
        fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
        doc.update({k: v for k, v in fields.items() if v is not None})
        if record.exc_info and record.levelno >= logging.ERROR:
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(redact_document(json.loads(json.dumps(doc, default=str))), ensure_ascii=False)


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
