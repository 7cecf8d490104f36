"""The ``scrydon-migrate`` command's entry point: a no-op ``up`` is answered before the parser loads.

Every pod runs ``up`` on start, and nearly always nothing is pending. That start is answered here by
the start-up check (:mod:`scrydon_migrate.startup`) before click and the command definitions load
(about 25 ms, a fifth of a no-op). Only the plainest spelling is read here —
``[--log-format text|json] [-q] up`` with ``--service``/``-s NAME``, ``--database-url URL``,
``--migrations-dir DIR``, ``--json``, ``-q`` — and only a proven no-op is answered. Anything else
(another command or flag, ``MIGRATE_JSON`` set, a settings error, a state the check cannot prove)
runs the full command line (:mod:`.commands`), which parses the same arguments again and decides.
"""

from __future__ import annotations

import gc
import os
import sys

#: Flags of ``up`` read here, by the name :func:`scrydon_migrate.config.load_settings` takes.
_VALUE_FLAGS = {
    "--service": "services",
    "-s": "services",
    "--database-url": "database_url",
    "--migrations-dir": "migrations_dir",
}
#: The component the command's log lines name (:func:`scrydon_migrate.log.configure`).
_COMPONENT = "migrate-bootstrap"


class _PlainUp:
    """What a plainly spelled ``up`` asked for (a plain class: ``dataclasses`` costs a pod's start more)."""

    def __init__(self) -> None:
        self.options: dict[str, str] = {}
        self.services: list[str] = []
        self.log_format = ""
        self.quiet = False
        self.as_json = False


def main() -> None:
    """Entry point. A pod pays this start-up on every boot: the garbage collector is paused while the
    command's modules load (a long-running command turns it back on), and the objects alive at exit
    are frozen so the interpreter's last collection does not walk them all."""
    gc.disable()
    try:
        run()
    finally:
        gc.freeze()


def run() -> None:
    """The command ``sys.argv`` names; exits with its code."""
    if _answered(sys.argv[1:]):
        _exit_answered()
    from scrydon_migrate.cli.commands import run_command_line

    run_command_line()


def _exit_answered() -> None:
    """Exit 0 once the no-op's output is written, without the interpreter's finalization: a no-op leaves
    nothing to clean up (its connection is closed, no handler or exit hook is registered) and tearing
    down every module costs a pod's start a few milliseconds more."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _answered(argv: list[str]) -> bool:
    """Whether the start-up check proved this a no-op and its result is printed."""
    plain = _plain_up(argv)
    if plain is None or "MIGRATE_JSON" in os.environ:
        return False
    log_format = plain.log_format or os.environ.get("MIGRATE_LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        return False
    from scrydon_migrate import startup
    from scrydon_migrate.config import load_settings
    from scrydon_migrate.errors import MigrateError

    try:
        settings = load_settings(
            services=plain.services or None,
            database_url=plain.options.get("database_url"),
            migrations_dir=plain.options.get("migrations_dir"),
        )
    except MigrateError:
        return False
    results = startup.proven(settings)
    if results is None:
        return False
    if not plain.quiet:
        _log_up_to_date(results[0].service, results[0].total, log_format)
    from scrydon_migrate.cli import render

    render.up_results(results, as_json=plain.as_json)
    return True


def _log_up_to_date(service: str, total: int, log_format: str) -> None:
    """The no-op's INFO line, as :func:`scrydon_migrate.log.configure`'s handler writes it, without ``logging``."""
    import time

    from scrydon_migrate import logline, startup

    fields = startup.up_to_date_fields(service, total)
    message, event = startup.UP_TO_DATE, startup.UP_TO_DATE_EVENT
    if log_format == "json":
        now = time.time()
        msecs = int((now - int(now)) * 1000)
        line = logline.json_line(_COMPONENT, "INFO", now, msecs, message, event, fields, None)
    else:
        line = logline.text_line(_COMPONENT, "INFO", message, event, fields, None)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _plain_up(argv: list[str]) -> _PlainUp | None:
    """``argv`` read as a plain ``up``; ``None`` for anything else."""
    plain = _PlainUp()
    words = iter(argv)
    seen_up = False
    for word in words:
        name, has_value, value = word.partition("=")
        if word in ("-q", "--quiet"):
            plain.quiet = True
        elif word == "up" and not seen_up:
            seen_up = True
        elif not seen_up and name == "--log-format":
            plain.log_format = value if has_value else next(words, "")
        elif seen_up and word == "--json":
            plain.as_json = True
        elif seen_up and name in _VALUE_FLAGS:
            given = value if has_value else next(words, None)
            if not given:
                return None
            if _VALUE_FLAGS[name] == "services":
                plain.services.append(given)
            elif _VALUE_FLAGS[name] in plain.options:
                return None
            else:
                plain.options[_VALUE_FLAGS[name]] = given
        else:
            return None
    return plain if seen_up else None
