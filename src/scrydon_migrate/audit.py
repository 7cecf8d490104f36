"""The audit log: an append-only, hash-chained table of what happened to a service's schema, and why.

``<tracking table>_audit`` (e.g. ``platform_migrations_audit``) lives next to the
tracking table. Events are written in the same transaction as the change they record
wherever there is one (a migration and its ``MIGRATION_APPLIED`` row commit together),
and each is logged under the same name.

Integrity:

- Rows are only ever inserted: a trigger refuses UPDATE, DELETE and TRUNCATE, and the
  table's privileges are revoked from PUBLIC.
- Only the table's owner (the migration role) or a member of it may insert: a trigger
  refuses any other role, so an application role that was granted every privilege on the
  schema's tables still can't forge events.
- Each row carries ``hash`` = SHA-256 of the previous row's hash and its own content,
  computed by the server on insert (serialised by a transaction lock, so concurrent
  writers chain in commit order). :func:`verify` recomputes the chain: an edited, removed or
  inserted-out-of-band row (the owner can disable triggers or drop them) breaks it from
  that row on, and ``audit --verify`` and ``doctor`` report where. An owner who rewrites
  every row after the one it changed, hashes included, is not detected: the chain
  makes tampering visible, it is not a signature.
- A missing audit table where migrations were already recorded is refused
  (:class:`AuditMissing`), never recreated empty behind the operator's back;
  ``audit --recreate`` starts a new log on purpose.

Events: ``MIGRATION_APPLIED``, ``MIGRATION_FAILED``, ``MIGRATION_SKIPPED``,
``MIGRATION_TRACKING_ROW_DELETED``, ``MIGRATION_TRACKING_TRUNCATED`` (a hand DELETE or TRUNCATE of the
tracking table), ``MIGRATION_TRACKING_REPAIRED``, ``SNAPSHOT_TAKEN``, ``SNAPSHOT_RESTORED``,
``AUDIT_LOG_RECREATED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import md5
from typing import TYPE_CHECKING, Any

from scrydon_migrate import db
from scrydon_migrate.errors import MigrateError, RefusedError
from scrydon_migrate.tracking import table_identifier

if TYPE_CHECKING:
    import psycopg

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    service  text NOT NULL,
    event    text NOT NULL,
    version  bigint,
    actor    text,
    reason   text,
    details  jsonb NOT NULL DEFAULT '{{}}'
);
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS prev_hash text, ADD COLUMN IF NOT EXISTS hash text;
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'the migration audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$body$;
CREATE OR REPLACE FUNCTION {hash}(prev text, id bigint, at timestamptz, service text, event text, version bigint,
                                  actor text, reason text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $body$
    SELECT {hash_of_arguments}
$body$;
CREATE OR REPLACE FUNCTION {chain}() RETURNS trigger LANGUAGE plpgsql AS $body${chain_body}$body$;
DROP TRIGGER IF EXISTS append_only ON {table};
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}();
DROP TRIGGER IF EXISTS append_only_truncate ON {table};
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}();
DROP TRIGGER IF EXISTS hash_chain ON {table};
CREATE TRIGGER hash_chain BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {chain}();
REVOKE ALL ON {table} FROM PUBLIC
"""


#: The hash of a row: SHA-256 of the previous row's hash and the row's content. One text for both of
#: its users, spelled with ``{prev}`` for the previous hash and ``{row}`` before each field: the
#: ``{hash}`` SQL function (``audit --verify`` recomputes the chain with it) and the chain trigger,
#: which computes it as a PL/pgSQL expression of ``NEW``'s fields: planned once a session, where calling
#: the SQL function from the trigger planned its body again in every transaction.
_HASH_OF = """encode(sha256(convert_to(concat_ws('|', {prev}, {row}id,
        to_char({row}at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), {row}service, {row}event, {row}version,
        {row}actor, {row}reason, {row}details::text), 'UTF8')), 'hex')"""

