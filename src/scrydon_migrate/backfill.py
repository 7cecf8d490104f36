"""Background backfills: batched, throttled, pausable, resumable from where they left off.

A migration declares a backfill (``-- migrate:backfill <name> table=<t> key=<column>``
followed by its batch statement, ``... WHERE <column> BETWEEN $1 AND $2``). ``up`` only
*registers* it, in the migration's transaction, in ``<tracking table>_backfills``; a table
that is empty at that moment (a fresh install) has nothing to fill, so its backfill is
completed at once. The worker (``backfill run``) then walks the key in order:

* each batch is one transaction that locks the backfill's row (``FOR UPDATE SKIP LOCKED``:
  several workers never run the same backfill at once, and never overlap), runs the
  batch statement for the next key range and advances the checkpoint *in the same
  transaction* — a killed worker resumes right after the last committed batch, and no
  key range is processed twice;
* the batch size adapts to keep each batch near a target duration, with a pause between
  batches; batches run under a short ``lock_timeout`` and a ``statement_timeout``;
  the worker holds back while a replica lags; it fills the keys that existed when it
  started (later rows are written by the release that declared it), so it finishes under
  a steady stream of inserts;
* a batch that hits its lock timeout is retried after a pause; one that fails otherwise
  is split in half and retried, down to one key, before the backfill is marked failed.

Pausing (``backfill pause``) waits for the row lock, so it takes effect after the
current batch. Every state change is audited as ``MIGRATION_BACKFILL_*`` and logged;
progress is reported by time, not per batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from scrydon_migrate import audit, log
from scrydon_migrate.errors import ConfigError, MigrateError, RefusedError, StatementFailed
from scrydon_migrate.tracking import table_identifier

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.source import BackfillSpec, Migration

logger = logging.getLogger(__name__)


class State(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class BackfillIncomplete(MigrateError):
    exit_code = RefusedError.exit_code
    event = "MIGRATION_BACKFILL_REQUIRED"


_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    name               text PRIMARY KEY,
    version            bigint NOT NULL,
    table_name         text NOT NULL,
    key_column         text NOT NULL,
    batch_sql          text NOT NULL,
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'running', 'paused', 'completed', 'failed')),
    last_key           text,
    keys_done          bigint NOT NULL DEFAULT 0,
    rows_done          bigint NOT NULL DEFAULT 0,
    keys_total         bigint,
    batches            integer NOT NULL DEFAULT 0,
    batch_size         integer NOT NULL DEFAULT 1000,
    target_batch_ms    integer NOT NULL DEFAULT 200,
    pause_ms           integer NOT NULL DEFAULT 50,
    min_batch_size     integer NOT NULL DEFAULT 10,
    max_batch_size     integer NOT NULL DEFAULT 20000,
    lock_timeout_ms    integer NOT NULL DEFAULT 1000,
    statement_timeout_ms integer NOT NULL DEFAULT 30000,
    max_replica_lag_s  integer NOT NULL DEFAULT 10,
    error              text,
    worker             text,
    registered_at      timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    end_key            text
)
"""

_FIELDS = (
    "name",
    "version",
    "table_name",
    "key_column",
    "batch_sql",
    "state",
    "last_key",
    "keys_done",
    "rows_done",
    "keys_total",
    "batches",
    "batch_size",
    "target_batch_ms",
    "pause_ms",
    "min_batch_size",
    "max_batch_size",
    "lock_timeout_ms",
    "statement_timeout_ms",
    "max_replica_lag_s",
    "error",
    "worker",
    "registered_at",
    "started_at",
    "updated_at",
    "completed_at",
    "end_key",
)


@dataclass(frozen=True, slots=True)
class Backfill:
    """One registered backfill and its checkpoint."""

    name: str
    version: int
    table_name: str
    key_column: str
    batch_sql: str
    state: State
    last_key: str | None
    keys_done: int
    rows_done: int
    keys_total: int | None
    batches: int
    batch_size: int
    target_batch_ms: int
    pause_ms: int
    min_batch_size: int
    max_batch_size: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    max_replica_lag_s: int
    error: str | None
    worker: str | None
    registered_at: datetime
    started_at: datetime | None
    updated_at: datetime
    completed_at: datetime | None
    end_key: str | None

    @property
    def percent(self) -> float | None:
        if self.state is State.COMPLETED:
            return 100.0
        if not self.keys_total:
            return None
        return min(99.9, 100.0 * self.keys_done / self.keys_total)

    @property
    def rate_keys_per_s(self) -> float | None:
        if self.started_at is None or self.keys_done == 0:
            return None
        end = self.completed_at or self.updated_at
        elapsed = (end - self.started_at).total_seconds()
        return self.keys_done / elapsed if elapsed > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.rate_keys_per_s
        if self.state is not State.RUNNING or not rate or not self.keys_total:
            return None
        return max(0.0, (self.keys_total - self.keys_done) / rate)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "table": self.table_name,
            "key": self.key_column,
            "state": self.state.value,
            "percent": None if self.percent is None else round(self.percent, 1),
            "keys_done": self.keys_done,
            "keys_total": self.keys_total,
            "rows_done": self.rows_done,
            "batches": self.batches,
            "batch_size": self.batch_size,
            "rate_keys_per_s": None if self.rate_keys_per_s is None else round(self.rate_keys_per_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s),
            "last_key": self.last_key,
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


