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

import functools
import logging
import os
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrydon_migrate import audit, db, log, record, tracking
from scrydon_migrate.errors import (
    ChecksumMismatch,
    DatabaseUnavailable,
    LockBudgetExceeded,
    LockTimeoutExhausted,
    RefusedError,
    StatementFailed,
)
from scrydon_migrate.source import LOCK_BUDGET_RULE, Migration, MigrationFile, load
from scrydon_migrate.tracking import Status, TrackedRow
from scrydon_migrate.watchdog import Blocker

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.analysis import Statement
    from scrydon_migrate.relations import Relation
    from scrydon_migrate.watchdog import Watchdog

logger = logging.getLogger(__name__)

RECOVERY_PATHS = (
    "fix forward: correct the failing statement in the file and restart (up retries a failed migration); "
    "skip: if you decided it is safe, scrydon-migrate mark-applied --service {service} --version {version} "
    '--reason "..." and restart; restore: scrydon-migrate snapshot restore --service {service} '
    "--from <pre-upgrade snapshot> --yes"
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
    known_done = [v for v, r in rows.items() if r.counts_as_done and (v in by_version or r in missing)]
    newest_done = max(known_done, default=None)
    out_of_order = tuple(f for f in pending if newest_done is not None and f.version < newest_done)
    return Plan(service, tuple(files), rows, pending, changed, unknown_newer, missing, out_of_order)


@dataclass(frozen=True, slots=True)
class Applied:
    version: str
    file: str
    duration_ms: int
    statements: int
    resumed_at: int
    lock_held_ms: int | None = None


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
    return migration.statements[-1] if migration.statements and len(before) > len(migration.statements) else None


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
    """Parse every pending migration before running any, so a bad file changes nothing.

    Parsed once per file content: ``up`` checks the pending files before taking the lock and
    plans again after it.
    """
    return [_load(f) for f in plan.pending]


@functools.lru_cache(maxsize=4096)
def _load(migration_file: MigrationFile) -> Migration:
    """Applying reads no parse tree: none is kept for every pending migration until the run ends."""
    return load(migration_file, keep_trees=False)


def applied_by() -> str:
    import socket

    return f"{os.environ.get('HOSTNAME') or socket.gethostname()} (pid {os.getpid()})"


@dataclass(frozen=True, slots=True)
class LockPolicy:
    """How long a statement may wait for a table lock, how often to try again, and how long it may run.

    ``statement_timeout_ms`` bounds every transactional statement (``None``: the server's
    setting); concurrent index builds are exempt, they block no writer however long they take.
    """

    timeout_ms: int = 2000
    retries: int = 6
    first_sleep_s: float = 0.5
    max_sleep_s: float = 30.0
    statement_timeout_ms: int | None = None

    def sleep_s(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number ``attempt`` (1-based).

        The first pause is at least as long as the lock timeout, so the writers that queued
        behind a timed-out attempt get at least as much time as that attempt took from them.
        """
        first = max(self.first_sleep_s, self.timeout_ms / 1000)
        return float(min(self.max_sleep_s, first * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25))


class _LockNotGranted(Exception):
    """A statement hit lock_timeout (SQLSTATE 55P03); the caller rolls back and retries."""

    def __init__(self, statement: Statement, message: str, began: datetime, blockers: list[Blocker] | None) -> None:
        super().__init__(message)
        self.statement = statement
        self.message = message
        self.began = began
        self.blockers = blockers


_BLOCKERS = """
SELECT DISTINCT ON (a.pid) a.pid, coalesce(a.application_name, ''), a.state,
       coalesce(a.xact_start, a.query_start), left(coalesce(a.query, ''), 200), l.mode
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.granted AND l.pid <> pg_backend_pid()
   AND l.relation IN (SELECT to_regclass(n) FROM unnest(%s::text[]) AS n)
   AND coalesce(a.xact_start, a.query_start) < %s
 ORDER BY a.pid, l.mode DESC
 LIMIT 5
"""


def find_blockers(conn: psycopg.Connection, statement: Statement, began: datetime) -> list[Blocker]:
    """Without a watchdog: sessions whose transaction, older than our attempt, holds a lock on its tables.

    Asked after the rollback, when the writers that queued behind the attempt hold their locks
    too; only a transaction that started before the attempt can have blocked it.
    """
    names = [r.regclass for r in statement.locks.relations]
    if not names:
        return []
    return [Blocker(*record) for record in conn.execute(_BLOCKERS, (names, began)).fetchall()]


def apply(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    row: TrackedRow | None,
    recorder: record.Recorder,
    policy: LockPolicy | None = None,
    watchdog: Watchdog | None = None,
) -> Applied:
    """Apply one migration and record what PostgreSQL says it did; raises StatementFailed / DatabaseUnavailable.

    With a ``watchdog``, every statement runs under the runtime lock budget.
    """
    import psycopg

    try:
        return _apply(conn, table, migration, row, _Run(policy or LockPolicy(), watchdog, recorder))
    except psycopg.OperationalError as exc:
        if not db.is_connection_lost(conn, exc):
            raise
        raise _connection_lost(migration, None, exc) from exc
    except psycopg.DataError as exc:
        damaged = tracking.unwritten(table, exc)
        if damaged is None:
            raise
        raise damaged from exc


def _connection_lost(migration: Migration, statement: Statement | None, exc: BaseException) -> DatabaseUnavailable:
    where = f", statement {statement.index + 1} on line {statement.line}" if statement else ""
    return DatabaseUnavailable(
        f"lost the connection to the database while applying migration {migration.file.version_text} "
        f"({migration.file.file}) of service {migration.file.service!r}{where}: {_first_line(exc)}",
        hint="a transactional migration was rolled back whole; a journaled one resumes at the statement it "
        "stopped at. Restart when the database is back: up picks it up",
        service=migration.file.service,
        version=migration.file.version_text,
        file=str(migration.file.path),
        line=statement.line if statement else None,
    )


def _apply(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    row: TrackedRow | None,
    run: _Run,
) -> Applied:
    resume_at = resume_point(conn, table, migration, row)
    started = time.monotonic()
    retrying = row is not None and row.status in (Status.RUNNING, Status.FAILED)
    if run.watchdog is not None:
        run.watchdog.reset_held()
    if migration.transactional and resume_at == 0:
        lock_held_ms = _apply_in_transaction(conn, table, migration, started, run)
    else:
        if run.policy.statement_timeout_ms is not None:
            conn.execute(_set_statement_timeout(run.policy))
        done_so_far = _recorded_so_far(row) if resume_at else record.Record(())
        interrupted = ConcurrentBuild.from_effects(row.effects) if retrying and row is not None else None
        lock_held_ms = _apply_journaled(
            conn, table, migration, resume_at, started, run, done_so_far, retrying=retrying, interrupted=interrupted
        )
        db.reset_session(conn, run.policy.timeout_ms)
    return Applied(
        version=migration.file.version_text,
        file=migration.file.file,
        duration_ms=int((time.monotonic() - started) * 1000),
        statements=len(migration.statements),
        resumed_at=resume_at,
        lock_held_ms=lock_held_ms,
    )


def resume_point(conn: psycopg.Connection, table: str, migration: Migration, row: TrackedRow | None) -> int:
    """Where a failed or interrupted journaled migration goes on; refused when a statement that ran was edited."""
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


def _recorded_so_far(row: TrackedRow | None) -> record.Record:
    """What the committed statements of an interrupted journaled migration did, as its row recorded it."""
    found = record.Record.from_json(row.effects) if row is not None else None
    return found if found is not None else record.Record((), complete=False)


def _may_write(statements: Sequence[Statement]) -> bool:
    return record.may_write(s.kind for s in statements)


def _audit_applied(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    started: float,
    lock_held_ms: int | None,
    *,
    before: bytes = b"",
    then: bytes = b"",
) -> None:
    audit.record(
        conn,
        table,
        service=migration.file.service,
        event="MIGRATION_APPLIED",
        version=migration.version,
        actor=applied_by(),
        details={
            "file": migration.file.file,
            "checksum": migration.checksum,
            "duration_ms": _ms(time.monotonic() - started),
            "statements": len(migration.statements),
            "lock_held_ms": lock_held_ms,
            "allows": [{"rule": a.rule, "reason": a.reason, "line": a.line} for a in migration.allows] or None,
        },
        before=before,
        then=then,
    )


def now() -> datetime:
    return datetime.now(UTC)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class _Run:
    """What every statement of one ``apply`` runs under: the lock policy, the lock-budget watchdog,
    and the recorder that reads what each transaction did from PostgreSQL."""

    policy: LockPolicy
    watchdog: Watchdog | None
    recorder: record.Recorder


def _blocks_writes(statement: Statement, created: set[Relation]) -> bool:
    """Whether ``statement`` locks an existing table, or rows of it, against writes until its transaction ends."""
    return any(r not in created for r in (*statement.locks.write_locks, *statement.locks.row_writes))


def _apply_in_transaction(
    conn: psycopg.Connection, table: str, migration: Migration, started: float, run: _Run
) -> int | None:
    """Run the migration and its tracking row in one transaction, retrying it whole on lock timeouts.

    ``lock_held_ms`` is the longest window, over the attempts, from the start of the first statement
    that blocks writes (queued for its lock, or holding it) to the end of the transaction.
    """
    attempt = 0
    worst: int | None = None
    while True:
        attempt += 1
        created: set[Relation] = set()
        first_blocking: float | None = None
        runnable = migration.runnable
        may_write = _may_write(runnable)
        try:
            with run.recorder.transaction(), db.transaction_sent_with_statements(conn):
                opening = run.recorder.opening(b"BEGIN; " + _set_statement_timeout(run.policy) + b"; ")
                read = None
                for statement in runnable:
                    if first_blocking is None and _blocks_writes(statement, created):
                        first_blocking = time.monotonic()
                    last = statement is runnable[-1]
                    read = _execute(
                        conn,
                        migration,
                        statement,
                        run,
                        before=opening,
                        after=run.recorder.closing(s.kind for s in runnable) if last else b"",
                    )
                    opening = b""
                    created.update(statement.locks.creates)
                if opening:
                    conn.execute(opening.rstrip(b"; "))
                effects = run.recorder.finish(in_transaction=True, may_write=may_write, sent=read)
                held = _observed(run, _longest(worst, first_blocking))
                row = tracking.upsert_statement(
                    conn,
                    table,
                    migration.version,
                    _base_values(migration)
                    | {
                        "status": Status.APPLIED.value,
                        "applied_at": now(),
                        "duration_ms": _ms(time.monotonic() - started),
                        "statements_done": len(migration.statements),
                        "lock_held_ms": held,
                        "effects": record.as_column(effects),
                    },
                )
                if _declares_backfills(migration):
                    conn.execute(row)
                    _register_backfills(conn, table, migration)
                    row = b""
                reset = db.reset_statements(conn, run.policy.timeout_ms)
                _audit_applied(conn, table, migration, started, held, before=row, then=b"COMMIT; " + reset)
            return held
        except _LockNotGranted as waited:
            worst = _longest(worst, first_blocking)
            _after_lock_timeout(conn, table, migration, waited, attempt, run.policy, started, statements_done=0)
        except StatementFailed as failure:
            _record_failure(conn, table, migration, failure, started, statements_done=0)
            raise


def _register_backfills(conn: psycopg.Connection, table: str, migration: Migration) -> None:
    """Register the backfills it declares; drop the adoption triggers of those it requires."""
    if not _declares_backfills(migration):
        return
    from scrydon_migrate import backfill

    backfill.register(conn, table, migration.file.service, migration, applied_by())
    backfill.adopt(conn, table, migration.file.service, migration, applied_by())


def _declares_backfills(migration: Migration) -> bool:
    return bool(migration.backfills or migration.requires_backfills)


def _where(migration: Migration) -> dict[str, str]:
    """The log fields that say which migration an event is about."""
    return {
        "service": migration.file.service,
        "version": migration.file.version_text,
        "file": migration.file.file,
    }


def _observed(run: _Run, predicted: int | None) -> int | None:
    """The longer of the predicted lock window and what the watchdog saw held (DO blocks, functions)."""
    seen = run.watchdog.held_ms() if run.watchdog is not None else None
    if seen is None:
        return predicted
    return seen if predicted is None else max(seen, predicted)


def _longest(worst: int | None, window_start: float | None) -> int | None:
    if window_start is None:
        return worst
    window = _ms(time.monotonic() - window_start)
    return window if worst is None else max(worst, window)


def _after_lock_timeout(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    waited: _LockNotGranted,
    attempt: int,
    policy: LockPolicy,
    started: float,
    *,
    statements_done: int,
) -> None:
    """Log and sleep before the next attempt, or fail naming the blockers when retries ran out."""
    statement = waited.statement
    blockers = waited.blockers if waited.blockers is not None else find_blockers(conn, statement, waited.began)
    targets = ",".join(r.display for r in statement.locks.relations)
    if attempt > policy.retries:
        failure = LockTimeoutExhausted(
            f"migration {migration.file.version_text} ({migration.file.file}) of service "
            f"{migration.file.service!r} could not lock {targets or 'its table'} at line {statement.line} "
            f"within {policy.timeout_ms} ms, {attempt} times: "
            + ("; ".join(b.describe() for b in blockers) or "the blocking session has ended since"),
            service=migration.file.service,
            version=migration.file.version_text,
            file=str(migration.file.path),
            line=statement.line,
            statement_index=statement.index + 1,
            sqlstate="55P03",
            error=waited.message,
            statement=statement.text,
            blocking_pids=[b.pid for b in blockers] or None,
        )
        _record_failure(conn, table, migration, failure, started, statements_done=statements_done)
        failure.hint = (
            (
                f"{blockers[0].describe()} holds the lock it needs: let that transaction finish or end it "
                f"(SELECT pg_terminate_backend({blockers[0].pid})) "
                if blockers
                else "a long transaction held a lock on the table: let it finish "
            )
            + "and restart; writers were never blocked longer than the lock timeout. "
            "Raise --lock-timeout-ms / --lock-retries if such waits are expected. " + failure.hint
        )
        raise failure
    sleep_s = policy.sleep_s(attempt)
    log.event(
        logger,
        logging.WARNING,
        "statement could not get its lock in time; rolled back, retrying",
        "DDL_LOCK_TIMEOUT_RETRY",
        **_where(migration),
        line=statement.line,
        table=targets or None,
        attempt=attempt,
        max=policy.retries,
        sleep_ms=_ms(sleep_s),
        blocking_pids=",".join(str(b.pid) for b in blockers) or None,
    )
    time.sleep(sleep_s)


def _apply_journaled(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    resume_at: int,
    started: float,
    run: _Run,
    so_far: record.Record,
    *,
    retrying: bool,
    interrupted: ConcurrentBuild | None,
) -> int | None:
    """Run statement by statement in autocommit, journaling each with what it did; concurrent steps wait.

    ``interrupted``: the concurrent build a killed run journaled (kept in the row until this run is past it).
    """
    tracking.upsert(
        conn,
        table,
        migration.version,
        _base_values(migration)
        | {
            "status": Status.RUNNING.value,
            "applied_at": None,
            "attempted_at": now(),
            "statements_done": resume_at,
            "lock_held_ms": None,
            "effects": record.as_column(so_far, interrupted.to_json() if interrupted else None),
        },
    )
    if retrying:
        log.event(
            logger,
            logging.INFO,
            "resuming migration where the last run stopped",
            "MIGRATION_RESUMED",
            service=migration.file.service,
            version=migration.file.version_text,
            file=migration.file.file,
            statement=resume_at + 1,
            statements=len(migration.statements),
        )
    created: set[Relation] = {c for s in migration.statements[:resume_at] for c in s.locks.creates}
    journal = _Journal(run.recorder, so_far, interrupted)
    longest: int | None = None
    done = resume_at
    for statement in migration.statements[resume_at:]:
        if not statement.runnable:
            continue
        first_retried = retrying and statement.index == resume_at
        held = _run_journaled_statement(
            conn, table, migration, statement, created, started, run, done, journal, first_retried=first_retried
        )
        longest = held if longest is None or (held is not None and held > longest) else longest
        created.update(statement.locks.creates)
        done = statement.index + 1
    with conn.transaction():
        tracking.update(
            conn,
            table,
            migration.version,
            {
                "status": Status.APPLIED.value,
                "applied_at": now(),
                "duration_ms": _ms(time.monotonic() - started),
                "lock_held_ms": longest,
            },
        )
        _register_backfills(conn, table, migration)
        _audit_applied(conn, table, migration, started, longest)
    return longest


#: A DO block that says COMMIT or ROLLBACK (PL/pgSQL can't run them from EXECUTE, so they are in its text).
_ENDS_TRANSACTION = re.compile(r"\b(?:COMMIT|ROLLBACK)\b", re.IGNORECASE)


def _may_end_its_transaction(statement: Statement) -> bool:
    """A procedure call, or a DO block that commits between batches, must run in true autocommit, as psql
    runs it, with the journal written right after. Every other statement of a journaled file commits
    together with its journal entry, so a crash can never run it twice."""
    return statement.kind == "CallStmt" or (
        statement.kind == "DoStmt" and _ENDS_TRANSACTION.search(statement.text) is not None
    )


def _run_journaled_statement(
    conn: psycopg.Connection,
    table: str,
    migration: Migration,
    statement: Statement,
    created: set[Relation],
    started: float,
    run: _Run,
    done: int,
    journal: _Journal,
    *,
    first_retried: bool = False,
) -> int | None:
    attempt = 0
    while True:
        attempt += 1
        began = time.monotonic()
        try:
            if statement.transactional and not _may_end_its_transaction(statement):
                with run.recorder.transaction(), conn.transaction():
                    run.recorder.begin()
                    _execute(conn, migration, statement, run)
                    journal.update(conn, table, migration, statement, in_transaction=True)
            else:
                with run.recorder.transaction():
                    run.recorder.begin()
                    if statement.transactional:
                        _execute(conn, migration, statement, run)
                    elif not (first_retried and _already_done(conn, migration, statement, journal.interrupted)):
                        if first_retried:
                            _drop_interrupted_build(conn, migration, statement, journal.interrupted)
                        _drop_invalid_index(conn, migration, statement)
                        _build_concurrently(conn, table, migration, statement, run, journal)
                    journal.update(conn, table, migration, statement, in_transaction=False)
            return _observed(run, _ms(time.monotonic() - began) if _blocks_writes(statement, created) else None)
        except _LockNotGranted as waited:
            _after_lock_timeout(conn, table, migration, waited, attempt, run.policy, started, statements_done=done)
        except StatementFailed as failure:
            _record_failure(conn, table, migration, failure, started, statements_done=done)
            raise


@dataclass(frozen=True, slots=True)
class ConcurrentBuild:
    """A concurrent index build under way, journaled before it starts: the statement, and the indexes its
    tables had then. A build that is killed leaves an INVALID index; with no name in the SQL (PostgreSQL
    picks one) this is how the next run tells exactly which index is the killed build's.
    """

    statement: int
    indexes: frozenset[int]

    def to_json(self) -> dict[str, Any]:
        return {"building": {"statement": self.statement, "indexes": sorted(self.indexes)}}

    @classmethod
    def from_effects(cls, effects: object) -> ConcurrentBuild | None:
        journal = effects.get("journal") if isinstance(effects, dict) else None
        building = journal.get("building") if isinstance(journal, dict) else None
        if not isinstance(building, dict) or not isinstance(building.get("statement"), int):
            return None
        indexes = building.get("indexes")
        if not isinstance(indexes, list) or not all(isinstance(i, int) for i in indexes):
            return None
        return cls(building["statement"], frozenset(indexes))


@dataclass
class _Journal:
    """The record of a journaled migration so far: each committed statement's record is added to its row.

    ``interrupted``: the concurrent build the run before this one journaled and did not finish.
    """

    recorder: record.Recorder
    so_far: record.Record
    interrupted: ConcurrentBuild | None = None

    def building(
        self, conn: psycopg.Connection, table: str, migration: Migration, statement: Statement, indexes: set[int]
    ) -> None:
        """Journal a concurrent build before it starts (one write, committed at once)."""
        under_way = ConcurrentBuild(statement.index, frozenset(indexes))
        tracking.update(conn, table, migration.version, {"effects": record.as_column(self.so_far, under_way.to_json())})

    def update(
        self, conn: psycopg.Connection, table: str, migration: Migration, statement: Statement, *, in_transaction: bool
    ) -> None:
        """Record the statement's effects with the journal entry that says it is done (one write)."""
        found = self.recorder.finish(in_transaction=in_transaction, may_write=_may_write([statement]))
        self.so_far = self.so_far.merged(found)
        tracking.update(
            conn,
            table,
            migration.version,
            {"statements_done": statement.index + 1, "effects": record.as_column(self.so_far)},
        )


def _execute_without_lock_timeout(
    conn: psycopg.Connection, migration: Migration, statement: Statement, run: _Run
) -> None:
    """Concurrent index builds never block writers, so they may wait for old transactions and run long."""
    if statement.locks.write_locks:
        _execute(conn, migration, statement, run)
        return
    conn.execute("SET lock_timeout = 0; SET statement_timeout = 0")
    try:
        _execute(conn, migration, statement, run)
    finally:
        if not conn.closed:
            restore = b"SET lock_timeout = %d; SET statement_timeout = " % run.policy.timeout_ms
            conn.execute(restore + _statement_timeout(run.policy))


def _already_done(
    conn: psycopg.Connection, migration: Migration, statement: Statement, interrupted: ConcurrentBuild | None
) -> bool:
    """Whether the concurrent step a killed run was executing had completed before it died.

    The journal is written right after such a statement (it can't share a transaction), so a
    crash in between leaves the step done but not recorded. A valid index of that name, or
    indexes already gone, mean it completed: re-running would fail on "already exists". An
    unnamed build completed when its table has a valid index it did not have when the build
    was journaled (built again, it would add a second one beside it).
    """
    index = statement.locks.concurrent_index
    build = _journaled_build_of(statement, interrupted)
    if statement.kind == "IndexStmt" and index is None and build is not None:
        rows = conn.execute(_TABLE_INDEXES, (_indexed_tables(statement),)).fetchall()
        done = any(valid and oid not in build.indexes for oid, _name, valid, _unique in rows)
    elif index is not None:
        record = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index.regclass,)
        ).fetchone()
        done = record is not None and bool(record[0])
    elif statement.locks.concurrent_drops:
        present = conn.execute(
            "SELECT count(to_regclass(n)) FROM unnest(%s::text[]) AS n",
            ([r.regclass for r in statement.locks.concurrent_drops],),
        ).fetchone()
        done = present is not None and present[0] == 0
    else:
        return False
    if done:
        log.event(
            logger,
            logging.INFO,
            "the statement a killed run was executing had completed; recording it as done",
            "STATEMENT_ALREADY_DONE",
            **_where(migration),
            line=statement.line,
        )
    return done


