"""The catalog snapshot: every schema object the database has now, in one round trip.

Keys are spelled as in :mod:`scrydon_migrate.effects`. System schemas are left out;
the query's cost grows with the number of objects, never with the number of
migrations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_SNAPSHOT = r"""
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
), rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
)
SELECT coalesce(array_agg(k), '{}') FROM (
    SELECT 'schema:' || nspname FROM ns
    UNION ALL
    SELECT CASE relkind WHEN 'v' THEN 'view:' WHEN 'm' THEN 'matview:' WHEN 'S' THEN 'sequence:' ELSE 'table:' END
           || nspname || '.' || relname FROM rel WHERE relkind <> 'c'
    UNION ALL
    SELECT 'column:' || rel.nspname || '.' || rel.relname || '.' || a.attname
      FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
     WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind IN ('r', 'p', 'f')
    UNION ALL
    SELECT 'index:' || rel.nspname || '.' || rel.relname || '.' || ic.relname
      FROM pg_index i JOIN rel ON rel.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
    UNION ALL
    SELECT 'constraint:' || rel.nspname || '.' || rel.relname || '.' || k.conname
      FROM pg_constraint k JOIN rel ON rel.oid = k.conrelid
    UNION ALL
    SELECT 'trigger:' || rel.nspname || '.' || rel.relname || '.' || t.tgname
      FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'function:' || ns.nspname || '.' || p.proname || '/' || p.pronargs
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT 'type:' || ns.nspname || '.' || t.typname
      FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd', 'r', 'm')
        OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM rel WHERE rel.oid = t.typrelid AND rel.relkind = 'c'))
    UNION ALL
    SELECT 'enumvalue:' || ns.nspname || '.' || t.typname || '.' || e.enumlabel
      FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN ns ON ns.oid = t.typnamespace
    UNION ALL
    SELECT 'extension:' || extname FROM pg_extension
) AS objects(k)
"""


def snapshot(conn: psycopg.Connection) -> set[str]:
    """The keys of every object in the database's non-system schemas."""
    record = conn.execute(_SNAPSHOT).fetchone()
    return set(record[0]) if record else set()