#: The chain trigger's body: only the table's owner (or a member of it) may insert; rows chain in commit
#: order under a transaction lock. Installed again when an older release's body is in place.
CHAIN_BODY = """
BEGIN
    IF NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RAISE EXCEPTION 'only the migration role may write the migration audit log, not %', current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('scrydon-migrate audit'), hashtext(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME));
    EXECUTE format('SELECT hash FROM %I.%I ORDER BY id DESC LIMIT 1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO NEW.prev_hash;
    NEW.prev_hash := coalesce(NEW.prev_hash, '');
    NEW.hash := HASH_OF_NEW;
    RETURN NEW;
END
""".replace("HASH_OF_NEW", _HASH_OF.format(prev="NEW.prev_hash", row="NEW."))
CHAIN_BODY_MD5 = md5(CHAIN_BODY.encode(), usedforsecurity=False).hexdigest()


class AuditMissing(MigrateError):
    """The audit log is gone where migrations were already recorded: refused, never recreated silently."""

    exit_code = RefusedError.exit_code
    event = "AUDIT_LOG_MISSING"


def table_for(tracking_table: str) -> str:
    """The audit table that goes with a tracking table."""
    return f"{tracking_table}_audit"


def ensure_table(conn: psycopg.Connection, tracking_table: str, *, recreate: bool = False) -> None:
    """Create the audit table with its guards and hash chain if missing (call it holding the lock).

    A table from an older release gets the chain's columns and triggers (its older rows stay
    unchained). Where the tracking table already holds rows, a missing audit table means it was
    dropped: :class:`AuditMissing`, unless ``recreate`` (``audit --recreate``). The DDL runs in
    one transaction under a lock shared by every service of the database, so services that
    install at once don't replace the shared trigger functions concurrently.
    """
    table = table_for(tracking_table)
    with conn.transaction():
        lock_bookkeeping_ddl(conn)
        exists = conn.execute(
            "SELECT to_regclass(%(t)s) IS NOT NULL, (SELECT count(*) FROM pg_trigger g"
            " JOIN pg_proc p ON p.oid = g.tgfoid WHERE g.tgrelid = to_regclass(%(t)s) AND g.tgname = 'hash_chain'"
            " AND md5(p.prosrc) = %(body)s)",
            {"t": table_identifier(table).as_string(conn), "body": CHAIN_BODY_MD5},
        ).fetchone()
        if exists and exists[0] and exists[1]:
            return
        if exists and not exists[0] and not recreate and _has_tracking_rows(conn, tracking_table):
            raise AuditMissing(
                f"the audit log {table} is missing, but {tracking_table} records migrations: it was dropped",
                hint="restore it from the snapshot taken before the upgrade; or, to start a new, empty audit log "
                "on purpose, run scrydon-migrate audit --recreate (recorded as AUDIT_LOG_RECREATED)",
                tracking_table=tracking_table,
            )
        conn.execute(_ddl(table))


