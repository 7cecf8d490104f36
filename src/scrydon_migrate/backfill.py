"""Background backfills: right under a rolling update, on any key, shared by several workers.

A migration declares a backfill (``-- migrate:backfill <name> table=<t> key=<column>[,<column>...]``
followed by its batch statement, ``... WHERE <column> BETWEEN $1 AND $2``). ``up`` only
*registers* it, in the migration's transaction, in ``<tracking table>_backfills``, after
checking that the key can be walked: its columns exist, a valid btree index starts with
them (else every batch would scan the table), and no row has a NULL key (a key range never
contains NULL). A table that is empty at that moment (a fresh install) has nothing to fill.

**Adoption, as pgroll does it.** While the column is being adopted, pods of the previous
release keep inserting and updating rows without it. When the batch statement is a plain
``UPDATE ... SET col = expr``, registration also installs a ``BEFORE INSERT OR UPDATE``
trigger that computes ``expr`` for every row written, evaluated over the written row under
the statement's own table name, so the expression means exactly what it means in the batch.
The batches themselves skip it (they compute the value). The migration that
``requires-backfill`` it drops the trigger, in its own transaction, once the condition holds:
the backfill completed *and* no row is left that the batch statement would still change
(counted from the statement itself). The worker counts the same thing as its final pass
before ``completed``.

**Workers.** The first batch fixes the last key to fill (later rows are the trigger's) and cuts
the key range into slices at sampled keys. Each batch is one transaction that share-locks the
backfill's row (so ``pause`` takes effect after the batches that are running), claims one slice
(``FOR UPDATE SKIP LOCKED``: workers never overlap), runs the batch statement for the next key
range of that slice and moves that slice's checkpoint, together. A killed worker resumes after
its last committed batch; another worker takes over a slice whose worker stopped beating.
Every batch is a heartbeat; ``status`` shows a running backfill without one for
``stall_after_s`` as *stalled*. The worker holds back while a replica lags or a replication slot
retains too much WAL, and says so in ``status``.

Every state change is audited as ``MIGRATION_BACKFILL_*`` in its transaction and logged only
after that transaction committed. A worker that fails (a batch down to one key, its start, its
final pass) records ``failed`` with the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, LiteralString

from scrydon_migrate import audit, log
from scrydon_migrate.errors import ConfigError, MigrateError, RefusedError, StatementFailed
from scrydon_migrate.tracking import table_identifier

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.analysis import FillRule
    from scrydon_migrate.source import BackfillSpec, Migration

logger = logging.getLogger(__name__)

#: Keys sampled to cut a backfill's key range into slices.
SAMPLE_KEYS = 50_000
PROGRESS_EVERY_S = 10.0
HEARTBEAT_EVERY_S = 5.0
PRESSURE_EVERY_S = 1.0
WORK_TURN_S = 2.0
SHOW_EVERY_S = 0.5


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
    keys_total         bigint,
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
    completed_at       timestamptz
)
"""

#: Columns added after the first release of the table (``ADD COLUMN IF NOT EXISTS``).
_ADDED: tuple[LiteralString, ...] = (
    "max_slot_wal_mb integer NOT NULL DEFAULT 1024",
    "slices integer NOT NULL DEFAULT 8",
    "stall_after_s integer NOT NULL DEFAULT 60",
    "check_sql text",
    "trigger_schema text",
    "trigger_name text",
    "heartbeat_at timestamptz",
    "throttled text",
    "rows_to_fill bigint",
)

_SLICES_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    backfill      text NOT NULL,
    slice         integer NOT NULL,
    lo_key        text[],
    hi_key        text[] NOT NULL,
    last_key      text[],
    done          boolean NOT NULL DEFAULT false,
    keys_done     bigint NOT NULL DEFAULT 0,
    rows_done     bigint NOT NULL DEFAULT 0,
    batches       integer NOT NULL DEFAULT 0,
    batch_size    integer NOT NULL,
    worker        text,
    heartbeat_at  timestamptz,
    last_batch_at timestamptz,
    PRIMARY KEY (backfill, slice)
)
"""

_FIELDS = (
    "name",
    "version",
    "table_name",
    "key_column",
    "batch_sql",
    "state",
    "keys_total",
    "batch_size",
    "target_batch_ms",
    "pause_ms",
    "min_batch_size",
    "max_batch_size",
    "lock_timeout_ms",
    "statement_timeout_ms",
    "max_replica_lag_s",
    "max_slot_wal_mb",
    "slices",
    "stall_after_s",
    "error",
    "worker",
    "registered_at",
    "started_at",
    "updated_at",
    "completed_at",
    "check_sql",
    "trigger_schema",
    "trigger_name",
    "heartbeat_at",
    "throttled",
    "rows_to_fill",
)

#: Aggregates over the backfill's slices, read with it.
_SLICE_FIELDS = ("slice_count", "keys_done", "rows_done", "batches", "last_batch_at", "alive_at", "workers", "now")


@dataclass(frozen=True, slots=True)
class Backfill:
    """One registered backfill, with its slices' progress summed up."""

    name: str
    version: int
    table_name: str
    key_column: str
    batch_sql: str
    state: State
    keys_total: int | None
    batch_size: int
    target_batch_ms: int
    pause_ms: int
    min_batch_size: int
    max_batch_size: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    max_replica_lag_s: int
    max_slot_wal_mb: int
    slices: int
    stall_after_s: int
    error: str | None
    worker: str | None
    registered_at: datetime
    started_at: datetime | None
    updated_at: datetime
    completed_at: datetime | None
    check_sql: str | None
    trigger_schema: str | None
    trigger_name: str | None
    heartbeat_at: datetime | None
    throttled: str | None
    rows_to_fill: int | None
    slice_count: int = 0
    keys_done: int = 0
    rows_done: int = 0
    batches: int = 0
    last_batch_at: datetime | None = None
    alive_at: datetime | None = None
    workers: dict[str, str] = field(default_factory=dict)
    now: datetime | None = None

    @property
    def keys(self) -> list[str]:
        return self.key_column.split(",")

    @property
    def percent(self) -> float | None:
        if self.state is State.COMPLETED:
            return 100.0
        if not self.keys_total:
            return None
        return min(99.9, 100.0 * self.keys_done / self.keys_total)

    @property
    def rate_keys_per_s(self) -> float | None:
        end = self.completed_at or self.last_batch_at
        if self.started_at is None or end is None or self.keys_done == 0:
            return None
        elapsed = (end - self.started_at).total_seconds()
        return self.keys_done / elapsed if elapsed > 0 else None

    @property
    def rate_rows_per_s(self) -> float | None:
        rate = self.rate_keys_per_s
        return None if rate is None else rate * self.rows_done / self.keys_done

    @property
    def eta_s(self) -> float | None:
        rate = self.rate_keys_per_s
        if self.state is not State.RUNNING or self.stalled_since or not rate or not self.keys_total:
            return None
        return max(0.0, (self.keys_total - self.keys_done) / rate)

    @property
    def stalled_since(self) -> datetime | None:
        """When a running backfill's workers last gave a sign of life, if longer ago than ``stall_after_s``."""
        last = self.alive_at or self.started_at
        if self.state is not State.RUNNING or last is None or self.now is None:
            return None
        return last if (self.now - last).total_seconds() > self.stall_after_s else None

    @property
    def shown_state(self) -> str:
        return "stalled" if self.stalled_since else self.state.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "table": self.table_name,
            "key": self.key_column,
            "state": self.shown_state,
            "stored_state": self.state.value,
            "percent": None if self.percent is None else round(self.percent, 1),
            "keys_done": self.keys_done,
            "keys_total": self.keys_total,
            "rows_done": self.rows_done,
            "batches": self.batches,
            "slices": self.slice_count,
            "rate_keys_per_s": None if self.rate_keys_per_s is None else round(self.rate_keys_per_s, 1),
            "rate_rows_per_s": None if self.rate_rows_per_s is None else round(self.rate_rows_per_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s),
            "error": self.error,
            "throttled": self.throttled,
            "stalled_since": _iso(self.stalled_since),
            "last_batch_at": _iso(self.last_batch_at),
            "workers": [{"worker": w, "heartbeat_at": at} for w, at in sorted(self.workers.items())],
            "adoption_trigger": self.trigger_name,
            "rows_to_fill": self.rows_to_fill,
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def table_for(tracking_table: str) -> str:
    return f"{tracking_table}_backfills"


