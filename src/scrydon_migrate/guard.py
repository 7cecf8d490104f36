"""The apply-time guard: refuse a lock-the-table step on a table that is large now.

Before ``up`` runs anything, every pending statement's lock risks (from
:mod:`scrydon_migrate.locks`) are checked against the live size of their table, read
in one query. A risky step on a large table is refused with what it locks, for how
long, the safe way to write it, and the escape hatch
``-- migrate:allow <rule-id> reason="..."``. Tables created earlier in the same
migration are exempt, and so are tables that do not exist yet.

:func:`violations` is pure; :func:`read_sizes` is the one catalog round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrydon_migrate.errors import UnsafeOperation
from scrydon_migrate.relations import created_here

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.analysis import Statement
    from scrydon_migrate.locks import Risk, TypeChange
    from scrydon_migrate.relations import Relation
    from scrydon_migrate.source import Migration

DEFAULT_LARGE_TABLE_ROWS = 1_000_000
DEFAULT_LARGE_TABLE_BYTES = 512 * 1024 * 1024
_ASSUMED_ROW_BYTES = 100


@dataclass(frozen=True, slots=True)
class TableSize:
    """A table's estimated rows and total size (with indexes and TOAST) now."""

    table: str
    rows: int
    bytes: int
    has_not_null_check: frozenset[str] = frozenset()
    #: The pending type changes of its columns that PostgreSQL makes without rewriting the table.
    rewrite_free: frozenset[TypeChange] = frozenset()
    #: Of the functions pending DEFAULTs call, those that are VOLATILE (pg_proc, or created so before).
    volatile_functions: frozenset[str] = frozenset()

    def describe(self) -> str:
        return f"~{self.rows:,} rows, {_human_bytes(self.bytes)} now"


@dataclass(frozen=True, slots=True)
class Thresholds:
    rows: int = DEFAULT_LARGE_TABLE_ROWS
    bytes: int = DEFAULT_LARGE_TABLE_BYTES

    def is_large(self, size: TableSize) -> bool:
        return size.rows >= self.rows or size.bytes >= self.bytes


@dataclass(frozen=True, slots=True)
class Violation:
    migration: Migration
    statement: Statement
    risk: Risk
    size: TableSize

    @property
    def message(self) -> str:
        return (
            f"{self.risk.what} on {self.size.table!r} takes a{'n' if self.risk.lock[0] in 'AEIOU' else ''} "
            f"{self.risk.lock} lock that blocks {self.risk.blocks} {self.risk.why} "
            f"(table is {self.size.describe()}): migration {self.migration.file.version_text} "
            f"({self.migration.file.file}), line {self.statement.line}"
        )

    @property
    def hint(self) -> str:
        return (
            f"Instead, use: {self.risk.instead}  "
            f'If this is deliberate, put above the statement: -- migrate:allow {self.risk.rule} reason="..."'
        )


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _targets(risk: Risk) -> Relation | None:
    return risk.table or risk.index


def risky_steps(migrations: Sequence[Migration]) -> list[tuple[Migration, Statement, Risk]]:
    """Every risk not exempted: table created earlier in its migration, or an allow comment."""
    steps = []
    for migration in migrations:
        created: set[Relation] = set()
        for statement in migration.runnable:
            for risk in statement.locks.risks:
                target = _targets(risk)
                if target is None or created_here(target, created):
                    continue
                if migration.allowed(risk.rule, statement.index):
                    continue
                steps.append((migration, statement, risk))
            created.update(statement.locks.creates)
    return steps


def planned_not_null_checks(migrations: Iterable[Migration]) -> set[tuple[str, str]]:
    """``(table, column)`` pairs that get a *validated* ``CHECK (col IS NOT NULL)`` from these statements.

    A NOT VALID one counts only once a later statement validates it: until then SET NOT NULL still
    scans the table.
    """
    statements = [s for m in migrations for s in m.statements]
    validated = {name for s in statements for name in s.locks.validates}
    return {
        (check.table.name, check.column)
        for s in statements
        for check in s.locks.not_null_checks
        if check.validated or check.name in validated
    }


def violations(
    steps: Sequence[tuple[Migration, Statement, Risk]],
    sizes: Mapping[Relation, TableSize],
    thresholds: Thresholds,
    planned_checks: set[tuple[str, str]],
) -> list[Violation]:
    """The risky steps whose table is large now. Pure."""
    found = []
    for migration, statement, risk in steps:
        target = _targets(risk)
        size = sizes.get(target) if target else None
        if size is None or not thresholds.is_large(size):
            continue
        if _not_null_is_checked(risk, size, planned_checks) or rewrite_free(risk, size):
            continue
        if not default_may_rewrite(risk, size):
            continue
        found.append(Violation(migration, statement, risk, size))
    return found