def table_for(tracking_table: str) -> str:
    return f"{tracking_table}_backfills"


def ensure_table(conn: psycopg.Connection, tracking_table: str) -> None:
    from psycopg import sql

    conn.execute(sql.SQL(_DDL).format(table=table_identifier(table_for(tracking_table))))


def _relation(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(*name.split(".", 1))


def register(conn: psycopg.Connection, tracking_table: str, service: str, migration: Migration, actor: str) -> None:
    """Record the migration's backfills (inside its transaction). Never runs them.

    A declaration naming a table or key column that does not exist fails the migration like a
    failing statement, at the directive's line.
    """
    from psycopg import sql

    if migration.backfills:
        ensure_table(conn, tracking_table)
    for spec in migration.backfills:
        empty, estimate = _table_facts(conn, migration, spec)
        state = State.COMPLETED if empty else State.PENDING
        values = {
            "name": spec.name,
            "version": migration.version,
            "table_name": spec.table,
            "key_column": spec.key,
            "batch_sql": spec.batch_sql,
            "state": state.value,
            "keys_total": estimate or None,
            "completed_at": _now() if state is State.COMPLETED else None,
        } | dict(spec.limits)
        inserted = conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (name) DO NOTHING RETURNING name").format(
                table_identifier(table_for(tracking_table)),
                sql.SQL(", ").join(sql.Identifier(k) for k in values),
                sql.SQL(", ").join(sql.Placeholder() for _ in values),
            ),
            list(values.values()),
        ).fetchone()
        if inserted is None:
            continue
        audit.record(
            conn,
            tracking_table,
            service=service,
            event="MIGRATION_BACKFILL_REGISTERED",
            version=migration.version,
            actor=actor,
            details={"backfill": spec.name, "table": spec.table, "key": spec.key, "state": state.value},
        )


def _table_facts(conn: psycopg.Connection, migration: Migration, spec: BackfillSpec) -> tuple[bool, int]:
    """Whether the backfill's table is empty now, and its estimated rows; checks table and key exist."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(
        "SELECT NOT EXISTS (SELECT {key} FROM {table}),"
        " (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s))"
    ).format(key=sql.Identifier(spec.key), table=_relation(spec.table))
    try:
        record = conn.execute(query, (spec.table,)).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raise StatementFailed(
            f"migration {migration.file.version_text} ({migration.file.file}) of service "
            f"{migration.file.service!r} declares backfill {spec.name!r} on {spec.table}.{spec.key}, which does "
            f"not exist: {str(exc).strip().splitlines()[0]}",
            hint="fix table= / key= in its -- migrate:backfill directive, then restart: the migration's "
            "transaction was rolled back",
            service=migration.file.service,
            version=migration.file.version_text,
            file=str(migration.file.path),
            line=spec.line,
            sqlstate=exc.diag.sqlstate,
            error=str(exc).strip().splitlines()[0],
            statement=f"-- migrate:backfill {spec.name} table={spec.table} key={spec.key}",
        ) from exc
    return (bool(record[0]), int(record[1] or 0)) if record else (False, 0)


def _read(
    conn: psycopg.Connection, tracking_table: str, *, name: str | None = None, lock: bool = False
) -> list[Backfill]:
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {} WHERE (%s::text IS NULL OR name = %s) ORDER BY version, name{}").format(
        sql.SQL(", ").join(sql.Identifier(f) for f in _FIELDS),
        table_identifier(table_for(tracking_table)),
        sql.SQL(" FOR UPDATE SKIP LOCKED" if lock else ""),
    )
    try:
        rows = conn.execute(query, (name, name)).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    return [Backfill(**dict(zip(_FIELDS, r, strict=True)) | {"state": State(r[5])}) for r in rows]


def list_backfills(conn: psycopg.Connection, tracking_table: str) -> list[Backfill]:
    return _read(conn, tracking_table)


def incomplete(conn: psycopg.Connection, tracking_table: str, names: Sequence[str]) -> dict[str, str]:
    """Required backfills that are not completed: name -> state (``missing`` when never registered)."""
    known = {b.name: b for b in _read(conn, tracking_table)}
    return {
        n: (known[n].state.value if n in known else "missing")
        for n in names
        if n not in known or known[n].state is not State.COMPLETED
    }


@dataclass
class _Throttle:
    last_progress: float = 0.0
    progress_every_s: float = 10.0


def run(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    *,
    worker: str,
    names: Sequence[str] = (),
    follow: bool = False,
    idle_sleep_s: float = 1.0,
    on_batch: Callable[[Backfill], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[Backfill]:
    """Work on the service's backfills until none is left to do (or forever with ``follow``)."""
    throttle = _Throttle()
    while True:
        todo = [
            b
            for b in _read(conn, tracking_table)
            if b.state in (State.PENDING, State.RUNNING) and (not names or b.name in names)
        ]
        if not todo and not follow:
            return _read(conn, tracking_table)
        progressed = False
        for backfill in todo:
            if stop and stop():
                return _read(conn, tracking_table)
            outcome = _batch(conn, tracking_table, service, backfill.name, worker, throttle)
            if outcome is not None:
                progressed = True
                if on_batch:
                    on_batch(outcome)
                time.sleep(outcome.pause_ms / 1000)
        if stop and stop():
            return _read(conn, tracking_table)
        if not progressed:
            time.sleep(idle_sleep_s)


