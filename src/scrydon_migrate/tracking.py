"""The tracking table ``<service>_migrations`` and the service's migration lock.

The table answers the runbook's query as written::

    SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;

``applied_at`` is set only once a migration is applied (or skipped): a failed or running
attempt has ``applied_at`` NULL and its time in ``attempted_at``, so the runbook's query
never shows an attempt as applied (it lists such a row with an empty ``applied_at``).

The runbook's manual skip ("mark the migration applied in the migrations table manually")
works as an operator types it. Every column but ``version`` has a default, so
``INSERT INTO platform_migrations (version) VALUES (2)`` is a valid row whose ``status``
defaults to ``skipped``; the ``manual_skip`` trigger makes the other ways safe and audited:
a hand INSERT of a version whose failed attempt is still there replaces that row (no
duplicate key), and a hand INSERT or UPDATE that says ``applied`` is stored as ``skipped``
with no effects (it never ran, so it is never re-applied nor checked for desync). Each is
audited as ``MIGRATION_SKIPPED`` with who (the session's role, application and address)
and when. A hand ``DELETE`` of a row (which makes its migration pending again, so ``up`` runs
it once more) or a ``TRUNCATE`` of the table is audited by the ``manual_delete`` trigger as
``MIGRATION_TRACKING_ROW_DELETED`` (``MIGRATION_TRACKING_TRUNCATED``), with who, when and the row
as it was. The tool's own writes mark themselves (:data:`TOOL_WRITE`, transaction-local),
so the triggers leave them alone. A skipped row without a ``reason`` is shown as "marked
applied by hand".

The lock is a session-level advisory lock taken with ``pg_try_advisory_lock``, tried
again when its holder NOTIFYs the release (and polled, for a holder that died), so a
waiting pod holds no lock a DDL statement could queue behind; it lives
and dies with the connection that applies the migrations, so a killed holder frees it
at once and there is no lock row or "dirty" flag to clean up by hand.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from scrydon_migrate import catalog, db, log
from scrydon_migrate.errors import ConfigError, LockWaitTimeout, TrackingDamaged

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

logger = logging.getLogger(__name__)


class Status(StrEnum):
    """The ``status`` column's values."""

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    RUNNING = "running"


COLUMNS = (
    "version",
    "name",
    "file",
    "checksum",
    "content_sha256",
    "status",
    "applied_at",
    "duration_ms",
    "applied_by",
    "statements_done",
    "statements_total",
    "error",
    "sqlstate",
    "failed_statement",
    "failed_line",
    "reason",
    "lock_held_ms",
    "effects",
    "attempted_at",
)

