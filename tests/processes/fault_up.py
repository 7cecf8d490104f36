"""Run ``scrydon-migrate up`` and inject one fault at a chosen point: the fault-injection tests' driver.

    python -m tests.processes.fault_up MODE N -- <up arguments>

MODE ``before`` / ``after``: SIGKILL this process before / after the N-th migration statement;
``commit``: SIGKILL right after the N-th transaction commit; ``terminate``: after the N-th
statement, the server ends this session (``pg_terminate_backend``); ``count``: no fault, print
the numbers of statements and commits on exit. Nothing in the product knows about this.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import psycopg

from scrydon_migrate import db, runner

mode, target = sys.argv[1], int(sys.argv[2])
counts = {"statements": 0, "commits": 0}
execute = runner._execute
transaction_exit = psycopg.Transaction.__exit__
migration_transaction = db.transaction_sent_with_statements


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _execute(conn: Any, migration: Any, statement: Any, *rest: Any, **options: Any) -> Any:
    counts["statements"] += 1
    if mode == "before" and counts["statements"] == target:
        _die()
    result = execute(conn, migration, statement, *rest, **options)
    if counts["statements"] == target:
        if mode == "after":
            _die()
        if mode == "terminate":
            with psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    return result


def _committed() -> None:
    counts["commits"] += 1
    if mode == "commit" and counts["commits"] == target:
        _die()


def _exit(self: Any, *exc: Any) -> Any:
    result = transaction_exit(self, *exc)
    if exc[0] is None:
        _committed()
    return result


@contextlib.contextmanager
def _migration_transaction(conn: Any) -> Iterator[None]:
    """A migration's own transaction (and a journaled statement's read) commits inside the block."""
    with migration_transaction(conn):
        yield
    _committed()


runner._execute = _execute  # type: ignore[assignment]
psycopg.Transaction.__exit__ = _exit  # type: ignore[method-assign]
db.transaction_sent_with_statements = _migration_transaction  # type: ignore[assignment]
if mode == "count":
    atexit.register(lambda: print(f"COUNTS statements={counts['statements']} commits={counts['commits']}"))
sys.argv = ["scrydon-migrate", *sys.argv[sys.argv.index("--") + 1 :]]

from scrydon_migrate.cli import main  # noqa: E402

main()