def _batch(
    conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str, throttle: _Throttle
) -> Backfill | None:
    """One batch of one backfill, with its checkpoint, in one transaction; None when another worker has it."""
    import psycopg

    try:
        with conn.transaction():
            claimed = _read(conn, tracking_table, name=name, lock=True)
            if not claimed or claimed[0].state not in (State.PENDING, State.RUNNING):
                return None
            backfill = claimed[0]
            if backfill.state is State.PENDING:
                _start(conn, tracking_table, service, backfill, worker)
                backfill = _read(conn, tracking_table, name=name)[0]
            pressure = _pressure(conn, backfill)
            if pressure:
                log.event(
                    logger,
                    logging.INFO,
                    "backfill waiting: the database is under pressure",
                    "MIGRATION_BACKFILL_THROTTLED",
                    service=service,
                    backfill=name,
                    reason=pressure,
                )
                return None
            return _advance(conn, tracking_table, service, backfill, worker, throttle)
    except psycopg.errors.LockNotAvailable:
        log.event(
            logger,
            logging.INFO,
            "backfill batch could not get its locks in time; retrying after a pause",
            "MIGRATION_BACKFILL_LOCK_TIMEOUT",
            service=service,
            backfill=name,
        )
        time.sleep(1.0)
        return None
    except _BatchFailed as failed:
        return _split_or_fail(conn, tracking_table, service, name, worker, failed)


class _BatchFailed(Exception):
    def __init__(self, backfill: Backfill, size: int, error: str) -> None:
        super().__init__(error)
        self.backfill = backfill
        self.size = size
        self.error = error