#: A condition that marks the statement's tracking writes as the tool's own (not by hand) for the rest of
#: its transaction: the ``manual_skip`` trigger leaves such writes alone. Every write by the tool includes it.
TOOL_WRITE = "set_config('scrydon_migrate.writer', 'tool', true) = 'tool'"

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    version          bigint PRIMARY KEY,
    name             text,
    file             text,
    checksum         text,
    content_sha256   text,
    status           text NOT NULL DEFAULT 'skipped'
                     CHECK (status IN ('applied', 'failed', 'skipped', 'running')),
    applied_at       timestamptz DEFAULT now(),
    duration_ms      integer,
    applied_by       text,
    statements_done  integer,
    statements_total integer,
    error            text,
    sqlstate         text,
    failed_statement text,
    failed_line      integer,
    reason           text,
    sql              text,
    tool_version     text,
    lock_held_ms     integer,
    effects          jsonb,
    attempted_at     timestamptz
)
"""

#: Columns added after the first release of the table: (name, type), added when missing.
_ADDED_COLUMNS = (("lock_held_ms", "integer"), ("effects", "jsonb"), ("attempted_at", "timestamptz"))

_MANUAL_SKIP_FUNCTION = "scrydon_migrate_manual_skip"
_MANUAL_SKIP_DDL = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    previous_status text;
    previous_error  text;
    audit_table     text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME || '_audit');
    requested       text := coalesce(NEW.status, 'skipped');
BEGIN
    IF requested NOT IN ('applied', 'skipped') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('DELETE FROM %I.%I WHERE version = $1 AND status IN (''failed'', ''running'')'
                       ' RETURNING status, error, sqlstate, failed_statement, failed_line',
                       TG_TABLE_SCHEMA, TG_TABLE_NAME)
            INTO previous_status, previous_error, NEW.sqlstate, NEW.failed_statement, NEW.failed_line
            USING NEW.version;
        NEW.error := coalesce(NEW.error, previous_error);
        NEW.applied_at := coalesce(NEW.applied_at, now());
        NEW.applied_by := coalesce(NEW.applied_by, session_user);
    ELSE
        IF OLD.status IN ('applied', 'skipped') THEN
            RETURN NEW;
        END IF;
        previous_status := OLD.status;
        previous_error := OLD.error;
        IF NEW.applied_at IS NOT DISTINCT FROM OLD.applied_at THEN
            NEW.applied_at := now();
        END IF;
        IF NEW.applied_by IS NOT DISTINCT FROM OLD.applied_by THEN
            NEW.applied_by := session_user;
        END IF;
    END IF;
    NEW.status := 'skipped';
    NEW.effects := NULL;
    IF to_regclass(audit_table) IS NOT NULL THEN
        EXECUTE format('INSERT INTO %s (service, event, version, actor, reason, details)'
                       ' VALUES ($1, ''MIGRATION_SKIPPED'', $2, $3, $4, $5)', audit_table)
            USING TG_ARGV[0], NEW.version, session_user, coalesce(NEW.reason, 'marked applied by hand'),
                  jsonb_build_object('by_hand', true, 'operation', TG_OP, 'requested_status', requested,
                                     'previous_status', previous_status, 'previous_error', previous_error,
                                     'application_name', current_setting('application_name'),
                                     'client_addr', inet_client_addr()::text, 'statement', current_query());
    END IF;
    RETURN NEW;
END
$body$;
CREATE TRIGGER manual_skip BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW
    WHEN (current_setting('scrydon_migrate.writer', true) IS DISTINCT FROM 'tool')
    EXECUTE FUNCTION {function}({service})
"""

_MANUAL_DELETE_FUNCTION = "scrydon_migrate_manual_delete"
#: Audits a hand DELETE of a tracking row (or a TRUNCATE of the table). A DELETE fired from another
#: trigger (``manual_skip`` replacing a failed attempt, audited there as the skip) is not a second event.
_MANUAL_DELETE_DDL = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    audit_table text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME || '_audit');
    deleted     jsonb;
BEGIN
    IF pg_trigger_depth() > 1 OR to_regclass(audit_table) IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        deleted := jsonb_build_object('status', OLD.status, 'file', OLD.file, 'checksum', OLD.checksum,
                                      'applied_at', OLD.applied_at, 'applied_by', OLD.applied_by,
                                      'error', OLD.error, 'reason', OLD.reason);
    END IF;
    EXECUTE format('INSERT INTO %s (service, event, version, actor, reason, details)'
                   ' VALUES ($1, $2, $3, $4, $5, $6)', audit_table)
        USING TG_ARGV[0],
              CASE TG_OP WHEN 'DELETE' THEN 'MIGRATION_TRACKING_ROW_DELETED' ELSE 'MIGRATION_TRACKING_TRUNCATED' END,
              CASE TG_OP WHEN 'DELETE' THEN OLD.version END, session_user,
              CASE TG_OP WHEN 'DELETE' THEN 'tracking row deleted by hand: up applies the migration again'
                         ELSE 'tracking table truncated by hand: up applies every migration again' END,
              jsonb_build_object('by_hand', true, 'operation', TG_OP, 'deleted_row', deleted,
                                 'application_name', current_setting('application_name'),
                                 'client_addr', inet_client_addr()::text, 'statement', current_query());
    RETURN NULL;
END
$body$;
DROP TRIGGER IF EXISTS manual_delete ON {table};
DROP TRIGGER IF EXISTS manual_truncate ON {table};
CREATE TRIGGER manual_delete AFTER DELETE ON {table} FOR EACH ROW
    WHEN (current_setting('scrydon_migrate.writer', true) IS DISTINCT FROM 'tool')
    EXECUTE FUNCTION {function}({service});
CREATE TRIGGER manual_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT
    WHEN (current_setting('scrydon_migrate.writer', true) IS DISTINCT FROM 'tool')
    EXECUTE FUNCTION {function}({service})
