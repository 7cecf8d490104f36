"""The audit log: an append-only table of what happened to a service's schema, and why.

``<tracking table>_audit`` (e.g. ``platform_migrations_audit``) lives next to the
tracking table. Rows are only ever inserted: a trigger refuses UPDATE, DELETE and
TRUNCATE for every role but a superuser who drops it on purpose, and the table's
privileges are revoked from PUBLIC. Events are written in the same transaction as
the change they record wherever there is one (a migration and its
``MIGRATION_APPLIED`` row commit together), and each is logged under the same name.

Events: ``MIGRATION_APPLIED``, ``MIGRATION_FAILED``, ``MIGRATION_SKIPPED``,
``MIGRATION_TRACKING_REPAIRED``, ``SNAPSHOT_TAKEN``, ``SNAPSHOT_RESTORED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'the migration audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$body$;
DROP TRIGGER IF EXISTS append_only ON {table};
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}();
DROP TRIGGER IF EXISTS append_only_truncate ON {table};
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}();
REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC
"""


def table_for(tracking_table: str) -> str:
    """The audit table that goes with a tracking table."""
    return f"{tracking_table}_audit"


def ensure_table(conn: psycopg.Connection, tracking_table: str) -> None:
    """Create the audit table and its append-only guard if missing (call it holding the lock)."""
    from psycopg import sql

    table = table_for(tracking_table)
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table_identifier(table).as_string(conn),)).fetchone()
    if exists and exists[0]:
        return
    schema = table.split(".")[0] if "." in table else None
    function_name = "scrydon_migrate_audit_append_only"
    function = sql.Identifier(schema, function_name) if schema else sql.Identifier(function_name)
    conn.execute(sql.SQL(_DDL).format(table=table_identifier(table), function=function))


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
) -> None:
    """Append one event (in the caller's transaction, if one is open)."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    if tracking_table not in _INSERTS:
        _INSERTS[tracking_table] = (
            sql.SQL(
                "INSERT INTO {table} (service, event, version, actor, reason, details) VALUES (%s, %s, %s, %s, %s, %s)"
            )
            .format(table=table_identifier(table_for(tracking_table)))
            .as_bytes(conn)
        )
    conn.execute(_INSERTS[tracking_table], (service, event, version, actor, reason, Jsonb(details or {})))


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