def _start(conn: psycopg.Connection, tracking_table: str, service: str, backfill: Backfill, worker: str) -> None:
    """First batch: fix the last key to fill, count the keys once (for progress) and record who started it.

    Rows inserted after this are written by the release that declared the backfill, which fills the
    column itself: stopping at the key that was last when the backfill started lets it finish under a
    steady stream of inserts.
    """
    from psycopg import sql

    table, key = _relation(backfill.table_name), sql.Identifier(backfill.key_column)
    last = conn.execute(sql.SQL("SELECT max({})::text FROM {}").format(key, table)).fetchone()
    changes: dict[str, Any] = {"end_key": last[0] if last else None}
    if not backfill.keys_total:
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        changes["keys_total"] = counted[0] if counted else None
    _update(conn, tracking_table, backfill.name, changes)
    _update(conn, tracking_table, backfill.name, {"state": State.RUNNING.value, "started_at": _now(), "worker": worker})
    _event(
        conn, tracking_table, service, backfill, "MIGRATION_BACKFILL_STARTED", worker, {"table": backfill.table_name}
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _pressure(conn: psycopg.Connection, backfill: Backfill) -> str | None:
    """Why the worker should hold back now: a replica lagging past the backfill's limit.

    Autovacuum on the table does not stop it: the backfill's own dead rows start that vacuum,
    which can run for minutes, and holding back for it measured at most a third of the throughput.
    """
    record = conn.execute(
        "SELECT coalesce((SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication), 0)"
    ).fetchone()
    lag = float(record[0]) if record and record[0] else 0.0
    if lag > backfill.max_replica_lag_s:
        return f"a replica lags {lag:.0f} s (limit {backfill.max_replica_lag_s} s)"
    return None


_BOUNDS = (
    "WITH batch AS (SELECT {key} AS k FROM {table} {after} ORDER BY 1 LIMIT %(size)s)"
    " SELECT (SELECT b.k::text FROM batch b ORDER BY b.k LIMIT 1),"
    " (SELECT b.k::text FROM batch b ORDER BY b.k DESC LIMIT 1),"
    " (SELECT count(*) FROM batch)"
)


def _advance(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    worker: str,
    throttle: _Throttle,
) -> Backfill:
    """Run the batch statement over the next key range and move the checkpoint past it."""
    import psycopg
    from psycopg import sql

    key = sql.Identifier(backfill.key_column)
    if backfill.end_key is None:
        return _complete(conn, tracking_table, service, backfill, worker)
    conditions = [sql.SQL("{} <= %(end)s").format(key)]
    if backfill.last_key is not None:
        conditions.append(sql.SQL("{} > %(after)s").format(key))
    after = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)
    query = sql.SQL(_BOUNDS).format(key=key, table=_relation(backfill.table_name), after=after)
    try:
        bounds = conn.execute(
            query, {"after": backfill.last_key, "end": backfill.end_key, "size": backfill.batch_size}
        ).fetchone()
    except psycopg.errors.LockNotAvailable:
        raise
    except psycopg.Error as exc:
        raise _BatchFailed(backfill, 1, _first_line(exc)) from exc
    if bounds is None or bounds[2] == 0:
        return _complete(conn, tracking_table, service, backfill, worker)
    low, high, keys = bounds
    conn.execute(
        sql.SQL("SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}").format(
            sql.Literal(backfill.lock_timeout_ms), sql.Literal(backfill.statement_timeout_ms)
        )
    )
    began = time.monotonic()
    try:
        cursor = conn.execute(backfill.batch_sql.encode(), {"lo": low, "hi": high})
    except psycopg.errors.LockNotAvailable:
        raise
    except psycopg.Error as exc:
        raise _BatchFailed(backfill, keys, _first_line(exc)) from exc
    elapsed_ms = max(1.0, (time.monotonic() - began) * 1000)
    changes = {
        "last_key": high,
        "keys_done": backfill.keys_done + keys,
        "rows_done": backfill.rows_done + max(cursor.rowcount, 0),
        "batches": backfill.batches + 1,
        "batch_size": _adapt(backfill, keys, elapsed_ms),
        "worker": worker,
        "updated_at": _now(),
    }
    _update(conn, tracking_table, backfill.name, changes)
    updated = _replace(backfill, changes)
    if time.monotonic() - throttle.last_progress >= throttle.progress_every_s:
        throttle.last_progress = time.monotonic()
        _event(conn, tracking_table, service, updated, "MIGRATION_BACKFILL_PROGRESS", worker, _progress(updated))
    return updated


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _adapt(backfill: Backfill, keys: int, elapsed_ms: float) -> int:
    """Move the batch size toward the target duration, at most doubling or halving per batch."""
    if keys < backfill.batch_size:
        return backfill.batch_size
    wanted = keys * backfill.target_batch_ms / elapsed_ms
    bounded = min(max(wanted, keys / 2), keys * 2)
    return int(min(max(bounded, backfill.min_batch_size), backfill.max_batch_size))


def _replace(backfill: Backfill, changes: dict[str, Any]) -> Backfill:
    from dataclasses import replace

    return replace(backfill, **{k: v for k, v in changes.items() if k in Backfill.__dataclass_fields__})


def _progress(backfill: Backfill) -> dict[str, Any]:
    return {
        "table": backfill.table_name,
        "position": backfill.last_key,
        "keys_done": backfill.keys_done,
        "keys_total": backfill.keys_total,
        "rows_done": backfill.rows_done,
        "batch_size": backfill.batch_size,
        "percent": None if backfill.percent is None else round(backfill.percent, 1),
    }


def _complete(conn: psycopg.Connection, tracking_table: str, service: str, backfill: Backfill, worker: str) -> Backfill:
    changes = {"state": State.COMPLETED.value, "completed_at": _now(), "updated_at": _now()}
    _update(conn, tracking_table, backfill.name, changes)
    done = _replace(backfill, changes | {"state": State.COMPLETED})
    _event(conn, tracking_table, service, done, "MIGRATION_BACKFILL_COMPLETED", worker, _progress(done))
    return done