"""


@dataclass(frozen=True, slots=True)
class TrackedRow:
    """One row of the tracking table."""

    version: int
    name: str | None
    file: str | None
    checksum: str | None
    content_sha256: str | None
    status: Status
    applied_at: datetime | None
    duration_ms: int | None
    applied_by: str | None
    statements_done: int | None
    statements_total: int | None
    error: str | None
    sqlstate: str | None
    failed_statement: str | None
    failed_line: int | None
    reason: str | None
    lock_held_ms: int | None = None
    effects: Any = None
    attempted_at: datetime | None = None

    @property
    def marked_by_hand(self) -> bool:
        """A row an operator inserted with SQL (the runbook's manual skip)."""
        return self.status is Status.SKIPPED and self.reason is None

    @property
    def counts_as_done(self) -> bool:
        return self.status in (Status.APPLIED, Status.SKIPPED)


@dataclass(frozen=True, slots=True)
class LockHolder:
    pid: int
    application_name: str
    since: datetime | None
    state: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "holder_pid": self.pid,
            "holder_application_name": self.application_name or "",
            "holder_since": self.since.strftime("%Y-%m-%dT%H:%M:%SZ") if self.since else None,
        }


def table_identifier(name: str) -> sql.Identifier:
    """``schema.table`` or ``table`` as a quoted identifier."""
    from psycopg import sql

    parts = name.split(".")
    if len(parts) > 2 or not all(parts):
        raise ConfigError(f"tracking table name {name!r} is not 'table' or 'schema.table'")
    return sql.Identifier(*parts)


def resolve(conn: psycopg.Connection, table: str) -> str:
    """The tracking table's schema-qualified name: where it is, never where ``current_schema()`` moved.

    A qualified name is taken as written. An unqualified one is the existing table of that name
    first on the search path, else the only one in another schema (a migration may have changed the
    search path since), else a new table in the current schema.
    """
    if "." in table:
        table_identifier(table)
        return table
    records = conn.execute(_WHERE_IS, {"table": table}).fetchall()
    on_path = [r[0] for r in records if r[1]]
    elsewhere = [r[0] for r in records if not r[1]]
    if on_path:
        return f"{on_path[0]}.{table}"
    if len(elsewhere) == 1:
        return f"{elsewhere[0]}.{table}"
    if elsewhere:
        raise ConfigError(
            f"tracking table {table!r} is not on the search path, and schemas {', '.join(elsewhere)} each have one",
            hint="name the tracking table with its schema (tracking_table = 'schema.table' in the configuration)",
        )
    current = conn.execute("SELECT current_schema()").fetchone()
    return f"{current[0] if current and current[0] else 'public'}.{table}"


_WHERE_IS = catalog.TRACKING_TABLES.format(name="%(table)s")


def ensure_table(conn: psycopg.Connection, table: str, service: str) -> None:
    """Create the tracking table if it is missing, or bring an older one up to date (call it holding the lock).

    Up to date means: the columns it lacks added, ``applied_at`` nullable with the failed and running
    attempts of older releases moved to ``attempted_at``, the ``manual_skip`` and ``manual_delete``
    triggers in place, and the start-up check's table (``<tracking>_checked``,
    :mod:`scrydon_migrate.startup`) beside it.
    """
    from psycopg import sql

    identifier = table_identifier(table)
    conn.execute(sql.SQL(_DDL).format(table=identifier))
    _check_primary_key(conn, table)
    _ensure_checked_table(conn, table)
    columns = conn.execute(
        "SELECT attname, attnotnull, ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = attrelid)"
        " FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (identifier.as_string(conn),),
    ).fetchall()
    present = {name: not_null for name, not_null, _ in columns}
    for name, kind in _ADDED_COLUMNS:
        if name not in present:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    identifier, sql.Identifier(name), sql.SQL(kind)
                )
            )
    if present.get("applied_at"):
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN applied_at DROP NOT NULL").format(identifier))
        conn.execute(
            sql.SQL(
                "UPDATE {} SET attempted_at = applied_at, applied_at = NULL WHERE status IN ('failed', 'running')"
            ).format(identifier)
        )
    triggers = set(columns[0][2]) if columns else set()
    for names, function, ddl in (
        ({"manual_skip"}, _MANUAL_SKIP_FUNCTION, _MANUAL_SKIP_DDL),
        ({"manual_delete", "manual_truncate"}, _MANUAL_DELETE_FUNCTION, _MANUAL_DELETE_DDL),
    ):
        if not names <= triggers:
            _create_trigger(conn, table, service, function, ddl)


