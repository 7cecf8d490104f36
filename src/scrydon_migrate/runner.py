"""Plan and apply a service's migrations: the only module that runs migration SQL.

Planning (:func:`make_plan`) is pure: files on disk and tracking rows in, the work and
the warnings out. Applying runs each pending migration in order:

* a *transactional* migration runs in one transaction together with its tracking row,
  so it is either wholly applied and recorded or not at all;
* a *journaled* migration (one with ``CREATE INDEX CONCURRENTLY`` and friends, or
  marked ``-- migrate:no-transaction``) runs statement by statement in autocommit,
  its row recording how many statements are done (status ``running``); a retry
  resumes at the first statement not done, after checking that the statements
  already run were not edited since.

A failing statement marks the row ``failed`` with the SQLSTATE, the message, the
statement and its line in the file, before the error leaves the runner.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrydon_migrate import db, log, tracking
from scrydon_migrate.errors import ChecksumMismatch, DatabaseUnavailable, RefusedError, StatementFailed
from scrydon_migrate.source import Migration, MigrationFile, load
from scrydon_migrate.tracking import Status, TrackedRow

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.analysis import Statement

logger = logging.getLogger(__name__)

RECOVERY_PATHS = (
    "fix forward: correct the failing statement in the file and restart (up retries a failed migration); "
    "skip: if you decided it is safe, mark it applied "
    "(UPDATE {table} SET status = 'skipped' WHERE version = {version}) and restart; "
    "restore: restore the pre-upgrade PostgreSQL snapshot"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``up`` has to do for one service, and what it must warn about."""

    service: str
    files: tuple[MigrationFile, ...]
    rows: Mapping[int, TrackedRow]
    pending: tuple[MigrationFile, ...]
    changed: tuple[MigrationFile, ...]
    unknown_newer: tuple[TrackedRow, ...]
    missing_files: tuple[TrackedRow, ...]
    out_of_order: tuple[MigrationFile, ...]


def make_plan(service: str, files: Sequence[MigrationFile], rows: Mapping[int, TrackedRow]) -> Plan:
    """Compare files with tracking rows. Pure: no I/O."""
    by_version = {f.version: f for f in files}
    newest_file = max(by_version, default=None)
    pending = tuple(f for f in files if f.version not in rows or not rows[f.version].counts_as_done)
    changed = tuple(
        f
        for f in files
        if f.version in rows
        and rows[f.version].status is Status.APPLIED
        and rows[f.version].content_sha256 != f.content_sha256
    )
    orphans = [r for v, r in sorted(rows.items()) if v not in by_version and r.counts_as_done]
    unknown_newer = tuple(r for r in orphans if newest_file is None or r.version > newest_file)
    missing = tuple(r for r in orphans if newest_file is not None and r.version < newest_file)
    done_with_file = [v for v, r in rows.items() if r.counts_as_done and v in by_version]
    newest_done = max(done_with_file, default=None)
    out_of_order = tuple(f for f in pending if newest_done is not None and f.version < newest_done)
    return Plan(service, tuple(files), rows, pending, changed, unknown_newer, missing, out_of_order)


@dataclass(frozen=True, slots=True)
class Applied:
    version: str
    file: str
    duration_ms: int
    statements: int
    resumed_at: int


def check_unchanged(conn: psycopg.Connection, table: str, plan: Plan) -> None:
    """Refuse when an applied migration's statements were edited (reformatting is fine)."""
    for migration_file in plan.changed:
        row = plan.rows[migration_file.version]
        if row.checksum is None:
            continue
        migration = load(migration_file)
        if migration.checksum == row.checksum:
            continue
        statement = _first_difference(migration, tracking.read_sql(conn, table, migration_file.version))
        where = f"statement {statement.index + 1} on line {statement.line}" if statement else "its statements"
        raise ChecksumMismatch(
            f"applied migration {migration_file.version_text} ({migration_file.file}) of service "
            f"{plan.service!r} was edited: {where} differs from what was applied",
            hint="an applied migration is never edited: restore the file as it was applied "
            "and put the change in a new migration with the next version",
            service=plan.service,
            version=migration_file.version_text,
            file=str(migration_file.path),
            line=statement.line if statement else None,
            statement=statement.text if statement else None,
        )