def lock_bookkeeping_ddl(conn: psycopg.Connection) -> None:
    """A transaction lock held while the tool creates or upgrades its own tables and shared functions."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('scrydon-migrate bookkeeping'), 0)")


def _function(table: str, name: str) -> Any:
    """A function of the tool's, in the audit table's schema (or the session's first one)."""
    from psycopg import sql

    return sql.Identifier(table.split(".")[0], name) if "." in table else sql.Identifier(name)


def _ddl(table: str) -> Any:
    from psycopg import sql

    return sql.SQL(_DDL).format(
        table=table_identifier(table),
        function=_function(table, "scrydon_migrate_audit_append_only"),
        chain=_function(table, "scrydon_migrate_audit_chain"),
        hash=_function(table, "scrydon_migrate_audit_hash"),
        hash_of_arguments=sql.SQL(_HASH_OF.format(prev="prev", row="")),
        chain_body=sql.SQL(CHAIN_BODY),
    )


def _has_tracking_rows(conn: psycopg.Connection, tracking_table: str) -> bool:
    from psycopg import sql

    if conn.execute("SELECT to_regclass(%s)", (table_identifier(tracking_table).as_string(conn),)).fetchone() == (
        None,
    ):
        return False
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table_identifier(tracking_table))
    record = conn.execute(query).fetchone()
    return bool(record and record[0])


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What :func:`verify` found: the rows checked, older unchained rows, and the first broken row."""

    rows: int
    unchained: int
    broken_at: int | None = None
    why: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "rows": self.rows,
            "unchained_older_rows": self.unchained,
            "broken_at_id": self.broken_at,
            "why": self.why,
        }


def verify(conn: psycopg.Connection, tracking_table: str) -> ChainCheck | None:
    """Recompute the hash chain on the server, in one query; ``None`` when there is no audit table."""
    import psycopg
    from psycopg import sql

    table = table_for(tracking_table)
    query = sql.SQL(
        "SELECT id, hash, prev_hash, lag(hash) OVER (ORDER BY id),"
        " {hash}(coalesce(prev_hash, ''), id, at, service, event, version, actor, reason, details)"
        " FROM {table} ORDER BY id"
    ).format(table=table_identifier(table), hash=_function(table, "scrydon_migrate_audit_hash"))
    try:
        rows = conn.execute(query).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.errors.UndefinedColumn:
        return ChainCheck(
            rows=0, unchained=0, broken_at=0, why="the table has no hash chain (its columns were dropped)"
        )
    unchained = 0
    chained = False
    for row_id, stored, prev, previous, recomputed in rows:
        if stored is None and not chained:
            unchained += 1
            continue
        why = _broken(stored, prev, previous, recomputed, first=not chained)
        if why:
            return ChainCheck(rows=len(rows), unchained=unchained, broken_at=row_id, why=why)
        chained = True
    return ChainCheck(rows=len(rows), unchained=unchained)


def _broken(stored: str | None, prev: str | None, previous: str | None, recomputed: str, *, first: bool) -> str | None:
    if stored is None:
        return "the row has no hash: it was written with the chain's trigger disabled"
    if stored != recomputed:
        return "the row's content does not match its hash: it was changed after it was written"
    if not first and prev != previous:
        return "the row does not follow the one before it: rows were removed or inserted out of band"
    return None


_INSERTS: dict[str, bytes] = {}


def record(
    conn: psycopg.Connection,
    tracking_table: str,
    *,
    service: str,
    event: str,
    version: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    before: bytes = b"",
    then: bytes = b"",
) -> None:
    """Append one event (in the caller's transaction, if one is open).

    ``before`` and ``then``: statements (``;``-terminated, and not) to send before and after it in the
    same round trip (a tracking row and a ``COMMIT``, say); the event's values are then quoted into the
    statement by libpq instead of sent apart.
    """
    values = _values(service, event, version, actor, reason, details)
    if not (before or then):
        conn.execute(_insert(conn, tracking_table), values)
        return
    conn.execute(before + db.quoted(conn, _insert(conn, tracking_table), values) + b"; " + then)


def _insert(conn: psycopg.Connection, tracking_table: str) -> bytes:
    from psycopg import sql

    if tracking_table not in _INSERTS:
        _INSERTS[tracking_table] = (
            sql.SQL(
                "INSERT INTO {table} (service, event, version, actor, reason, details) VALUES (%s, %s, %s, %s, %s, %s)"
            )
            .format(table=table_identifier(table_for(tracking_table)))
            .as_bytes(conn)
        )
    return _INSERTS[tracking_table]


def _values(
    service: str,
    event: str,
    version: int | None,
    actor: str | None,
    reason: str | None,
    details: dict[str, Any] | None,
) -> tuple[Any, ...]:
    from psycopg.types.json import Jsonb

    return (service, event, version, actor, reason, Jsonb(details or {}))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    service: str
    event: str
    version: int | None
    actor: str | None
    reason: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "service": self.service,
            "event": self.event,
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


def read(
    conn: psycopg.Connection,
    tracking_table: str,
    *,
    events: Sequence[str] = (),
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditEvent] | None:
    """The newest events first; ``None`` when the service has no audit table yet."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(
        "SELECT id, at, service, event, version, actor, reason, details FROM {table}"
        " WHERE (cardinality(%s::text[]) = 0 OR event = ANY(%s::text[]) OR event LIKE ANY(%s::text[]))"
        " AND (%s::timestamptz IS NULL OR at >= %s::timestamptz)"
        " ORDER BY id DESC LIMIT %s"
    ).format(table=table_identifier(table_for(tracking_table)))
    patterns = [e.replace("*", "%") for e in events if "*" in e]
    try:
        rows = conn.execute(query, (list(events), list(events), patterns, since, since, limit)).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    return [AuditEvent(*row) for row in rows]