def _create_trigger(conn: psycopg.Connection, table: str, service: str, function: str, ddl: str) -> None:
    """One of the tool's triggers on the tracking table, its function in the table's schema."""
    from psycopg import sql

    schema = table.split(".")[0] if "." in table else None
    conn.execute(
        sql.SQL(ddl).format(
            function=sql.Identifier(*filter(None, (schema, function))),
            table=table_identifier(table),
            service=sql.Literal(service),
        )
    )


def _ensure_checked_table(conn: psycopg.Connection, table: str) -> None:
    """The start-up check's table; a role that may not create it goes without (every start checks in full)."""
    import psycopg
    from psycopg import sql

    from scrydon_migrate import startup

    checked = table + startup.CHECKED_SUFFIX
    if conn.execute("SELECT to_regclass(%s)", (table_identifier(checked).as_string(conn),)).fetchone() != (None,):
        return
    try:
        with conn.transaction():
            conn.execute(sql.SQL(startup.CHECKED_DDL).format(table=table_identifier(checked)))
    except psycopg.errors.InsufficientPrivilege:
        logger.info("no start-up check table %s (no CREATE privilege): every start reads the catalog", checked)


def read_rows(conn: psycopg.Connection, table: str) -> dict[int, TrackedRow] | None:
    """Every tracking row by version, in one round trip; ``None`` when the table does not exist.

    A table made by an older release lacks the columns added since: they read as NULL (and
    :func:`ensure_table` adds them under the lock). A table whose own columns are missing or
    retyped, whose rows have an unknown status or a duplicate version, is refused
    (:class:`TrackingDamaged`): nothing is planned from rows the tool can't trust. The types
    come with the result, so the check costs no round trip.
    """
    import psycopg
    from psycopg.pq import TransactionStatus

    # Inside a caller's transaction a failed first read must not abort it: try it in a savepoint.
    attempt = conn.transaction() if conn.info.transaction_status == TransactionStatus.INTRANS else nullcontext()
    try:
        with attempt:
            records, types = _select(conn, table, ())
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.errors.UndefinedColumn:
        present = _present_columns(conn, table)
        missing = [c for c in COLUMNS if c not in present]
        lost = [c for c in missing if c not in {name for name, _ in _ADDED_COLUMNS}]
        if lost:
            raise _damaged(table, f"its column {lost[0]!r} is missing") from None
        records, types = _select(conn, table, missing)
    return rows_from(conn, table, records, types)


def rows_from(
    conn: psycopg.Connection, table: str, records: Iterable[Sequence[Any]], types: dict[str, int]
) -> dict[int, TrackedRow]:
    """Tracking rows by version from records holding :data:`COLUMNS` in order (``types``: their type oids).

    Refuses rows the tool can't trust (:class:`TrackingDamaged`): a retyped column, an unknown status,
    a duplicate version.
    """
    _check_types(conn, table, types)
    rows: dict[int, TrackedRow] = {}
    for record in records:
        values = dict(zip(COLUMNS, record, strict=True))
        try:
            values["status"] = Status(values["status"])
        except ValueError:
            raise _damaged(
                table,
                f"the row of version {values['version']} has status {values['status']!r}",
                hint=f"set it to one of {', '.join(s.value for s in Status)} (a migration that did not run: "
                f"delete the row, or 'failed'); contact support if you don't know how it got there",
            ) from None
        row = TrackedRow(**values)
        if row.version in rows:
            raise _damaged(table, f"version {row.version} has two rows (its primary key was dropped?)")
        rows[row.version] = row
    return rows


def _select(
    conn: psycopg.Connection, table: str, missing: Sequence[str]
) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Every row with :data:`COLUMNS` (NULL for ``missing`` ones), and each present column's type oid."""
    from psycopg import sql
    from psycopg.rows import tuple_row

    query = sql.SQL("SELECT {cols} FROM {table}").format(
        cols=sql.SQL(", ").join(
            sql.SQL("NULL AS {}").format(sql.Identifier(c)) if c in missing else sql.Identifier(c) for c in COLUMNS
        ),
        table=table_identifier(table),
    )
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query)
        records = cur.fetchall()
        types = {d.name: d.type_code for d in cur.description or () if d.name not in missing}
    return records, types