def _split_or_fail(
    conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str, failed: _BatchFailed
) -> Backfill | None:
    """Retry a failing batch in halves (down to one key); then mark the backfill failed."""
    if failed.size > 1:
        smaller = max(1, failed.size // 2)
        with conn.transaction():
            _update(conn, tracking_table, name, {"batch_size": smaller})
        log.event(
            logger,
            logging.WARNING,
            "backfill batch failed; retrying it in smaller batches",
            "MIGRATION_BACKFILL_BATCH_SPLIT",
            service=service,
            backfill=name,
            batch_size=smaller,
            error=failed.error,
        )
        return None
    with conn.transaction():
        claimed = _read(conn, tracking_table, name=name, lock=True)
        if not claimed:
            return None
        _update(conn, tracking_table, name, {"state": State.FAILED.value, "error": failed.error})
        backfill = _replace(claimed[0], {"state": State.FAILED, "error": failed.error})
        _event(
            conn,
            tracking_table,
            service,
            backfill,
            "MIGRATION_BACKFILL_FAILED",
            worker,
            _progress(backfill) | {"error": failed.error},
        )
    return backfill


def _update(conn: psycopg.Connection, tracking_table: str, name: str, changes: dict[str, Any]) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("UPDATE {} SET {} WHERE name = %s").format(
            table_identifier(table_for(tracking_table)),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
        ),
        [*changes.values(), name],
    )


def _event(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    event: str,
    actor: str,
    details: dict[str, Any],
    reason: str | None = None,
) -> None:
    audit.record(
        conn,
        tracking_table,
        service=service,
        event=event,
        version=backfill.version,
        actor=actor,
        reason=reason,
        details={"backfill": backfill.name} | details,
    )
    level = logging.WARNING if event.endswith("FAILED") else logging.INFO
    log.event(
        logger,
        level,
        "backfill " + event.removeprefix("MIGRATION_BACKFILL_").lower().replace("_", " "),
        event,
        service=service,
        backfill=backfill.name,
        **{k: v for k, v in details.items() if v is not None},
    )


_TRANSITIONS = {
    "pause": ((State.PENDING, State.RUNNING), State.PAUSED, "MIGRATION_BACKFILL_PAUSED"),
    "resume": ((State.PAUSED,), State.RUNNING, "MIGRATION_BACKFILL_RESUMED"),
    "retry": ((State.FAILED,), State.RUNNING, "MIGRATION_BACKFILL_RESUMED"),
    "restart": (
        (State.PENDING, State.RUNNING, State.PAUSED, State.COMPLETED, State.FAILED),
        State.PENDING,
        "MIGRATION_BACKFILL_RESTARTED",
    ),
}


def control(
    conn: psycopg.Connection, tracking_table: str, service: str, name: str, action: str, actor: str
) -> Backfill:
    """Pause, resume, retry (a failed one, from its checkpoint) or restart (from the start) a backfill.

    Waits for the row lock a running batch holds, so it takes effect after that batch.
    """
    allowed, target, event = _TRANSITIONS[action]
    with conn.transaction():
        found = [b for b in _read(conn, tracking_table) if b.name == name]
        if not found:
            raise ConfigError(
                f"service {service!r} has no backfill named {name!r}",
                hint="see the registered ones with: scrydon-migrate backfill status",
                service=service,
            )
        from psycopg import sql

        conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE name = %s FOR UPDATE").format(table_identifier(table_for(tracking_table))),
            (name,),
        )
        current = _read(conn, tracking_table, name=name)[0]
        if current.state not in allowed:
            raise RefusedError(
                f"can't {action} backfill {name!r}: it is {current.state.value}",
                hint="backfill status shows each backfill's state",
                service=service,
            )
        changes: dict[str, Any] = {"state": target.value, "updated_at": _now(), "error": None}
        if action == "restart":
            changes |= {
                "end_key": None,
                "last_key": None,
                "keys_done": 0,
                "rows_done": 0,
                "batches": 0,
                "completed_at": None,
                "started_at": None,
            }
        if action == "resume" and current.started_at is None:
            changes["state"] = State.PENDING.value
        _update(conn, tracking_table, name, changes)
        updated = _replace(current, changes | {"state": State(changes["state"])})
        _event(conn, tracking_table, service, updated, event, actor, _progress(updated) | {"action": action})
    return updated