def _first_difference(migration: Migration, applied_sql: str | None) -> Statement | None:
    from scrydon_migrate.analysis import ParseFailure, parse_statements

    if applied_sql is None:
        return None
    try:
        before = [s.checksum for s in parse_statements(applied_sql) if not s.transaction_control]
    except ParseFailure:
        return None
    for statement in migration.statements:
        if statement.index >= len(before) or before[statement.index] != statement.checksum:
            return statement
    return migration.statements[-1] if len(before) > len(migration.statements) else None


def refuse_out_of_order(plan: Plan, allow: bool) -> None:
    if not plan.out_of_order or allow:
        return
    first = plan.out_of_order[0]
    raise RefusedError(
        f"migration {first.version_text} ({first.file}) of service {plan.service!r} is older than "
        f"migrations already applied, so applying it now would run it out of order",
        hint="give it a version above the newest applied one, or pass --allow-out-of-order "
        "(MIGRATE_ALLOW_OUT_OF_ORDER=1) if its order does not matter",
        service=plan.service,
        version=first.version_text,
        file=str(first.path),
    )


def load_pending(plan: Plan) -> list[Migration]:
    """Parse every pending migration before running any, so a bad file changes nothing."""
    return [load(f) for f in plan.pending]


def applied_by() -> str:
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()} (pid {os.getpid()})"


def apply(conn: psycopg.Connection, table: str, migration: Migration, row: TrackedRow | None) -> Applied:
    """Apply one migration and record it; raises StatementFailed / DatabaseUnavailable."""
    resume_at = _resume_point(conn, table, migration, row)
    started = time.monotonic()
    if migration.transactional and resume_at == 0:
        _apply_in_transaction(conn, table, migration, started)
    else:
        _apply_journaled(conn, table, migration, resume_at, started)
    duration_ms = int((time.monotonic() - started) * 1000)
    return Applied(
        version=migration.file.version_text,
        file=migration.file.file,
        duration_ms=duration_ms,
        statements=len(migration.statements),
        resumed_at=resume_at,
    )


def _resume_point(conn: psycopg.Connection, table: str, migration: Migration, row: TrackedRow | None) -> int:
    done = (row.statements_done or 0) if row is not None and row.status in (Status.RUNNING, Status.FAILED) else 0
    if done == 0:
        return 0
    applied_sql = tracking.read_sql(conn, table, migration.version)
    edited = _first_difference(migration, applied_sql)
    if edited is not None and edited.index < done:
        raise RefusedError(
            f"migration {migration.file.version_text} ({migration.file.file}) stopped after statement {done}, "
            f"and statement {edited.index + 1} (line {edited.line}), which already ran, was edited since",
            hint="restore the statements that already ran and change only the ones after them, "
            "or restore the pre-upgrade snapshot",
            service=migration.file.service,
            version=migration.file.version_text,
            file=str(migration.file.path),
            line=edited.line,
        )
    return min(done, len(migration.statements))