def slices_for(tracking_table: str) -> str:
    return f"{tracking_table}_backfill_slices"


def ensure_table(conn: psycopg.Connection, tracking_table: str) -> None:
    from psycopg import sql

    table = table_identifier(table_for(tracking_table))
    conn.execute(sql.SQL(_DDL).format(table=table))
    for column in _ADDED:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS " + column).format(table))
    conn.execute(sql.SQL(_SLICES_DDL).format(table=table_identifier(slices_for(tracking_table))))


def _fragment(text: str) -> Any:
    """A piece of the migration's own batch statement (or a type name from pg_catalog), as SQL.

    It is SQL the migration's author wrote and PostgreSQL's parser deparsed, exactly what ``up``
    runs from the file: never input from the command line or the environment.
    """
    from psycopg import sql

    return sql.SQL(text)


def _relation(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(*name.split(".", 1))


class _Outbox:
    """Log lines of events whose audit rows are in the open transaction: written once it committed."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, str, dict[str, Any]]] = []

    def add(self, level: int, message: str, event: str, fields: dict[str, Any]) -> None:
        self.lines.append((level, message, event, fields))

    def flush(self) -> None:
        for level, message, event, fields in self.lines:
            log.event(logger, level, message, event, **fields)
        self.lines.clear()


@contextmanager
def _committed(conn: psycopg.Connection) -> Iterator[_Outbox]:
    """A transaction whose events are logged only if it commits."""
    outbox = _Outbox()
    with conn.transaction():
        yield outbox
    outbox.flush()


# --- registration, inside the declaring migration's transaction ---------------------------------


def register(conn: psycopg.Connection, tracking_table: str, service: str, migration: Migration, actor: str) -> None:
    """Record the migration's backfills and install their adoption triggers. Never runs a batch.

    A declaration whose key can't be walked (missing table or column, no btree index, NULL keys)
    fails the migration like a failing statement, at the directive's line.
    """
    from psycopg import sql

    from scrydon_migrate.analysis import fill_rule

    if migration.backfills:
        ensure_table(conn, tracking_table)
    for spec in migration.backfills:
        facts = _key_facts(conn, migration, spec)
        rule = fill_rule(spec.statement)
        adoption = _adoption(conn, migration, spec, facts, rule) if rule else None
        state = State.COMPLETED if facts.empty else State.PENDING
        values = {
            "name": spec.name,
            "version": migration.version,
            "table_name": spec.table,
            "key_column": spec.key,
            "batch_sql": spec.batch_sql,
            "state": state.value,
            "keys_total": facts.estimate or None,
            "completed_at": datetime.now().astimezone() if state is State.COMPLETED else None,
            "check_sql": adoption.check_sql if adoption else None,
            "trigger_schema": facts.schema if adoption else None,
            "trigger_name": adoption.trigger if adoption else None,
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
        if adoption:
            for statement in adoption.install:
                conn.execute(statement)
        audit.record(
            conn,
            tracking_table,
            service=service,
            event="MIGRATION_BACKFILL_REGISTERED",
            version=migration.version,
            actor=actor,
            details={
                "backfill": spec.name,
                "table": spec.table,
                "key": spec.key,
                "state": state.value,
                "adoption_trigger": adoption.trigger if adoption else None,
            },
        )


@dataclass(frozen=True, slots=True)
class _KeyFacts:
    schema: str
    table: str
    empty: bool
    estimate: int
    columns: dict[str, str]  # every column of the table -> its type, as format_type spells it


def _declaration_error(
    migration: Migration, spec: BackfillSpec, message: str, sqlstate: str, hint: str
) -> StatementFailed:
    return StatementFailed(
        f"migration {migration.file.version_text} ({migration.file.file}) of service {migration.file.service!r} "
        f"declares backfill {spec.name!r} on {spec.table} keyed on ({spec.key}): {message}; {hint}",
        hint=hint + "; the migration's transaction was rolled back",
        service=migration.file.service,
        version=migration.file.version_text,
        file=str(migration.file.path),
        line=spec.line,
        sqlstate=sqlstate,
        error=message,
        statement=f"-- migrate:backfill {spec.name} table={spec.table} key={spec.key}",
    )


def _key_facts(conn: psycopg.Connection, migration: Migration, spec: BackfillSpec) -> _KeyFacts:
    """Check that the key can be walked in ranges: table, columns, a btree index on them, no NULL key."""
    from psycopg import sql

    keys = spec.key.split(",")
    found = conn.execute(
        "SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
        (spec.table,),
    ).fetchone()
    if found is None:
        raise _declaration_error(
            migration, spec, f'relation "{spec.table}" does not exist', "42P01", "fix table= in its directive"
        )
    oid, schema, name, estimate = found
    attributes = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT attname, attnum, attnotnull, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        )
    }
    missing = [k for k in keys if k not in attributes]
    if missing:
        raise _declaration_error(
            migration, spec, f'column "{missing[0]}" does not exist', "42703", "fix key= in its directive"
        )
    indexed = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = %s AND am.amname = 'btree' AND i.indisvalid"
        " AND i.indpred IS NULL AND (i.indkey::int2[])[0:%s] = %s::int2[])",
        (oid, len(keys) - 1, [attributes[k][0] for k in keys]),
    ).fetchone()
    if not (indexed and indexed[0]):
        raise _declaration_error(
            migration,
            spec,
            f"no valid btree index starts with ({spec.key}), so every batch would scan the whole table "
            f"({_rows_now(conn, spec.table, estimate)} rows now)",
            "42704",
            f"key it on the primary key, or create the index first in an earlier migration: CREATE INDEX "
            f"CONCURRENTLY {name}_{'_'.join(keys)}_idx ON {spec.table} ({spec.key})",
        )
    key_columns = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
    nullable = [k for k in keys if not attributes[k][1]]
    null_keys = 0
    if nullable:
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                _relation(spec.table),
                sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in nullable),
            )
        ).fetchone()
        null_keys = int(counted[0]) if counted else 0
    if null_keys:
        raise _declaration_error(
            migration,
            spec,
            f"{null_keys:,} row(s) have a NULL key, and a key range never contains NULL: they would never be filled",
            "23502",
            "key it on a column without NULLs (the primary key), or fill those rows in the migration itself",
        )
    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT {} FROM {})").format(key_columns, _relation(spec.table)))
    record = empty.fetchone()
    return _KeyFacts(
        schema, name, bool(record and record[0]), int(estimate or 0), {k: v[2] for k, v in attributes.items()}
    )


def _rows_now(conn: psycopg.Connection, table: str, estimate: int) -> str:
    """The table's size for a message: the planner's estimate, else a count up to a million."""
    from psycopg import sql

    if estimate > 0:
        return f"~{estimate:,}"
    counted = conn.execute(
        sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT 1000001) t").format(_relation(table))
    ).fetchone()
    rows = int(counted[0]) if counted else 0
    return "over 1,000,000" if rows > 1_000_000 else f"{rows:,}"


@dataclass(frozen=True, slots=True)
class _Adoption:
    trigger: str
    check_sql: str
    install: tuple[Any, ...]


def _adoption(
    conn: psycopg.Connection, migration: Migration, spec: BackfillSpec, facts: _KeyFacts, rule: FillRule
) -> _Adoption | None:
    """The trigger that computes the column for rows written while it is adopted, and the final check.

    A writer that sets the column itself (an INSERT giving it, an UPDATE changing it) is a pod of the
    new release and keeps its value; the trigger fills it for the others: an INSERT without it, an
    UPDATE of other columns (a changed source column must not leave the value stale).

    Both are checked by PostgreSQL's planner now (EXPLAIN), so a rule that can't be computed for one
    row fails the migration instead of every later write.
    """
    import psycopg
    from psycopg import sql

    if rule.table != facts.table or any(c not in facts.columns for c, _ in rule.assignments):
        return None

    alias = sql.Identifier(rule.alias)
    relation = _relation(spec.table)
    trigger = f"{spec.name[:45]}_backfill_fill"
    filled = sql.SQL(" OR ").join(
        sql.SQL("{}.{} IS DISTINCT FROM CAST(({}) AS {})").format(
            alias, sql.Identifier(c), _fragment(e), _fragment(facts.columns[c])
        )
        for c, e in rule.assignments
    )
    needed = [sql.SQL("({})").format(_fragment(c)) for c in (*rule.conditions, *rule.guards)]
    check = sql.SQL("SELECT count(*) FROM {} AS {} WHERE {}").format(
        relation, alias, sql.SQL(" AND ").join([*needed, sql.SQL("({})").format(filled)])
    )
    computed = sql.SQL(", ").join(
        sql.SQL("({}) AS {}").format(_fragment(e), sql.Identifier(c)) for c, e in rule.assignments
    )
    where = (
        sql.SQL(" WHERE ") + sql.SQL(" AND ").join(sql.SQL("({})").format(_fragment(c)) for c in rule.conditions)
        if rule.conditions
        else sql.SQL("")
    )
    body = sql.SQL(
        "DECLARE scrydon_fill record;\nBEGIN\n"
        "  SELECT {computed} INTO scrydon_fill FROM (SELECT NEW.*) AS {alias}{where};\n"
        "  IF FOUND THEN\n{assign}  END IF;\n  RETURN NEW;\nEND"
    ).format(
        computed=computed,
        alias=alias,
        where=where,
        assign=sql.SQL("").join(
            sql.SQL(
                "    IF (TG_OP = 'INSERT' AND NEW.{c} IS NULL)"
                " OR (TG_OP = 'UPDATE' AND NEW.{c} IS NOT DISTINCT FROM OLD.{c})"
                " THEN\n      NEW.{c} := scrydon_fill.{c};\n    END IF;\n"
            ).format(c=sql.Identifier(c))
            for c, _ in rule.assignments
        ),
    )
    try:
        with conn.transaction():
            conn.execute(sql.SQL("EXPLAIN {}").format(check))
            conn.execute(
                sql.SQL("EXPLAIN SELECT {} FROM (SELECT * FROM {} LIMIT 0) AS {}{}").format(
                    computed, relation, alias, where
                )
            )
    except psycopg.Error as exc:
        raise _declaration_error(
            migration,
            spec,
            f"its UPDATE can't be computed for one written row: {str(exc).strip().splitlines()[0]}",
            exc.diag.sqlstate or "42000",
            "inside sub-selects, qualify the updated row's columns with the table's name",
        ) from exc
    function = sql.Identifier(facts.schema, trigger)
    install = (
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            function, sql.Literal(body.as_string(conn))
        ),
        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trigger), _relation(spec.table)),
        sql.SQL(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW"
            " WHEN (current_setting('scrydon_migrate.backfill', true) IS DISTINCT FROM {})"
            " EXECUTE FUNCTION {}()"
        ).format(sql.Identifier(trigger), _relation(spec.table), sql.Literal(spec.name), function),
    )
    return _Adoption(trigger, check.as_string(conn), install)


# --- reading ----------------------------------------------------------------------------------------


def _read(
    conn: psycopg.Connection, tracking_table: str, *, name: str | None = None, missing_ok: bool = True
) -> list[Backfill]:
    """The backfills with their slices summed up; none when the table does not exist (``missing_ok``).

    ``missing_ok`` costs a savepoint: the worker, which knows the table exists, reads without one.
    """
    import psycopg
    from psycopg import sql

    query = sql.SQL(
        "SELECT {fields}, coalesce(s.slice_count, 0), coalesce(s.keys_done, 0), coalesce(s.rows_done, 0),"
        " coalesce(s.batches, 0), s.last_batch_at, greatest(b.heartbeat_at, s.heartbeat_at),"
        " coalesce(w.workers, '{{}}'::jsonb), now()"
        " FROM {table} b"
        " LEFT JOIN LATERAL (SELECT count(*)::int AS slice_count, sum(keys_done)::bigint AS keys_done,"
        " sum(rows_done)::bigint AS rows_done, sum(batches)::int AS batches, max(last_batch_at) AS last_batch_at,"
        " max(heartbeat_at) AS heartbeat_at FROM {slices} WHERE backfill = b.name) s ON true"
        " LEFT JOIN LATERAL (SELECT jsonb_object_agg(worker, beat) AS workers FROM (SELECT worker,"
        " max(heartbeat_at) AS beat FROM {slices} WHERE backfill = b.name AND worker IS NOT NULL GROUP BY worker)"
        " x) w ON true"
        " WHERE (%s::text IS NULL OR b.name = %s) ORDER BY b.version, b.name"
    ).format(
        fields=sql.SQL(", ").join(sql.Identifier("b", f) for f in _FIELDS),
        table=table_identifier(table_for(tracking_table)),
        slices=table_identifier(slices_for(tracking_table)),
    )
    if not missing_ok:
        rows = conn.execute(query, (name, name)).fetchall()
    else:
        try:
            with conn.transaction():
                rows = conn.execute(query, (name, name)).fetchall()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
            if not _upgrade(conn, tracking_table):
                return []
            with conn.transaction():
                rows = conn.execute(query, (name, name)).fetchall()
    names = (*_FIELDS, *_SLICE_FIELDS)
    return [Backfill(**dict(zip(names, r, strict=True)) | {"state": State(r[5])}) for r in rows]


def _upgrade(conn: psycopg.Connection, tracking_table: str) -> bool:
    """A backfills table of an earlier release: add what it lacks (False when there is no table).

    Its backfills keep their state; a running one without slices starts again from its first key,
    which its batch statement's own condition (``AND col IS NULL``) makes cheap for the rows done.
    """
    import psycopg

    from scrydon_migrate.errors import PrivilegeMissing

    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table_for(tracking_table),)).fetchone()
    if not (found and found[0]):
        return False
    try:
        with conn.transaction():
            ensure_table(conn, tracking_table)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PrivilegeMissing(
            f"the backfills table {table_for(tracking_table)} is from an earlier release and this role can't "
            f"upgrade it: {_first_line(exc)}",
            hint="run scrydon-migrate up (or backfill run) once as the role that owns the migration tables",
        ) from exc
    return True


def list_backfills(conn: psycopg.Connection, tracking_table: str) -> list[Backfill]:
    return _read(conn, tracking_table)


def _one(conn: psycopg.Connection, tracking_table: str, name: str) -> Backfill:
    return _read(conn, tracking_table, name=name, missing_ok=False)[0]


def _limits(conn: psycopg.Connection, tracking_table: str, name: str) -> Backfill | None:
    """A batch's first statement: share-lock the backfill's row, read its limits, set the batch's settings.

    The sums over the slices are left out (a batch does not need them): one round trip.
    """
    from psycopg import sql

    record = conn.execute(
        sql.SQL(
            "SELECT {}, now(), set_config('lock_timeout', lock_timeout_ms || 'ms', true),"
            " set_config('statement_timeout', statement_timeout_ms || 'ms', true),"
            " set_config('scrydon_migrate.backfill', name, true) FROM {} WHERE name = %s FOR SHARE"
        ).format(sql.SQL(", ").join(sql.Identifier(f) for f in _FIELDS), table_identifier(table_for(tracking_table))),
        (name,),
    ).fetchone()
    if record is None:
        return None
    values = dict(zip(_FIELDS, record[: len(_FIELDS)], strict=True))
    return Backfill(**values | {"state": State(values["state"]), "now": record[len(_FIELDS)]})


_LOCK_MODES: dict[str, LiteralString] = {
    "share": "SHARE",
    "update": "UPDATE",
    "update-skip": "UPDATE SKIP LOCKED",
}


def _lock(conn: psycopg.Connection, tracking_table: str, name: str, mode: str) -> State | None:
    """Lock the backfill's row (``FOR SHARE``, ``FOR UPDATE``, ``... SKIP LOCKED``); its state, None if not got."""
    from psycopg import sql

    record = conn.execute(
        sql.SQL("SELECT state FROM {} WHERE name = %s FOR {}").format(
            table_identifier(table_for(tracking_table)), sql.SQL(_LOCK_MODES[mode])
        ),
        (name,),
    ).fetchone()
    return State(record[0]) if record else None


def _remaining(conn: psycopg.Connection, backfill: Backfill) -> int:
    """Rows the batch statement would still change (0 without a derivable rule)."""
    if not backfill.check_sql:
        return 0
    record = conn.execute(backfill.check_sql.encode()).fetchone()
    return int(record[0]) if record else 0


def incomplete(conn: psycopg.Connection, tracking_table: str, names: Sequence[str]) -> dict[str, str]:
    """Required backfills whose condition does not hold: name -> why (its state, or the rows left).

    Completed is not enough: the rows the batch statement would still change are counted, so rows that
    pods of the previous release wrote since can't slip through. Once a requiring migration adopted the
    column (its trigger dropped), later ones trust that check: the column may have changed since.
    """
    known = {b.name: b for b in _read(conn, tracking_table)}
    waiting = {}
    for name in names:
        backfill = known.get(name)
        if backfill is None:
            waiting[name] = "missing"
        elif backfill.state is not State.COMPLETED:
            waiting[name] = backfill.shown_state
        elif backfill.trigger_name and (left := _checked_remaining(conn, backfill)):
            waiting[name] = left
    return waiting


def _checked_remaining(conn: psycopg.Connection, backfill: Backfill) -> str | None:
    """Why the required backfill's condition does not hold (rows left, or its check failing), or None."""
    import psycopg

    try:
        with conn.transaction():
            left = _remaining(conn, backfill)
    except psycopg.Error as exc:
        if conn.broken:
            raise
        return f"completed, but its check of the rows failed: {_first_line(exc)}"
    return f"completed, but {left:,} row(s) still need the fill" if left else None


def adopt(conn: psycopg.Connection, tracking_table: str, service: str, migration: Migration, actor: str) -> None:
    """In the transaction of the migration that requires them: drop the backfills' adoption triggers."""
    from psycopg import sql

    for name in migration.requires_backfills:
        found = _read(conn, tracking_table, name=name)
        trigger = found[0].trigger_name if found else None
        if trigger is None:
            continue
        backfill, schema = found[0], found[0].trigger_schema or "public"
        conn.execute(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trigger), _relation(backfill.table_name))
        )
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(schema, trigger)))
        _update(conn, tracking_table, name, {"trigger_name": None})
        audit.record(
            conn,
            tracking_table,
            service=service,
            event="MIGRATION_BACKFILL_ADOPTED",
            version=migration.version,
            actor=actor,
            details={"backfill": name, "adoption_trigger": trigger, "required_by": migration.file.file},
        )