_CONCURRENT_BUILDS = frozenset({"IndexStmt", "ReindexStmt"})

#: Indexes of the tables a statement names (an index counts as its table), and whether each is valid.
_TABLE_INDEXES = """
SELECT i.indexrelid::bigint, i.indexrelid::regclass::text, i.indisvalid, i.indisunique AND i.indisready
  FROM pg_index i
 WHERE i.indrelid IN (SELECT coalesce(x.indrelid, to_regclass(n))
                        FROM unnest(%s::text[]) AS n
                        LEFT JOIN pg_index x ON x.indexrelid = to_regclass(n))
"""


def _build_concurrently(
    conn: psycopg.Connection, table: str, migration: Migration, statement: Statement, run: _Run, journal: _Journal
) -> None:
    """Run a non-transactional step; a concurrent build that fails leaves no INVALID index behind.

    CREATE [UNIQUE] INDEX CONCURRENTLY and REINDEX ... CONCURRENTLY, named or not, leave an INVALID
    index when they fail (a unique one keeps rejecting duplicates). The indexes of the table are read
    and journaled before the build; any new INVALID one after a failure is the build's, and is dropped
    before the failure is reported (or, after a killed run, by the next one).
    """
    if statement.kind not in _CONCURRENT_BUILDS:
        _execute_without_lock_timeout(conn, migration, statement, run)
        return
    names = _indexed_tables(statement)
    before = {row[0] for row in conn.execute(_TABLE_INDEXES, (names,)).fetchall()}
    journal.building(conn, table, migration, statement, before)
    try:
        _execute_without_lock_timeout(conn, migration, statement, run)
    except StatementFailed as failure:
        if not conn.closed and not conn.broken:
            _drop_left_behind(conn, migration, statement, names, before, failure)
        raise


