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
    from scrydon_migrate.locks import Risk
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
        if _not_null_is_checked(risk, size, planned_checks):
            continue
        found.append(Violation(migration, statement, risk, size))
    return found


def _not_null_is_checked(risk: Risk, size: TableSize, planned_checks: set[tuple[str, str]]) -> bool:
    """SET NOT NULL skips its scan when a validated CHECK (col IS NOT NULL) exists or is added first."""
    if risk.rule != "require-check-before-not-null" or risk.table is None or risk.column is None:
        return False
    return risk.column in size.has_not_null_check or (risk.table.name, risk.column) in planned_checks


_SIZES = """
SELECT r.name, c.relname, c.reltuples::bigint, pg_relation_size(c.oid), pg_total_relation_size(c.oid),
       ARRAY(SELECT a.attname FROM pg_constraint k JOIN pg_attribute a
               ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
              WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated AND cardinality(k.conkey) = 1
                AND pg_get_constraintdef(k.oid) = 'CHECK ((' || quote_ident(a.attname) || ' IS NOT NULL))')
  FROM unnest(%s::text[]) AS r(name)
  JOIN LATERAL (SELECT to_regclass(r.name) AS oid) x ON true
  LEFT JOIN pg_index i ON i.indexrelid = x.oid
  JOIN pg_class c ON c.oid = coalesce(i.indrelid, x.oid)
"""


def read_sizes(conn: psycopg.Connection, relations: Iterable[Relation]) -> dict[Relation, TableSize]:
    """Sizes of the tables behind ``relations`` (an index counts as its table), in one query."""
    wanted = {r.regclass: r for r in relations}
    if not wanted:
        return {}
    sizes = {}
    for name, table, tuples, heap_bytes, total_bytes, checked in conn.execute(_SIZES, (list(wanted),)).fetchall():
        rows = tuples if tuples >= 0 else heap_bytes // _ASSUMED_ROW_BYTES
        sizes[wanted[name]] = TableSize(table, int(rows), int(total_bytes), frozenset(checked or ()))
    return sizes


def enforce(conn: psycopg.Connection, migrations: Sequence[Migration], thresholds: Thresholds) -> None:
    """Refuse the pending migrations if one takes a lock-the-table step on a large table."""
    steps = risky_steps(migrations)
    if not steps:
        return
    sizes = read_sizes(conn, {t for _, _, risk in steps if (t := _targets(risk)) is not None})
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