# --- the worker ---------------------------------------------------------------------------------------


@dataclass
class _Pacer:
    """When this worker last wrote a progress event and a heartbeat while held back."""

    last_progress: float = 0.0
    last_heartbeat: float = 0.0
    last_pressure: float = 0.0
    last_shown: float = 0.0
    throttled: str | None = None


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
    pacer = _Pacer()
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
            progressed |= _work_on(conn, tracking_table, service, backfill, worker, pacer, on_batch)
        if stop and stop():
            return _read(conn, tracking_table)
        if not progressed:
            time.sleep(idle_sleep_s)


def _work_on(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    worker: str,
    pacer: _Pacer,
    on_batch: Callable[[Backfill], None] | None,
) -> bool:
    """Batches of one backfill for up to WORK_TURN_S (then the others get a turn); whether any ran."""
    deadline, worked = time.monotonic() + WORK_TURN_S, False
    begun = backfill.state is State.RUNNING and backfill.slice_count > 0
    while time.monotonic() < deadline:
        outcome = _step(conn, tracking_table, service, backfill, worker, pacer, begun=begun)
        if outcome is None:
            return worked
        worked, begun, backfill = True, True, outcome
        if on_batch and time.monotonic() - pacer.last_shown >= SHOW_EVERY_S:
            pacer.last_shown = time.monotonic()
            on_batch(_read(conn, tracking_table, name=backfill.name)[0])
        if outcome.state is not State.RUNNING:
            return worked
        time.sleep(outcome.pause_ms / 1000)
    return worked


