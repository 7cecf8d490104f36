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
import logging
import os
import sys
from dataclasses import dataclass, field

#: Flags of ``up`` read here, by the name :func:`scrydon_migrate.config.load_settings` takes.
_VALUE_FLAGS = {
    "--service": "services",
    "-s": "services",
    "--database-url": "database_url",
    "--migrations-dir": "migrations_dir",
}


@dataclass
class _PlainUp:
    """What a plainly spelled ``up`` asked for."""

    options: dict[str, str] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    log_format: str = ""
    quiet: bool = False
    as_json: bool = False


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
        sys.exit(0)
    from scrydon_migrate.cli.commands import run_command_line

    run_command_line()


def _answered(argv: list[str]) -> bool:
    """Whether the start-up check proved this a no-op and its result is printed."""
    plain = _plain_up(argv)
    if plain is None or "MIGRATE_JSON" in os.environ:
        return False
    log_format = plain.log_format or os.environ.get("MIGRATE_LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        return False
    from scrydon_migrate import log, startup
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
    log.configure("migrate-bootstrap", fmt=log_format, level=logging.WARNING if plain.quiet else logging.INFO)
    results = startup.proven_up_to_date(settings)
    if results is None:
        return False
    from scrydon_migrate.cli import render

    render.up_results(results, as_json=plain.as_json)
    return True


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