def _not_null_is_checked(risk: Risk, size: TableSize, planned_checks: set[tuple[str, str]]) -> bool:
    """SET NOT NULL skips its scan when a validated CHECK (col IS NOT NULL) exists or is added first."""
    if risk.rule != "require-check-before-not-null" or risk.table is None or risk.column is None:
        return False
    return risk.column in size.has_not_null_check or (risk.table.name, risk.column) in planned_checks


def rewrite_free(risk: Risk, size: TableSize) -> bool:
    """A type change the server makes in place (binary-coercible cast, wider typmod): no rewrite, no refusal."""
    return risk.type_change is not None and risk.type_change in size.rewrite_free


def default_may_rewrite(risk: Risk, size: TableSize | None) -> bool:
    """A DEFAULT calling functions of unknown volatility rewrites only if the server says one is VOLATILE.

    Offline (no size, no pg_proc) it is given the benefit of the doubt; the lock budget still holds at run time.
    """
    if not risk.functions:
        return True
    return size is not None and not size.volatile_functions.isdisjoint(risk.functions)


_VOLATILE = """
SELECT DISTINCT p.proname FROM pg_proc p
 WHERE p.proname = ANY(%s::text[]) AND p.provolatile = 'v' AND pg_function_is_visible(p.oid)
"""


def _volatile_functions(conn: psycopg.Connection, pending: Sequence[Migration]) -> frozenset[str]:
    statements = [s for m in pending for s in m.statements]
    called = {f for s in statements for r in s.locks.risks for f in r.functions}
    if not called:
        return frozenset()
    created = {f for s in statements for f in s.locks.defines_volatile}
    found = {row[0] for row in conn.execute(_VOLATILE, (sorted(called),)).fetchall()}
    return frozenset(called & (found | created))


#: Types whose length coercion PostgreSQL drops when the new typmod is no narrower (their support functions).
_WIDENABLE = frozenset({"varchar", "numeric", "varbit", "timestamp", "timestamptz"})

_COLUMN_TYPES = """
SELECT c.name, c.col, c.type_name, t.typname, a.atttypmod, a.atttypid = n.oid,
       EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = a.atttypid AND k.casttarget = n.oid
                                       AND k.castmethod = 'b')
  FROM unnest(%s::text[], %s::text[], %s::text[]) AS c(name, col, type_name)
  JOIN pg_attribute a ON a.attrelid = to_regclass(c.name) AND a.attname = c.col AND NOT a.attisdropped
  JOIN LATERAL (SELECT to_regtype(c.type_name) AS oid) n ON n.oid IS NOT NULL
  JOIN pg_type t ON t.oid = a.atttypid
"""


def _widens(typname: str, old_typmod: int, new_mods: tuple[int, ...]) -> bool:
    """Same type, new typmod: whether PostgreSQL's length-coercion support function skips the rewrite."""
    if not new_mods:
        return old_typmod < 0 or typname in _WIDENABLE
    if old_typmod < 0 or typname not in _WIDENABLE:
        return False
    if typname == "varchar":
        return new_mods[0] + 4 >= old_typmod
    if typname == "numeric":
        precision, scale = ((old_typmod - 4) >> 16) & 0xFFFF, (old_typmod - 4) & 0xFFFF
        return (new_mods[1] if len(new_mods) > 1 else 0) == scale and new_mods[0] >= precision
    return new_mods[0] >= old_typmod


def _rewrite_free_changes(conn: psycopg.Connection, changes: Sequence[TypeChange]) -> set[TypeChange]:
    """Ask the server, per change: same type with a no-narrower typmod, or a binary-coercible cast (pg_cast)."""
    plain = [c for c in changes if not c.using]
    if not plain:
        return set()
    by_key = {(c.table.regclass, c.column, c.type_name): c for c in plain}
    names, columns, types = zip(*by_key, strict=True)
    free = set()
    query = (_COLUMN_TYPES, (list(names), list(columns), list(types)))
    for name, column, type_name, typname, old_typmod, same, binary in conn.execute(*query).fetchall():
        change = by_key[(name, column, type_name)]
        if (same and _widens(typname, old_typmod, change.typmods)) or (binary and not change.typmods):
            free.add(change)
    return free