def _step(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    worker: str,
    pacer: _Pacer,
    *,
    begun: bool,
) -> Backfill | None:
    """One unit of work on one backfill: its start, a batch, or its final pass. None when nothing was done."""
    import psycopg

    try:
        if not begun:
            return _begin(conn, tracking_table, service, backfill.name, worker)
        if time.monotonic() - pacer.last_pressure < PRESSURE_EVERY_S:
            held = pacer.throttled is not None
            return None if held else _batch(conn, tracking_table, service, backfill.name, worker, pacer)
        pacer.last_pressure = time.monotonic()
        reason = _pressure(conn, backfill)
        if reason or pacer.throttled:
            _beat(conn, tracking_table, service, backfill, worker, pacer, reason)
            if reason:
                return None
        return _batch(conn, tracking_table, service, backfill.name, worker, pacer)
    except psycopg.errors.LockNotAvailable:
        log.event(
            logger,
            logging.INFO,
            "backfill batch could not get its locks in time; retrying after a pause",
            "MIGRATION_BACKFILL_LOCK_TIMEOUT",
            service=service,
            backfill=backfill.name,
        )
        time.sleep(1.0)
        return None
    except _BatchFailed as failed:
        return _split_or_fail(conn, tracking_table, service, worker, failed)
    except psycopg.Error as exc:
        if conn.broken or isinstance(exc, psycopg.OperationalError):
            raise
        return _fail(conn, tracking_table, service, backfill.name, worker, _first_line(exc))