_INTEGERS = frozenset({20, 21, 23})  # bigint, smallint, integer
_TEXTS = frozenset({25, 1043})  # text, varchar
_TIMES = frozenset({1184, 1114})  # timestamptz, timestamp
_JSONS = frozenset({3802, 114})  # jsonb, json
#: What each column may be: a column retyped to something else is damage, never guessed at.
_TYPES = {
    "version": _INTEGERS,
    "duration_ms": _INTEGERS,
    "statements_done": _INTEGERS,
    "statements_total": _INTEGERS,
    "failed_line": _INTEGERS,
    "lock_held_ms": _INTEGERS,
    "applied_at": _TIMES,
    "attempted_at": _TIMES,
    "effects": _JSONS,
    **{c: _TEXTS for c in ("name", "file", "checksum", "content_sha256", "status", "applied_by", "error")},
    **{c: _TEXTS for c in ("sqlstate", "failed_statement", "reason")},
}


def _check_types(conn: psycopg.Connection, table: str, types: dict[str, int]) -> None:
    for column, oid in types.items():
        allowed = _TYPES.get(column)
        if allowed is not None and oid not in allowed:
            info = conn.adapters.types.get(oid)
            expected = conn.adapters.types.get(min(allowed))
            raise _damaged(
                table,
                f"its column {column!r} is of type {info.name if info else oid}, not "
                f"{expected.name if expected else 'the type this tool created'}",
            )


def _present_columns(conn: psycopg.Connection, table: str) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (table_identifier(table).as_string(conn),),
        ).fetchall()
    }


def _damaged(table: str, what: str, *, hint: str = "") -> TrackingDamaged:
    return TrackingDamaged(
        f"the tracking table {table} is damaged: {what}; nothing was done",
        hint=hint
        or "restore the table from the snapshot taken before the upgrade, or put it back in the shape the README "
        "gives (The tracking table); contact support before editing tracking rows by hand",
        tracking_table=table,
    )


def _check_primary_key(conn: psycopg.Connection, table: str) -> None:
    """Every write upserts on ``version``: without its unique key two pods could record one version twice."""
    record = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnkeyatts = 1"
        " AND a.attname = 'version' AND i.indpred IS NULL)",
        (table_identifier(table).as_string(conn),),
    ).fetchone()
    if not (record and record[0]):
        raise _damaged(
            table,
            "it has no primary key on version",
            hint=f"find duplicate versions (SELECT version, count(*) FROM {table} GROUP BY 1 HAVING count(*) > 1), "  # noqa: S608 - advice, never run
            f"keep one row of each, then ALTER TABLE {table} ADD PRIMARY KEY (version)",
        )


def read_sql(conn: psycopg.Connection, table: str, version: int) -> str | None:
    """The SQL text recorded for ``version`` when it ran (to name the first edited statement)."""
    from psycopg import sql

    query = sql.SQL("SELECT sql FROM {table} WHERE version = %s").format(table=table_identifier(table))
    record = conn.execute(query, (version,)).fetchone()
    return None if record is None else record[0]


def upsert(conn: psycopg.Connection, table: str, version: int, values: dict[str, Any]) -> None:
    """Insert or replace the row of ``version`` (fix forward replaces a failed row)."""

    cur = conn.execute(_upsert_query(conn, table, tuple(values)), [version, *values.values()])
    if cur.rowcount != 1:
        raise RuntimeError(f"tracking write for version {version} touched {cur.rowcount} rows, expected 1")


def upsert_statement(conn: psycopg.Connection, table: str, version: int, values: dict[str, Any]) -> bytes:
    """:func:`upsert` as a statement to send ahead of others in one round trip, a ``COMMIT`` among them
    (``;``-terminated). Its row count cannot be looked at before they run, so the server checks it: the
    statement fails, and nothing after it commits, unless it wrote exactly one row (a trigger or rule
    on the table could make it write none)."""
    from psycopg import sql

    key = ("checked", table, tuple(values))
    if key not in _QUERIES:
        _QUERIES[key] = (
            sql.SQL(
                "WITH written AS ({upsert} RETURNING 1) SELECT CASE count(*) WHEN 1 THEN 1 ELSE "
                "('tracking write for version ' || {version} || ' touched ' || count(*) || ' rows, expected 1')::int "
                "END FROM written; "
            )
            .format(upsert=sql.SQL(_upsert_query(conn, table, tuple(values)).decode()), version=sql.Placeholder())
            .as_bytes(conn)
        )
    return db.quoted(conn, _QUERIES[key], [version, *values.values(), version])