def _base_values(migration: Migration) -> dict[str, Any]:
    from scrydon_migrate import __version__

    return {
        "name": migration.file.name,
        "file": migration.file.file,
        "checksum": migration.checksum,
        "content_sha256": migration.file.content_sha256,
        "applied_by": applied_by(),
        "statements_total": len(migration.statements),
        "sql": migration.sql,
        "tool_version": __version__,
        "error": None,
        "sqlstate": None,
        "failed_statement": None,
        "failed_line": None,
        "reason": None,
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _apply_in_transaction(conn: psycopg.Connection, table: str, migration: Migration, started: float) -> None:
    try:
        with conn.transaction():
            for statement in migration.statements:
                _execute(conn, migration, statement)
            tracking.upsert(
                conn,
                table,
                migration.version,
                _base_values(migration)
                | {
                    "status": Status.APPLIED.value,
                    "applied_at": _now(),
                    "duration_ms": int((time.monotonic() - started) * 1000),
                    "statements_done": len(migration.statements),
                },
            )
    except StatementFailed as failure:
        _record_failure(conn, table, migration, failure, started, statements_done=0)
        raise


def _apply_journaled(
    conn: psycopg.Connection, table: str, migration: Migration, resume_at: int, started: float
) -> None:
    tracking.upsert(
        conn,
        table,
        migration.version,
        _base_values(migration) | {"status": Status.RUNNING.value, "applied_at": _now(), "statements_done": resume_at},
    )
    if resume_at:
        log.event(
            logger,
            logging.INFO,
            "resuming migration",
            "MIGRATION_RESUMED",
            service=migration.file.service,
            version=migration.file.version_text,
            file=migration.file.file,
            statement=resume_at + 1,
            statements=len(migration.statements),
        )
    done = resume_at
    try:
        for statement in migration.statements[resume_at:]:
            if statement.transactional:
                with conn.transaction():
                    _execute(conn, migration, statement)
                    tracking.update(conn, table, migration.version, {"statements_done": statement.index + 1})
            else:
                _execute(conn, migration, statement)
                tracking.update(conn, table, migration.version, {"statements_done": statement.index + 1})
            done = statement.index + 1
    except StatementFailed as failure:
        _record_failure(conn, table, migration, failure, started, statements_done=done)
        raise
    tracking.update(
        conn,
        table,
        migration.version,
        {"status": Status.APPLIED.value, "applied_at": _now(), "duration_ms": int((time.monotonic() - started) * 1000)},
    )


def _execute(conn: psycopg.Connection, migration: Migration, statement: Statement) -> None:
    """Run one statement; the one place a server error becomes a StatementFailed."""
    import psycopg

    try:
        conn.execute(statement.text.encode())
    except psycopg.Error as exc:
        if db.is_connection_lost(conn, exc):
            raise DatabaseUnavailable(
                f"lost the connection to the database while applying migration "
                f"{migration.file.version_text} ({migration.file.file}) of service {migration.file.service!r}, "
                f"statement {statement.index + 1} on line {statement.line}: {_first_line(exc)}",
                hint="a transactional migration was rolled back whole; a journaled one resumes at the "
                "statement it stopped at. Restart when the database is back: up picks it up",
                service=migration.file.service,
                version=migration.file.version_text,
                file=str(migration.file.path),
                line=statement.line,
            ) from exc
        raise _statement_failed(migration, statement, exc) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _statement_failed(migration: Migration, statement: Statement, exc: psycopg.Error) -> StatementFailed:
    diag = exc.diag
    line = statement.line
    position = diag.statement_position
    if position and position.isdigit():
        line += statement.text.count("\n", 0, int(position) - 1)
    primary = diag.message_primary or _first_line(exc)
    message = (
        f"migration {migration.file.version_text} ({migration.file.file}) of service "
        f"{migration.file.service!r} failed at line {line}: {primary}"
        + (f" (SQLSTATE {diag.sqlstate})" if diag.sqlstate else "")
    )
    return StatementFailed(
        message,
        service=migration.file.service,
        version=migration.file.version_text,
        file=str(migration.file.path),
        line=line,
        statement_index=statement.index + 1,
        sqlstate=diag.sqlstate,
        error=primary,
        detail=diag.message_detail,
        server_hint=diag.message_hint,
        statement=statement.text,
    )


def _record_failure(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    failure: StatementFailed,
    started: float,
    *,
    statements_done: int,
) -> None:
    """Mark the row failed (outside the rolled-back transaction) and say what to do next."""
    fields = failure.fields
    tracking.upsert(
        conn,
        table,
        migration.version,
        _base_values(migration)
        | {
            "status": Status.FAILED.value,
            "applied_at": _now(),
            "duration_ms": int((time.monotonic() - started) * 1000),
            "statements_done": statements_done,
            "error": "\n".join(p for p in (fields.get("error"), fields.get("detail")) if p),
            "sqlstate": fields.get("sqlstate"),
            "failed_statement": fields.get("statement"),
            "failed_line": fields.get("line"),
        },
    )
    done_note = (
        "the migration's transaction was rolled back: nothing of it is applied"
        if migration.transactional and statements_done == 0
        else f"statements 1-{statements_done} of it are applied and stay; up resumes at statement {statements_done + 1}"
        if statements_done
        else "none of its statements is applied"
    )
    failure.hint = done_note + ". " + RECOVERY_PATHS.format(table=table, version=migration.version)
    failure.fields["statements_done"] = statements_done