def _indexed_tables(statement: Statement) -> list[str]:
    return [r.regclass for r in statement.locks.relations]


def _drop_interrupted_build(
    conn: psycopg.Connection, migration: Migration, statement: Statement, interrupted: ConcurrentBuild | None
) -> None:
    """After a killed run: drop the INVALID indexes its journaled build of this statement left."""
    build = _journaled_build_of(statement, interrupted)
    if build is not None:
        _drop_left_behind(conn, migration, statement, _indexed_tables(statement), set(build.indexes), None)


def _journaled_build_of(statement: Statement, interrupted: ConcurrentBuild | None) -> ConcurrentBuild | None:
    """The killed run's journaled build, if it was this statement's (the journal names it by position)."""
    return interrupted if interrupted is not None and interrupted.statement == statement.index else None


def _drop_left_behind(
    conn: psycopg.Connection,
    migration: Migration,
    statement: Statement,
    names: list[str],
    before: set[int],
    failure: StatementFailed | None,
) -> None:
    """Drop the INVALID indexes of ``names``' tables that were not there ``before`` the build."""
    from psycopg import sql

    left = [(name, unique) for oid, name, valid, unique in conn.execute(_TABLE_INDEXES, (names,)).fetchall()
            if oid not in before and not valid]  # fmt: skip
    for name, unique in left:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(name)))
        log.event(
            logger,
            logging.WARNING,
            "dropped the INVALID index the failed concurrent build left"
            + (" (it was already rejecting duplicate rows)" if unique else ""),
            "INVALID_INDEX_DROPPED",
            **_where(migration),
            line=statement.line,
            index=name,
        )
    if left and failure is not None:
        listed = ", ".join(repr(name) for name, _ in left)
        failure.hint = f"the failed build left the INVALID index {listed}, now dropped: nothing of it remains."
        failure.fields["invalid_indexes_dropped"] = [name for name, _ in left]


