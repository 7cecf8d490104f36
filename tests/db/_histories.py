"""Generated migration histories, made valid by PostgreSQL itself.

A history is built one statement at a time against a *probe* database: each candidate statement
names objects that the probe's catalog says exist (never a model of what should exist), runs there
under a savepoint, and is kept only if PostgreSQL accepted it. What a history did is then never
predicted: the tests apply it through ``up`` elsewhere and compare with what the server reports.

Each migration says whether its statements only create (tables, columns, indexes, views, functions,
types, triggers ... also inside DO blocks) and which tables it writes rows into (a TRUNCATE ... CASCADE
also those whose foreign keys reference it). A tail is creation-only when all its migrations only
create and write only into tables the tail itself created (:func:`creation_only`): the runbook's
repair must be offered for such a tail when its objects are gone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from hypothesis import strategies as st

Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass
class Migration:
    statements: list[str] = field(default_factory=list)
    creation_only: bool = True
    no_transaction: bool = False
    created_tables: set[str] = field(default_factory=set)
    written_tables: set[str] = field(default_factory=set)

    def text(self) -> str:
        head = "-- migrate:no-transaction\n" if self.no_transaction else ""
        return head + "\n".join(s.rstrip(";") + ";" for s in self.statements) + "\n"


@dataclass
class Catalog:
    """What the probe database holds now, asked of PostgreSQL before each statement."""

    tables: list[str]
    columns: dict[str, list[str]]
    indexes: list[tuple[str, str]]
    constraints: list[tuple[str, str]]
    views: list[str]
    sequences: list[str]
    functions: list[str]
    enums: list[str]
    triggers: list[tuple[str, str]]
    schemas: list[str]


_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_QUALIFIED = "quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
_TOOL = "c.relname NOT LIKE 'platform\\_migrations%'"

#: The probe's catalog in one round trip: each part is an array of text or of [owner, name] pairs.
_CATALOG = f"""
SELECT
 (SELECT coalesce(array_agg({_QUALIFIED} ORDER BY {_QUALIFIED}), '{{}}')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND NOT c.relispartition AND {_USER} AND {_TOOL}),
 (SELECT coalesce(array_agg(ARRAY[{_QUALIFIED}, quote_ident(a.attname)] ORDER BY {_QUALIFIED}, a.attnum), '{{}}')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND {_USER} AND {_TOOL}),
 (SELECT coalesce(array_agg({_QUALIFIED} ORDER BY {_QUALIFIED}), '{{}}') FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER} AND {_TOOL}),
 (SELECT coalesce(array_agg(ARRAY[{_QUALIFIED}, quote_ident(k.conname)] ORDER BY {_QUALIFIED}, k.conname), '{{}}')
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE {_USER} AND k.contype IN ('u', 'c', 'f', 'p') AND {_TOOL}),
 (SELECT coalesce(array_agg({_QUALIFIED} ORDER BY {_QUALIFIED}), '{{}}')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'v' AND {_USER}),
 (SELECT coalesce(array_agg({_QUALIFIED} ORDER BY {_QUALIFIED}), '{{}}')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'S' AND {_USER}),
 (SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text), '{{}}') FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE {_USER} AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype AND p.proname NOT LIKE 'scrydon_migrate_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')),
 (SELECT coalesce(array_agg(t.oid::regtype::text ORDER BY t.oid::regtype::text), '{{}}')
    FROM pg_type t WHERE t.typtype = 'e'),
 (SELECT coalesce(array_agg(ARRAY[{_QUALIFIED}, quote_ident(g.tgname)] ORDER BY {_QUALIFIED}, g.tgname), '{{}}')
    FROM pg_trigger g
    JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT g.tgisinternal AND {_USER}),
 (SELECT coalesce(array_agg(quote_ident(n.nspname) ORDER BY n.nspname), '{{}}') FROM pg_namespace n WHERE {_USER})