def unwritten(table: str, exc: BaseException) -> TrackingDamaged | None:
    """The clear error for a failure of :func:`upsert_statement`'s check (``None`` for any other error)."""
    found = _UNWRITTEN.search(str(exc))
    if found is None:
        return None
    return _damaged(
        table,
        f"a trigger or rule on it kept the row of version {found[1]} from being written, so that migration was "
        "rolled back",
        hint="drop the trigger or rule that writes nothing (pg_trigger and the view pg_rules list them), "
        "then run up again",
    )


_UNWRITTEN = re.compile(r"tracking write for version (\d+) touched \d+ rows, expected 1")

_QUERIES: dict[tuple[str, str, tuple[str, ...]], bytes] = {}


def _upsert_query(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> bytes:
    """The upsert for these columns, composed once per table and column set (it runs once per migration)."""
    from psycopg import sql

    key = ("upsert", table, columns)
    if key not in _QUERIES:
        names = ("version", *columns)
        _QUERIES[key] = (
            sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {vals} WHERE {tool} ON CONFLICT (version) DO UPDATE SET {sets}"
            )
            .format(
                table=table_identifier(table),
                tool=sql.SQL(TOOL_WRITE),
                cols=sql.SQL(", ").join(sql.Identifier(n) for n in names),
                vals=sql.SQL(", ").join(sql.Placeholder() for _ in names),
                sets=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(n)) for n in columns),
            )
            .as_bytes(conn)
        )
    return _QUERIES[key]


def update(conn: psycopg.Connection, table: str, version: int, values: dict[str, Any]) -> None:
    """Update columns of the existing row of ``version``; exactly one row must change."""
    from psycopg import sql

    query = sql.SQL("UPDATE {table} SET {sets} WHERE version = %s AND {tool}").format(
        table=table_identifier(table),
        tool=sql.SQL(TOOL_WRITE),
        sets=sql.SQL(", ").join(sql.SQL("{c} = %s").format(c=sql.Identifier(n)) for n in values),
    )
    cur = conn.execute(query, [*values.values(), version])
    if cur.rowcount != 1:
        raise RuntimeError(f"tracking update for version {version} touched {cur.rowcount} rows, expected 1")


def rewind(conn: psycopg.Connection, table: str, versions: Sequence[int]) -> list[dict[str, Any]]:
    """Delete the applied rows of ``versions`` (a repair) and return what they said, for the record."""
    from psycopg import sql
    from psycopg.rows import dict_row

    query = sql.SQL(
        "DELETE FROM {table} WHERE version = ANY(%s) AND status = 'applied' AND {tool}"
        " RETURNING version, name, file, checksum, applied_at, applied_by, duration_ms"
    ).format(table=table_identifier(table), tool=sql.SQL(TOOL_WRITE))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (list(versions),))
        return sorted(cur.fetchall(), key=lambda r: r["version"])