def _beat(
    conn: psycopg.Connection,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    worker: str,
    pacer: _Pacer,
    reason: str | None,
) -> None:
    """A held-back worker's heartbeat, and why it holds back (shown by ``status``); at most every few seconds."""
    if reason == pacer.throttled and time.monotonic() - pacer.last_heartbeat < HEARTBEAT_EVERY_S:
        return
    with _committed(conn) as outbox:
        _update(conn, tracking_table, backfill.name, {"heartbeat_at": _db_now(conn), "throttled": reason})
        if reason != pacer.throttled:
            outbox.add(
                logging.INFO,
                "backfill held back: the database is under pressure" if reason else "backfill going on again",
                "MIGRATION_BACKFILL_THROTTLED" if reason else "MIGRATION_BACKFILL_UNTHROTTLED",
                {"service": service, "backfill": backfill.name, "worker": worker, "reason": reason},
            )
    pacer.throttled, pacer.last_heartbeat = reason, time.monotonic()


def _db_now(conn: psycopg.Connection) -> datetime:
    record = conn.execute("SELECT now()").fetchone()
    assert record is not None
    return record[0]  # type: ignore[no-any-return]


def _pressure(conn: psycopg.Connection, backfill: Backfill) -> str | None:
    """Why the worker should hold back now: a replica lagging, or a replication slot retaining WAL.

    A slot of a standby that is down retains every byte of WAL the backfill writes, until the disk
    fills: past ``max_slot_wal_mb`` the worker waits for the slot to catch up (or to be dropped).
    Autovacuum on the table does not stop it: the backfill's own dead rows start that vacuum,
    which can run for minutes, and holding back for it measured at most a third of the throughput.
    """
    record = conn.execute(
        "SELECT coalesce((SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication), 0),"
        " (SELECT ARRAY[slot_name::text, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text]"
        " FROM pg_replication_slots WHERE restart_lsn IS NOT NULL ORDER BY restart_lsn LIMIT 1)"
    ).fetchone()
    lag = float(record[0]) if record and record[0] else 0.0
    if lag > backfill.max_replica_lag_s:
        return f"a replica lags {lag:.0f} s (limit {backfill.max_replica_lag_s} s)"
    slot = record[1] if record else None
    if slot and int(slot[1]) > backfill.max_slot_wal_mb * 1024 * 1024:
        return (
            f"replication slot {slot[0]!r} retains {int(slot[1]) / 1048576:,.0f} MB of WAL "
            f"(limit {backfill.max_slot_wal_mb} MB)"
        )
    return None