"""


def read_catalog(conn: psycopg.Connection) -> Catalog:
    record = conn.execute(_CATALOG).fetchone()
    assert record is not None
    tables, columns, indexes, constraints, views, sequences, functions, enums, triggers, schemas = record
    by_table: dict[str, list[str]] = {}
    for table, column in columns:
        by_table.setdefault(table, []).append(column)
    return Catalog(
        tables=list(tables),
        columns=by_table,
        indexes=[(i, "") for i in indexes],
        constraints=[(owner, name) for owner, name in constraints],
        views=list(views),
        sequences=list(sequences),
        functions=list(functions),
        enums=list(enums),
        triggers=[(owner, name) for owner, name in triggers],
        schemas=list(schemas),
    )


_names = itertools.count(1)


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def restart_names() -> None:
    """Each history names its objects n1, n2, ... so that hypothesis can replay it exactly."""
    global _names
    _names = itertools.count(1)


def _pick(draw: Draw, items: list[Any]) -> Any:
    return draw(st.sampled_from(items)) if items else None


def _short(table: str) -> str:
    return table.rsplit(".", 1)[-1].strip('"')


def creation_only(tail: list[Migration]) -> bool:
    """Whether ``tail`` only creates, writing rows only into tables it created itself."""
    created = {_short(t) for m in tail for t in m.created_tables}
    return all(m.creation_only for m in tail) and all(_short(t) in created for m in tail for t in m.written_tables)


def candidate(draw: Draw, cat: Catalog) -> tuple[str, bool, str | None, str | None] | None:
    """One statement: (SQL, creation-only, table it creates, table it writes); ``None`` when nothing fits."""
    table = _pick(draw, cat.tables)
    columns = cat.columns.get(table, []) if table else []
    column = _pick(draw, [c for c in columns if c != "id"])
    kind = draw(
        st.sampled_from(
            (
                "create_table",
                "create_table",
                "create_partitioned",
                "add_column",
                "add_column_default",
                "add_fk_column",
                "drop_column",
                "drop_column_cascade",
                "rename_column",
                "rename_table",
                "create_index",
                "create_unique_partial",
                "create_expression_index",
                "drop_index",
                "rename_index",
                "unique_using_index",
                "add_check",
                "add_check_not_valid",
                "drop_constraint",
                "set_not_null",
                "drop_not_null",
                "alter_type",
                "set_default",
                "create_sequence",
                "rename_sequence",
                "drop_sequence",
                "create_view",
                "create_matview",
                "drop_view",
                "rename_view",
                "create_function",
                "overload_function",
                "drop_function",
                "rename_function",
                "create_procedure",
                "create_trigger",
                "drop_trigger",
                "create_enum",
                "add_enum_value",
                "rename_enum_value",
                "rename_type",
                "create_domain",
                "create_schema",
                "create_in_schema",
                "rename_schema",
                "drop_schema_cascade",
                "create_extension",
                "drop_table",
                "drop_table_cascade",
                "temp_table",
                "do_create",
                "do_write",
                "do_drop",
                "insert",
                "update",
                "delete",
                "truncate",
                "search_path",
                "comment",
            )
        )
    )
    new = fresh("n")
    created = written = None
    creation = False
    if kind == "create_table":
        body = draw(
            st.sampled_from(
                (
                    "id serial PRIMARY KEY, a int, b text",
                    "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int UNIQUE, b text CHECK (b <> '')",
                    "id int PRIMARY KEY, a int NOT NULL DEFAULT 0, b text",
                    "a int, b text, c timestamptz DEFAULT now()",
                )
            )
        )
        if table and draw(st.booleans()):
            body += f", ref int REFERENCES {table}" if "id" in columns and _has_pk(cat, table) else ""
        sql, creation, created = f"CREATE TABLE {new} ({body})", True, new
    elif kind == "create_partitioned":
        sql = (
            f"CREATE TABLE {new} (id int, a int, b text) PARTITION BY RANGE (id);"
            f" CREATE TABLE {new}_p1 PARTITION OF {new} FOR VALUES FROM (0) TO (1000)"
        )
        creation, created = True, new
    elif kind == "add_column" and table:
        sql, creation = f"ALTER TABLE {table} ADD COLUMN {new} int", True
    elif kind == "add_column_default" and table:
        sql, creation = f"ALTER TABLE {table} ADD COLUMN {new} text NOT NULL DEFAULT 'x'", True
    elif kind == "add_fk_column" and table and _has_pk(cat, table):
        sql, creation = f"ALTER TABLE {table} ADD COLUMN {new} int REFERENCES {table}", True
    elif kind == "drop_column" and column:
        sql = f"ALTER TABLE {table} DROP COLUMN {column}"
    elif kind == "drop_column_cascade" and column:
        sql = f"ALTER TABLE {table} DROP COLUMN {column} CASCADE"
    elif kind == "rename_column" and column:
        sql = f"ALTER TABLE {table} RENAME COLUMN {column} TO {new}"
    elif kind == "rename_table" and table:
        sql = f"ALTER TABLE {table} RENAME TO {new}"
    elif kind == "create_index" and column:
        sql, creation = f"CREATE INDEX {new} ON {table} ({column})", True
    elif kind == "create_unique_partial" and column:
        sql, creation = f"CREATE UNIQUE INDEX {new} ON {table} ({column}) WHERE {column} IS NOT NULL", True
    elif kind == "create_expression_index" and column:
        sql, creation = f"CREATE INDEX {new} ON {table} (({column}::text))", True
    elif kind == "drop_index" and cat.indexes:
        sql = f"DROP INDEX {_pick(draw, cat.indexes)[0]}"
    elif kind == "rename_index" and cat.indexes:
        sql = f"ALTER INDEX {_pick(draw, cat.indexes)[0]} RENAME TO {new}"
    elif kind == "unique_using_index" and column:
        sql = (
            f"CREATE UNIQUE INDEX {new}_idx ON {table} ({column});"
            f" ALTER TABLE {table} ADD CONSTRAINT {new} UNIQUE USING INDEX {new}_idx"
        )
        creation = True
    elif kind == "add_check" and column:
        sql, creation = f"ALTER TABLE {table} ADD CONSTRAINT {new} CHECK ({column} IS NOT NULL OR true)", True
    elif kind == "add_check_not_valid" and column:
        sql = (
            f"ALTER TABLE {table} ADD CONSTRAINT {new} CHECK ({column} IS NULL OR {column} IS NOT NULL) NOT VALID;"
            f" ALTER TABLE {table} VALIDATE CONSTRAINT {new}"
        )
    elif kind == "drop_constraint" and cat.constraints:
        owner, name = _pick(draw, cat.constraints)
        sql = f"ALTER TABLE {owner} DROP CONSTRAINT {name}" + (" CASCADE" if draw(st.booleans()) else "")
    elif kind == "set_not_null" and column:
        sql = f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL"
    elif kind == "drop_not_null" and column:
        sql = f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"
    elif kind == "alter_type" and column:
        sql = f"ALTER TABLE {table} ALTER COLUMN {column} TYPE text"
    elif kind == "set_default" and column:
        sql = f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT NULL"
    elif kind == "create_sequence":
        sql, creation = f"CREATE SEQUENCE {new}", True
    elif kind == "rename_sequence" and cat.sequences:
        sql = f"ALTER SEQUENCE {_pick(draw, cat.sequences)} RENAME TO {new}"
    elif kind == "drop_sequence" and cat.sequences:
        sql = f"DROP SEQUENCE {_pick(draw, cat.sequences)}"
    elif kind == "create_view" and table:
        sql, creation = f"CREATE VIEW {new} AS SELECT * FROM {table}", True
    elif kind == "create_matview" and table:
        sql, creation = f"CREATE MATERIALIZED VIEW {new} AS SELECT * FROM {table}", True
    elif kind == "drop_view" and cat.views:
        sql = f"DROP VIEW {_pick(draw, cat.views)}" + (" CASCADE" if draw(st.booleans()) else "")
    elif kind == "rename_view" and cat.views:
        sql = f"ALTER VIEW {_pick(draw, cat.views)} RENAME TO {new}"
    elif kind == "create_function":
        sql, creation = f"CREATE FUNCTION {new}(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'", True
    elif kind == "overload_function" and cat.functions:
        name = _pick(draw, cat.functions).split("(")[0]
        sql, creation = f"CREATE FUNCTION {name}(x text, y int) RETURNS text LANGUAGE sql AS 'SELECT x'", True
    elif kind == "drop_function" and cat.functions:
        sql = f"DROP FUNCTION {_pick(draw, cat.functions)}" + (" CASCADE" if draw(st.booleans()) else "")
    elif kind == "rename_function" and cat.functions:
        sql = f"ALTER FUNCTION {_pick(draw, cat.functions)} RENAME TO {new}"
    elif kind == "create_procedure":
        sql, creation = f"CREATE PROCEDURE {new}() LANGUAGE sql AS $$ SELECT 1 $$", True
    elif kind == "create_trigger" and table:
        sql = (
            f"CREATE FUNCTION {new}_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
            f" CREATE TRIGGER {new} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {new}_fn()"
        )
        creation = True
    elif kind == "drop_trigger" and cat.triggers:
        owner, name = _pick(draw, cat.triggers)
        sql = f"DROP TRIGGER {name} ON {owner}"
    elif kind == "create_enum":
        sql, creation = f"CREATE TYPE {new} AS ENUM ('a', 'b')", True
    elif kind == "add_enum_value" and cat.enums:
        sql, creation = f"ALTER TYPE {_pick(draw, cat.enums)} ADD VALUE IF NOT EXISTS 'z{new}'", True
    elif kind == "rename_enum_value" and cat.enums:
        sql = f"ALTER TYPE {_pick(draw, cat.enums)} RENAME VALUE 'a' TO '{new}'"
    elif kind == "rename_type" and cat.enums:
        sql = f"ALTER TYPE {_pick(draw, cat.enums)} RENAME TO {new}"
    elif kind == "create_domain":
        sql, creation = f"CREATE DOMAIN {new} AS int CONSTRAINT {new}_positive CHECK (VALUE > 0)", True
    elif kind == "create_schema":
        sql, creation = f"CREATE SCHEMA {new}", True
    elif kind == "create_in_schema" and len(cat.schemas) > 1:
        schema = _pick(draw, [s for s in cat.schemas if s != "public"])
        sql, creation, created = f"CREATE TABLE {schema}.{new} (id int PRIMARY KEY, v text)", True, f"{schema}.{new}"
    elif kind == "rename_schema" and len(cat.schemas) > 1:
        sql = f"ALTER SCHEMA {_pick(draw, [s for s in cat.schemas if s != 'public'])} RENAME TO {new}"
    elif kind == "drop_schema_cascade" and len(cat.schemas) > 1:
        sql = f"DROP SCHEMA {_pick(draw, [s for s in cat.schemas if s != 'public'])} CASCADE"
    elif kind == "create_extension":
        sql, creation = "CREATE EXTENSION IF NOT EXISTS pgcrypto", True
    elif kind == "drop_table" and table:
        sql = f"DROP TABLE {table}"
    elif kind == "drop_table_cascade" and table:
        sql = f"DROP TABLE {table} CASCADE"
    elif kind == "temp_table":
        sql, creation = f"CREATE TEMP TABLE {new} AS SELECT 1 AS x; INSERT INTO {new} VALUES (2)", True
    elif kind == "do_create":
        sql = f"DO $$ BEGIN EXECUTE 'CREATE TABLE {new} (id int PRIMARY KEY, v text)'; END $$"
        creation, created = True, new
    elif kind == "do_write" and table:
        sql = f"DO $$ BEGIN EXECUTE 'DELETE FROM {table} WHERE false'; END $$"
        creation, written = True, table
    elif kind == "do_drop" and table:
        sql = f"DO $$ BEGIN EXECUTE 'DROP TABLE {table} CASCADE'; END $$"
    elif kind == "insert" and table:
        sql = f"INSERT INTO {table} DEFAULT VALUES"
        creation, written = True, table
    elif kind == "update" and column:
        sql = f"UPDATE {table} SET {column} = {column}"
        creation, written = True, table
    elif kind == "delete" and table:
        sql = f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT 1)"
        creation, written = True, table
    elif kind == "truncate" and table:
        sql = f"TRUNCATE {table} CASCADE"
        creation, written = True, table
    elif kind == "search_path" and len(cat.schemas) > 1:
        sql = f"SET search_path = {_pick(draw, [s for s in cat.schemas if s != 'public'])}, public"
        creation = True
    elif kind == "comment" and table:
        sql, creation = f"COMMENT ON TABLE {table} IS 'generated'", False
    else:
        return None
    return sql, creation, created, written


def _has_pk(cat: Catalog, table: str) -> bool:
    return any(owner == table and name.endswith("_pkey") for owner, name in cat.constraints)


def _referencing(probe: psycopg.Connection, table: str) -> set[str]:
    """The tables whose foreign keys reference ``table`` (what TRUNCATE ... CASCADE empties too)."""
    rows = probe.execute(
        "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass",
        (table,),
    ).fetchall()
    return {r[0] for r in rows}


def migration(draw: Draw, probe: psycopg.Connection) -> Migration:
    """One migration of 1-4 statements, each kept only if PostgreSQL ran it on the probe.

    The catalog is read again only after a statement ran: one that did not fit or was rolled back
    left it as it was.
    """
    found = Migration()
    wanted = draw(st.integers(1, 4))
    with probe.transaction():
        cat = read_catalog(probe)
        for _ in range(wanted * 3):
            if len(found.statements) >= wanted:
                break
            proposal = candidate(draw, cat)
            if proposal is None:
                continue
            sql, creation, created, written = proposal
            if written is not None:
                found.written_tables |= {written, *(_referencing(probe, written) if "CASCADE" in sql else ())}
            try:
                with probe.transaction():
                    probe.execute(sql)
            except psycopg.Error:
                continue
            found.statements.append(sql)
            found.creation_only &= creation
            if created:
                found.created_tables.add(created)
            cat = read_catalog(probe)
    probe.execute("RESET ALL")
    return found


def concurrent_index(draw: Draw, probe: psycopg.Connection) -> Migration | None:
    """A no-transaction migration building an index concurrently, when a table has a column for it."""
    cat = read_catalog(probe)
    candidates = [(t, c) for t in cat.tables for c in cat.columns.get(t, []) if c != "id"]
    if not candidates:
        return None
    table, column = draw(st.sampled_from(candidates))
    sql = f"CREATE INDEX CONCURRENTLY {fresh('cic')} ON {table} ({column})"
    try:
        probe.execute(sql)
    except psycopg.Error:
        return None
    return Migration([sql], creation_only=True, no_transaction=True)