def _drop_invalid_index(conn: psycopg.Connection, migration: Migration, statement: Statement) -> None:
    """Drop the INVALID index a failed CREATE INDEX CONCURRENTLY left, so IF NOT EXISTS can't keep it."""
    index = statement.locks.concurrent_index
    if index is None:
        return
    record = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid",
        (index.regclass,),
    ).fetchone()
    if record is None:
        return
    from psycopg import sql

    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(record[0])))
    log.event(
        logger,
        logging.INFO,
        "dropped the INVALID index a failed concurrent build left behind, before building it again",
        "INVALID_INDEX_DROPPED",
        service=migration.file.service,
        version=migration.file.version_text,
        file=migration.file.file,
        index=record[0],
    )


def _statement_timeout(policy: LockPolicy) -> bytes:
    return b"DEFAULT" if policy.statement_timeout_ms is None else b"%d" % policy.statement_timeout_ms


def _set_statement_timeout(policy: LockPolicy) -> bytes:
    return b"SET statement_timeout = " + _statement_timeout(policy)


def _execute(
    conn: psycopg.Connection,
    migration: Migration,
    statement: Statement,
    run: _Run,
    *,
    before: bytes = b"",
    after: bytes = b"",
) -> psycopg.Cursor[Any] | None:
    """Run one statement under the lock budget; the one place a server error becomes a StatementFailed.

    ``before`` (the statements that open the migration's transaction) and ``after`` (the recorder's
    read) are sent with it in one round trip; the cursor is returned when ``after`` ran.
    """
    import psycopg

    watchdog = run.watchdog
    began = now()
    text = before + statement.text.encode() + after
    cursor: psycopg.Cursor[Any] | None = None
    try:
        if watchdog is None:
            cursor = conn.execute(text)
        else:
            building = not statement.transactional and statement.kind in _CONCURRENT_BUILDS
            progress = _where(migration) | {"line": str(statement.line)} if building else None
            with watchdog.watch(allowed=_budget_allowed(migration, statement), progress=progress):
                cursor = conn.execute(text)
    except psycopg.errors.InvalidSqlStatementName as exc:
        if not (after and run.recorder.lost_read(exc)):
            raise _statement_failed(migration, statement, exc, offset=len(before)) from exc
        record.roll_back_to_read(conn)
    except psycopg.errors.LockNotAvailable as exc:
        blockers = watchdog.blockers() if watchdog is not None else None
        raise _LockNotGranted(statement, _first_line(exc), began, blockers) from exc
    except psycopg.Error as exc:
        if db.is_connection_lost(conn, exc):
            raise _connection_lost(migration, statement, exc) from exc
        if watchdog is not None and watchdog.tripped is not None and isinstance(exc, psycopg.errors.QueryCanceled):
            raise _budget_exceeded(migration, statement, watchdog) from exc
        raise _statement_failed(migration, statement, exc, offset=len(before)) from exc
    if watchdog is not None and watchdog.tripped is not None and not conn.autocommit:
        raise _budget_exceeded(migration, statement, watchdog)
    return cursor if after else None