#: Rows: the last ANALYZE's reltuples, or, once the table has grown by more than a tenth since, its density
#: times the pages there are now (as the planner scales it), or the live-row counter if higher: a stale
#: reltuples of 1,000 can't hide 2.5 M rows inserted since.
_SIZES = """
SELECT r.name, c.relname,
       greatest(CASE WHEN c.reltuples >= 0 AND c.relpages > 0 AND p.pages <= c.relpages * 1.1 THEN c.reltuples
                     WHEN c.reltuples >= 0 AND c.relpages > 0 THEN c.reltuples / c.relpages * p.pages
                     ELSE pg_relation_size(c.oid) / %s END,
                pg_stat_get_live_tuples(c.oid))::bigint,
       pg_total_relation_size(c.oid),
       ARRAY(SELECT a.attname FROM pg_constraint k JOIN pg_attribute a
               ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
              WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated AND cardinality(k.conkey) = 1
                AND pg_get_constraintdef(k.oid) = 'CHECK ((' || quote_ident(a.attname) || ' IS NOT NULL))')
  FROM unnest(%s::text[]) AS r(name)
  JOIN LATERAL (SELECT to_regclass(r.name) AS oid) x ON true
  LEFT JOIN pg_index i ON i.indexrelid = x.oid
  JOIN pg_class c ON c.oid = coalesce(i.indrelid, x.oid)
  CROSS JOIN LATERAL (SELECT pg_relation_size(c.oid) / current_setting('block_size')::int AS pages) p
"""


def read_sizes(
    conn: psycopg.Connection, relations: Iterable[Relation], pending: Sequence[Migration] = ()
) -> dict[Relation, TableSize]:
    """Sizes of the tables behind ``relations`` (an index counts as its table), with the server's view of
    the ``pending`` migrations' type changes and default functions."""
    wanted = {r.regclass: r for r in relations}
    if not wanted:
        return {}
    changes = [r.type_change for m in pending for s in m.statements for r in s.locks.risks if r.type_change]
    free = _rewrite_free_changes(conn, changes)
    volatile = _volatile_functions(conn, pending)
    sizes = {}
    query = (_SIZES, (_ASSUMED_ROW_BYTES, list(wanted)))
    for name, table, rows, total_bytes, checked in conn.execute(*query).fetchall():
        relation = wanted[name]
        in_place = frozenset(c for c in free if c.table == relation)
        sizes[relation] = TableSize(table, int(rows), int(total_bytes), frozenset(checked or ()), in_place, volatile)
    return sizes


def search_paths(migration: Migration) -> dict[int, tuple[str, ...]]:
    """Statement index -> the search_path an earlier ``SET search_path`` of the same migration put in effect."""
    paths: dict[int, tuple[str, ...]] = {}
    current: tuple[str, ...] | None = None
    for statement in migration.statements:
        if current is not None:
            paths[statement.index] = current
        if statement.locks.sets_search_path:
            current = statement.locks.search_path
    return paths


_RESOLVE = """
SELECT r.i, (SELECT n.nspname
               FROM jsonb_array_elements_text(r.path::jsonb) WITH ORDINALITY AS p(schema, o)
               JOIN pg_namespace n ON n.nspname = CASE WHEN p.schema = '$user' THEN current_user ELSE p.schema END
               JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.name
              ORDER BY p.o LIMIT 1)
  FROM unnest(%s::int[], %s::text[], %s::text[]) AS r(i, name, path)
"""


def _resolve_search_paths(
    conn: psycopg.Connection, steps: list[tuple[Migration, Statement, Risk]]
) -> list[tuple[Migration, Statement, Risk]]:
    """Qualify unqualified targets the way the server will, under the migration's own ``SET search_path``."""
    import json
    from dataclasses import replace

    paths = {m.version: search_paths(m) for m in {m.version: m for m, _, _ in steps}.values()}
    asked = [
        (i, target.name, json.dumps(path))
        for i, (migration, statement, risk) in enumerate(steps)
        if (path := paths[migration.version].get(statement.index)) is not None
        and (target := _targets(risk)) is not None
        and target.schema is None
    ]
    if not asked:
        return steps
    found: dict[int, str | None] = dict(conn.execute(_RESOLVE, tuple(map(list, zip(*asked, strict=True)))).fetchall())
    resolved = list(steps)
    for i, schema in found.items():
        if schema is None:
            continue
        migration, statement, risk = steps[i]
        table = replace(risk.table, schema=schema) if risk.table else None
        index = replace(risk.index, schema=schema) if risk.index else None
        resolved[i] = (migration, statement, replace(risk, table=table, index=index))
    return resolved


def enforce(conn: psycopg.Connection, migrations: Sequence[Migration], thresholds: Thresholds) -> None:
    """Refuse the pending migrations if one takes a lock-the-table step on a large table."""
    steps = risky_steps(migrations)
    if not steps:
        return
    steps = _resolve_search_paths(conn, steps)
    targets = {t for _, _, risk in steps if (t := _targets(risk)) is not None}
    sizes = read_sizes(conn, targets, migrations)
    found = violations(steps, sizes, thresholds, planned_not_null_checks(migrations))
    if not found:
        return
    first = found[0]
    raise UnsafeOperation(
        first.message,
        hint=first.hint,
        service=first.migration.file.service,
        version=first.migration.file.version_text,
        file=str(first.migration.file.path),
        line=first.statement.line,
        rule=first.risk.rule,
        table=first.size.table,
        statement=first.statement.text,
        violations=len(found),
    )