def _key_list(backfill: Backfill) -> Any:
    from psycopg import sql

    return sql.SQL(", ").join(sql.Identifier(k) for k in backfill.keys)


def _key_texts(backfill: Backfill, prefix: str = "") -> Any:
    from psycopg import sql

    return sql.SQL("ARRAY[{}]").format(
        sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(*((prefix,) if prefix else ()), k)) for k in backfill.keys
        )
    )


def _compare(backfill: Backfill, operator: str) -> Any:
    """``(k1, k2) <op> (%s, %s)``: a row comparison, which a btree index on (k1, k2) serves."""
    from psycopg import sql

    return sql.SQL("({}) " + operator + " ({})").format(
        _key_list(backfill), sql.SQL(", ").join(sql.Placeholder() for _ in backfill.keys)
    )


def _begin(conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str) -> Backfill | None:
    """First unit of work: fix the last key to fill, count the keys, cut the range into slices.

    Rows inserted after this get the value from the adoption trigger (or from the release that
    declared the backfill): stopping at the key that is last now lets it finish under inserts.
    """
    from psycopg import sql

    with _committed(conn) as outbox:
        if _lock(conn, tracking_table, name, "update-skip") is None:
            return None
        backfill = _one(conn, tracking_table, name)
        if backfill.state not in (State.PENDING, State.RUNNING) or backfill.slice_count:
            return None
        table = _relation(backfill.table_name)
        descending = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in backfill.keys)
        last = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1").format(
                _key_texts(backfill),
                table,
                sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(k)) for k in backfill.keys),
                descending,
            )
        ).fetchone()
        if last is None:
            return _finish_in(conn, tracking_table, service, backfill, worker, outbox)
        end: list[str] = last[0]
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, _compare(backfill, "<=")), end
        ).fetchone()
        total = int(counted[0]) if counted else 0
        bounds = _cut(conn, backfill, table, end, total)
        slices = table_identifier(slices_for(tracking_table))
        for index, (low, high) in enumerate(zip([None, *bounds], [*bounds, end], strict=True)):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (backfill, slice, lo_key, hi_key, batch_size) VALUES (%s, %s, %s, %s, %s)"
                ).format(slices),
                (name, index, low, high, backfill.batch_size),
            )
        changes = {
            "state": State.RUNNING.value,
            "keys_total": total,
            "started_at": _db_now(conn),
            "worker": worker,
            "error": None,
            "updated_at": _db_now(conn),
        }
        _update(conn, tracking_table, name, changes)
        started = _one(conn, tracking_table, name)
        _event(
            conn,
            outbox,
            tracking_table,
            service,
            started,
            "MIGRATION_BACKFILL_STARTED",
            worker,
            {"table": backfill.table_name, "keys_total": total, "slices": len(bounds) + 1, "last_key": end},
        )
    return started


