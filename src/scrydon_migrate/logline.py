"""One log event as one line, text or JSON: the format of :mod:`scrydon_migrate.log`, without ``logging``.

:mod:`scrydon_migrate.log`'s formatters write every line through these functions. The command's
no-op ``up`` (:mod:`scrydon_migrate.cli`) writes its one line with them straight to stderr, so that a
pod's start does not import ``logging`` (and ``traceback``, ``threading``, ``string`` with it) for
one line that the command's own handler would have written the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from scrydon_migrate.config import redact_document, redact_url

MAX_FIELD_CHARS = 500


def _one_line(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if len(text) > MAX_FIELD_CHARS:
        text = text[: MAX_FIELD_CHARS - 1] + "…"
    if text == "" or any(c in text for c in ' "='):
        text = '"' + text.replace('"', '\\"') + '"'
    return text


def text_line(
    component: str, level: str, message: str, event: str | None, fields: Mapping[str, Any], traceback: str | None
) -> str:
    """``[component] LEVEL: message event=NAME key=value ...``, passwords masked."""
    parts = [f"[{component}] {level}: {message}"]
    if event:
        parts.append(f"event={event}")
    parts.extend(f"{k}={_one_line(v)}" for k, v in fields.items() if v is not None)
    line = " ".join(parts)
    if traceback is not None:
        line += "\n" + traceback
    return redact_url(line)


def json_line(
    component: str,
    level: str,
    created: float,
    msecs: float,
    message: str,
    event: str | None,
    fields: Mapping[str, Any],
    traceback: str | None,
) -> str:
    """One JSON object (``ts``, ``level``, ``component``, ``event``, ``msg``, the fields), masked value by value.

    ``created`` and ``msecs`` are the event's time as ``logging.LogRecord`` keeps it."""
    import json

    doc: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z",
        "level": level,
        "component": component,
        "event": event,
        "msg": message,
    }
    doc.update({k: v for k, v in fields.items() if v is not None})
    if traceback is not None:
        doc["traceback"] = traceback
    return json.dumps(redact_document(json.loads(json.dumps(doc, default=str))), ensure_ascii=False)