def _budget_allowed(migration: Migration, statement: Statement) -> bool:
    """``-- migrate:allow lock-budget reason="..."`` lifts the budget for that statement (audited when applied)."""
    allow = migration.allowed(LOCK_BUDGET_RULE, statement.index)
    if allow is None:
        return False
    log.event(
        logger,
        logging.WARNING,
        "lock budget lifted for this statement by an allow",
        "LOCK_BUDGET_LIFTED",
        **_where(migration),
        line=statement.line,
        reason=allow.reason,
    )
    return True


def _budget_exceeded(migration: Migration, statement: Statement, watchdog: Watchdog) -> LockBudgetExceeded:
    trip = watchdog.tripped
    assert trip is not None
    risk = next((r for r in statement.locks.risks if r.table is not None), None)
    instead = (
        f"Instead, use: {risk.instead}"
        if risk is not None
        else "Instead, split it across releases: add the column or constraint alone (NOT VALID), fill rows "
        "with a declared backfill (-- migrate:backfill), build indexes CONCURRENTLY in a "
        "-- migrate:no-transaction file, and keep each step's lock short."
    )
    return LockBudgetExceeded(
        f"migration {migration.file.version_text} ({migration.file.file}) of service {migration.file.service!r}: "
        f"the statement at line {statement.line} {trip.describe()}, past the lock budget of "
        f"{watchdog.limits.budget_ms:,} ms; it was cancelled",
        hint=f"{instead} If holding it is deliberate, put above the statement: "
        f'-- migrate:allow lock-budget reason="...", or raise --lock-budget-ms.',
        service=migration.file.service,
        version=migration.file.version_text,
        file=str(migration.file.path),
        line=statement.line,
        statement_index=statement.index + 1,
        sqlstate="57014",
        error=f"cancelled by the lock budget: {trip.describe()}",
        statement=statement.text,
        table=trip.table,
        lock_mode=trip.mode,
        held_ms=trip.held_ms,
        budget_ms=watchdog.limits.budget_ms,
        waiting_pids=[w.pid for w in trip.waiters] or None,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _statement_failed(
    migration: Migration, statement: Statement, exc: psycopg.Error, *, offset: int = 0
) -> StatementFailed:
    """``offset``: how many (ASCII) characters were sent ahead of the statement's text."""
    diag = exc.diag
    line = statement.line
    position = diag.statement_position
    if position and position.isdigit() and int(position) > offset:
        line += statement.text.count("\n", 0, int(position) - offset - 1)
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


def _mode_hint(migration: Migration, failure: StatementFailed) -> str:
    """A DO block or procedure that COMMITs fails with 2D000 inside the migration's transaction."""
    if failure.fields.get("sqlstate") == "2D000" and migration.transactional:
        return (
            "a DO block or procedure that COMMITs between batches must run in autocommit: put "
            "'-- migrate:no-transaction' at the top of the file (each statement then commits on its own). "
        )
    return ""


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
    audit.record(
        conn,
        table,
        service=migration.file.service,
        event=failure.event,
        version=migration.version,
        actor=applied_by(),
        details={
            "file": migration.file.file,
            "line": fields.get("line"),
            "sqlstate": fields.get("sqlstate"),
            "error": fields.get("error"),
            "detail": fields.get("detail"),
            "statement": fields.get("statement"),
            "statements_done": statements_done,
        },
    )
    tracking.upsert(
        conn,
        table,
        migration.version,
        _base_values(migration)
        | {
            "status": Status.FAILED.value,
            "applied_at": None,
            "attempted_at": now(),
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
    failure.hint = (
        done_note
        + ". "
        + (failure.hint + " " if failure.hint else "")
        + _mode_hint(migration, failure)
        + RECOVERY_PATHS.format(service=migration.file.service, version=migration.version)
    )
    failure.fields["statements_done"] = statements_done