def _cut(conn: psycopg.Connection, backfill: Backfill, table: Any, end: list[str], total: int) -> list[list[str]]:
    """Slice boundaries: keys sampled from the table (block sampling, about SAMPLE_KEYS of them)."""
    from psycopg import sql

    if backfill.slices <= 1 or total < 2:
        return []
    percent = min(100.0, 100.0 * SAMPLE_KEYS / total)
    sampled = [
        r[0]
        for r in conn.execute(
            sql.SQL("SELECT {} FROM {} TABLESAMPLE SYSTEM (%s) WHERE {} ORDER BY {}").format(
                _key_texts(backfill), table, _compare(backfill, "<="), _key_list(backfill)
            ),
            [percent, *end],
        )
    ]
    count = min(backfill.slices, len(sampled))
    bounds: list[list[str]] = []
    for i in range(1, count):
        key = sampled[len(sampled) * i // count]
        if key != end and (not bounds or key != bounds[-1]):
            bounds.append(key)
    return bounds


_BOUNDS = (
    "WITH batch AS (SELECT {keys} FROM {table} WHERE {above} AND {upto} ORDER BY {keys} LIMIT %s)"
    " SELECT (SELECT {texts} FROM batch b ORDER BY {keys} LIMIT 1),"
    " (SELECT {texts} FROM batch b ORDER BY {descending} LIMIT 1),"
    " (SELECT count(*) FROM batch)"
)


def _batch(
    conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str, pacer: _Pacer
) -> Backfill | None:
    """One batch of one slice, with that slice's checkpoint, in one transaction.

    None when every slice left is in another worker's batch; the final pass once none is left.
    """
    from psycopg import sql

    with _committed(conn) as outbox:
        backfill = _limits(conn, tracking_table, name)
        if backfill is None or backfill.state is not State.RUNNING:
            return None
        slices = table_identifier(slices_for(tracking_table))
        claimed = conn.execute(
            sql.SQL(
                "SELECT slice, coalesce(last_key, lo_key), hi_key, batch_size, keys_done, rows_done, batches FROM {}"
                " WHERE backfill = %s AND NOT done ORDER BY worker IS NOT DISTINCT FROM %s DESC,"
                " heartbeat_at NULLS FIRST, slice LIMIT 1 FOR UPDATE SKIP LOCKED"
            ).format(slices),
            (name, worker),
        ).fetchone()
        if claimed is not None:
            return _run_slice(conn, outbox, tracking_table, service, backfill, worker, pacer, claimed)
        left = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE backfill = %s AND NOT done").format(slices), (name,))
        record = left.fetchone()
        if record and record[0]:
            return None
    return _finish(conn, tracking_table, service, name, worker)


def _run_slice(
    conn: psycopg.Connection,
    outbox: _Outbox,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    worker: str,
    pacer: _Pacer,
    claimed: tuple[Any, ...],
) -> Backfill:
    """The batch statement over the next key range of the claimed slice, and that slice's checkpoint."""
    import psycopg
    from psycopg import sql

    slice_no, after, high_end, size, keys_done, rows_done, batches = claimed
    size = min(size, backfill.max_batch_size)
    query = sql.SQL(_BOUNDS).format(
        keys=_key_list(backfill),
        table=_relation(backfill.table_name),
        above=_compare(backfill, ">") if after else sql.SQL("true"),
        upto=_compare(backfill, "<="),
        texts=_key_texts(backfill, "b"),
        descending=sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in backfill.keys),
    )
    try:
        bounds = conn.execute(query, [*(after or []), *high_end, size]).fetchone()
    except psycopg.errors.LockNotAvailable:
        raise
    except psycopg.Error as exc:
        raise _BatchFailed(backfill, slice_no, 1, _first_line(exc)) from exc
    now = backfill.now
    beat = {"worker": worker, "heartbeat_at": now}
    if bounds is None or bounds[2] == 0:
        _update_slice(conn, tracking_table, backfill.name, slice_no, beat | {"done": True})
        return backfill
    low, high, keys = bounds
    began = time.monotonic()
    try:
        cursor = conn.execute(backfill.batch_sql.encode(), _range_params(backfill, low, high))
    except psycopg.errors.LockNotAvailable:
        raise
    except psycopg.Error as exc:
        raise _BatchFailed(backfill, slice_no, keys, _first_line(exc)) from exc
    elapsed_ms = max(1.0, (time.monotonic() - began) * 1000)
    _update_slice(
        conn,
        tracking_table,
        backfill.name,
        slice_no,
        beat
        | {
            "last_key": high,
            "keys_done": keys_done + keys,
            "rows_done": rows_done + max(cursor.rowcount, 0),
            "batches": batches + 1,
            "batch_size": _adapt(backfill, size, keys, elapsed_ms),
            "last_batch_at": now,
        },
    )
    if time.monotonic() - pacer.last_progress >= PROGRESS_EVERY_S:
        pacer.last_progress = time.monotonic()
        updated = _one(conn, tracking_table, backfill.name)
        details = _progress(updated) | {"position": high, "slice": slice_no}
        _event(conn, outbox, tracking_table, service, updated, "MIGRATION_BACKFILL_PROGRESS", worker, details)
    return backfill


def _range_params(backfill: Backfill, low: list[str], high: list[str]) -> dict[str, str]:
    keys = len(backfill.keys)
    if keys == 1:
        return {"lo": low[0], "hi": high[0]}
    return {f"lo{i + 1}": v for i, v in enumerate(low)} | {f"hi{i + 1}": v for i, v in enumerate(high)}


class _BatchFailed(Exception):
    def __init__(self, backfill: Backfill, slice_no: int, size: int, error: str) -> None:
        super().__init__(error)
        self.backfill = backfill
        self.slice_no = slice_no
        self.size = size
        self.error = error


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _adapt(backfill: Backfill, size: int, keys: int, elapsed_ms: float) -> int:
    """Move the batch size toward the target duration, at most doubling or halving per batch."""
    if keys < size:
        return size
    wanted = keys * backfill.target_batch_ms / elapsed_ms
    bounded = min(max(wanted, keys / 2), keys * 2)
    return int(min(max(bounded, backfill.min_batch_size), backfill.max_batch_size))


def _progress(backfill: Backfill) -> dict[str, Any]:
    return {
        "table": backfill.table_name,
        "keys_done": backfill.keys_done,
        "keys_total": backfill.keys_total,
        "rows_done": backfill.rows_done,
        "percent": None if backfill.percent is None else round(backfill.percent, 1),
    }


def _finish(conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str) -> Backfill | None:
    """Every slice is done: the final pass, under the backfill's row lock."""
    from psycopg import sql

    with _committed(conn) as outbox:
        if _lock(conn, tracking_table, name, "update") is not State.RUNNING:
            return None
        left = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE backfill = %s AND NOT done").format(
                table_identifier(slices_for(tracking_table))
            ),
            (name,),
        ).fetchone()
        if left and left[0]:
            return None
        return _finish_in(conn, tracking_table, service, _one(conn, tracking_table, name), worker, outbox)