def history(conn: psycopg.Connection, table: str, limit: int) -> list[dict[str, Any]] | None:
    """The runbook's verification query, newest first; ``None`` when the table does not exist."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    query = sql.SQL(
        "SELECT version, name, file, status, applied_at, attempted_at, duration_ms, applied_by, reason"
        " FROM {table} ORDER BY applied_at DESC, version DESC LIMIT %s"
    ).format(table=table_identifier(table))
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (limit,))
            return list(cur.fetchall())
    except psycopg.errors.UndefinedTable:
        return None


def lock_key(table: str, database: str) -> int:
    """The advisory-lock key of a resolved (schema-qualified) tracking table in ``database``: a signed 64-bit number.

    Two pods that spell the table ``platform_migrations`` and ``public.platform_migrations`` resolve it
    to the same name, so they take the same lock.
    """
    digest = hashlib.sha256(f"scrydon-migrate:{database}:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def locate(conn: psycopg.Connection, table: str) -> tuple[str, int]:
    """The resolved tracking table and its migration-lock key, for the database ``conn`` is in."""
    resolved = resolve(conn, table)
    return resolved, lock_key(resolved, conn.info.dbname)


def lock_holder(conn: psycopg.Connection, key: int) -> LockHolder | None:
    """Who holds the advisory lock ``key`` in this database (pid, application_name, since when).

    Advisory locks are per database: the same key held in another database of the cluster
    is another service's lock (or none of ours) and must never be named, let alone ended.
    """
    record = conn.execute(
        "SELECT a.pid, coalesce(a.application_name, ''), a.backend_start, a.state"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid::bigint = %s AND l.objid::bigint = %s LIMIT 1",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    if record is None:
        return None
    return LockHolder(pid=record[0], application_name=record[1], since=record[2], state=record[3])


def _channel(key: int) -> str:
    """The LISTEN/NOTIFY channel on which the holder of lock ``key`` says it released it."""
    return f"scrydon_migrate_lock_{key & 0xFFFFFFFFFFFFFFFF:016x}"


def _listen(conn: psycopg.Connection, command: str, key: int) -> None:
    from psycopg import sql

    conn.execute(sql.SQL(command + " {}").format(sql.Identifier(_channel(key))))


def acquire_lock(
    conn: psycopg.Connection,
    key: int,
    *,
    service: str,
    wait_s: float,
    report_every_s: float = 10.0,
) -> float:
    """Take the service's migration lock; returns the seconds waited.

    First refuses a transaction-pooled connection (see :func:`db.refuse_transaction_pooling`).
    A busy lock is waited for with ``pg_try_advisory_lock`` while LISTENing on the lock's
    channel: the holder NOTIFYs when it releases, so a waiting pod tries again at once, and
    between tries it is idle, outside any transaction, so it holds no snapshot a
    ``CREATE INDEX CONCURRENTLY`` of the holder would wait for, and no lock DDL queues behind.
    A holder that died without a word is noticed by the polls (every second at most).
    Logs who holds it when it is busy, then again every ``report_every_s``. Raises
    :class:`LockWaitTimeout` after ``wait_s``.
    """
    from scrydon_migrate import db

    db.refuse_transaction_pooling(conn, service)
    started = time.monotonic()
    if _try_lock(conn, key):
        return 0.0
    _listen(conn, "LISTEN", key)
    try:
        return _wait_for_lock(conn, key, service=service, wait_s=wait_s, report_every_s=report_every_s, started=started)
    finally:
        _listen(conn, "UNLISTEN", key)


def _try_lock(conn: psycopg.Connection, key: int) -> bool:
    record = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return record is not None and bool(record[0])


def _wait_for_lock(
    conn: psycopg.Connection, key: int, *, service: str, wait_s: float, report_every_s: float, started: float
) -> float:
    next_report = started
    poll_s = 0.05
    while True:
        if _try_lock(conn, key):
            return time.monotonic() - started
        now = time.monotonic()
        holder = lock_holder(conn, key) if now >= next_report or now - started >= wait_s else None
        if now - started >= wait_s:
            raise LockWaitTimeout(
                f"gave up waiting for the migration lock of service {service!r} after {wait_s:g} s",
                hint="another migration run holds it"
                + (f" (pid {holder.pid}, {holder.application_name or 'no application_name'})" if holder else "")
                + "; it is safe to restart this pod, or raise --lock-wait (MIGRATE_LOCK_WAIT)",
                service=service,
                waited_s=round(now - started, 1),
                **(holder.fields() if holder else {}),
            )
        if holder is not None:
            log.event(
                logger,
                logging.INFO,
                "waiting for migration lock",
                "LOCK_WAITING",
                service=service,
                **holder.fields(),
                waited_s=int(now - started),
            )
            next_report = now + report_every_s
        timeout = min(poll_s, max(0.0, wait_s - (now - started))) * random.uniform(0.8, 1.2)
        for _ in conn.notifies(timeout=timeout, stop_after=1):
            pass
        poll_s = min(poll_s * 2, 1.0)


def release_lock(conn: psycopg.Connection, key: int) -> None:
    """Release the lock and tell the pods waiting for it (one round trip)."""
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(%s), pg_notify(%s, '')", (key, _channel(key)))