def _finish_in(
    conn: psycopg.Connection, tracking_table: str, service: str, backfill: Backfill, worker: str, outbox: _Outbox
) -> Backfill:
    """Count the rows the batch statement would still change: none, completed; some, failed with the count."""
    remaining = _remaining(conn, backfill)
    now = _db_now(conn)
    if remaining:
        error = (
            f"{remaining:,} row(s) still need the fill after every key range was done "
            "(written without the adoption trigger?)"
        )
        changes: dict[str, Any] = {"state": State.FAILED.value, "error": error, "rows_to_fill": remaining}
        event = "MIGRATION_BACKFILL_FAILED"
    else:
        changes = {"state": State.COMPLETED.value, "completed_at": now, "rows_to_fill": 0, "error": None}
        event = "MIGRATION_BACKFILL_COMPLETED"
    _update(conn, tracking_table, backfill.name, changes | {"updated_at": now, "throttled": None})
    done = _one(conn, tracking_table, backfill.name)
    _event(conn, outbox, tracking_table, service, done, event, worker, _progress(done) | {"rows_to_fill": remaining})
    return done


def _split_or_fail(
    conn: psycopg.Connection, tracking_table: str, service: str, worker: str, failed: _BatchFailed
) -> Backfill | None:
    """Retry a failing batch in halves (down to one key); then mark the backfill failed."""
    name = failed.backfill.name
    if failed.size > 1:
        smaller = max(1, failed.size // 2)
        with conn.transaction():
            _update_slice(conn, tracking_table, name, failed.slice_no, {"batch_size": smaller})
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
        return _one(conn, tracking_table, name)
    return _fail(conn, tracking_table, service, name, worker, failed.error)


def _fail(conn: psycopg.Connection, tracking_table: str, service: str, name: str, worker: str, error: str) -> Backfill:
    with _committed(conn) as outbox:
        _lock(conn, tracking_table, name, "update")
        _update(conn, tracking_table, name, {"state": State.FAILED.value, "error": error, "updated_at": _db_now(conn)})
        backfill = _one(conn, tracking_table, name)
        _event(
            conn,
            outbox,
            tracking_table,
            service,
            backfill,
            "MIGRATION_BACKFILL_FAILED",
            worker,
            _progress(backfill) | {"error": error},
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


def _update_slice(
    conn: psycopg.Connection, tracking_table: str, name: str, slice_no: int, changes: dict[str, Any]
) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("UPDATE {} SET {} WHERE backfill = %s AND slice = %s").format(
            table_identifier(slices_for(tracking_table)),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
        ),
        [*changes.values(), name, slice_no],
    )


def _event(
    conn: psycopg.Connection,
    outbox: _Outbox,
    tracking_table: str,
    service: str,
    backfill: Backfill,
    event: str,
    actor: str,
    details: dict[str, Any],
) -> None:
    """Audit ``event`` in the open transaction; its log line waits in ``outbox`` for the commit."""
    audit.record(
        conn,
        tracking_table,
        service=service,
        event=event,
        version=backfill.version,
        actor=actor,
        details={"backfill": backfill.name} | details,
    )
    outbox.add(
        logging.WARNING if event.endswith("FAILED") else logging.INFO,
        "backfill " + event.removeprefix("MIGRATION_BACKFILL_").lower().replace("_", " "),
        event,
        {"service": service, "backfill": backfill.name} | {k: v for k, v in details.items() if v is not None},
    )


# --- operator controls --------------------------------------------------------------------------------

_TRANSITIONS = {
    "pause": ((State.PENDING, State.RUNNING), State.PAUSED, "MIGRATION_BACKFILL_PAUSED"),
    "resume": ((State.PAUSED,), State.RUNNING, "MIGRATION_BACKFILL_RESUMED"),
    "retry": ((State.FAILED,), State.RUNNING, "MIGRATION_BACKFILL_RETRIED"),
    "restart": (
        (State.PENDING, State.RUNNING, State.PAUSED, State.COMPLETED, State.FAILED),
        State.PENDING,
        "MIGRATION_BACKFILL_RESTARTED",
    ),
}


def control(
    conn: psycopg.Connection, tracking_table: str, service: str, name: str, action: str, actor: str
) -> Backfill:
    """Pause, resume, retry (a failed one, from its checkpoints) or restart (from the first key) a backfill.

    Waits for the row lock the running batches share, so it takes effect after them. Resume and retry
    go back to ``pending`` when no batch ever committed (the start is done again), so a backfill that
    failed before its first batch is never taken for finished; retry re-checks every slice, the failed
    one from its checkpoint.
    """
    from psycopg import sql

    allowed, target, event = _TRANSITIONS[action]
    with _committed(conn) as outbox:
        if not any(b.name == name for b in _read(conn, tracking_table)):
            raise ConfigError(
                f"service {service!r} has no backfill named {name!r}",
                hint="see the registered ones with: scrydon-migrate backfill status",
                service=service,
            )
        _lock(conn, tracking_table, name, "update")
        current = _one(conn, tracking_table, name)
        if current.state not in allowed:
            raise RefusedError(
                f"can't {action} backfill {name!r}: it is {current.shown_state}",
                hint=_HINTS[current.state].format(service=service, name=name),
                service=service,
                backfill=name,
            )
        slices = table_identifier(slices_for(tracking_table))
        changes: dict[str, Any] = {"state": target.value, "updated_at": _db_now(conn), "error": None, "throttled": None}
        if action == "restart":
            conn.execute(sql.SQL("DELETE FROM {} WHERE backfill = %s").format(slices), (name,))
            changes |= {"completed_at": None, "started_at": None, "rows_to_fill": None}
        elif action in ("resume", "retry") and current.slice_count == 0:
            changes["state"] = State.PENDING.value
        _update(conn, tracking_table, name, changes)
        updated = _one(conn, tracking_table, name)
        _event(conn, outbox, tracking_table, service, updated, event, actor, _progress(updated) | {"action": action})
    return updated


_HINTS = {
    State.PENDING: "it has not started: run the worker (scrydon-migrate backfill run --service {service})",
    State.RUNNING: "it is running: pause it with scrydon-migrate backfill pause --service {service} {name}",
    State.PAUSED: "it is paused: resume it with scrydon-migrate backfill resume --service {service} {name}",
    State.COMPLETED: "it is done; to fill every row again: scrydon-migrate backfill restart --service {service} {name}",
    State.FAILED: "it failed: fix the cause, then scrydon-migrate backfill retry --service {service} {name}",
}
