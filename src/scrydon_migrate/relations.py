"""Names of tables and indexes as migrations write them, and when two of them mean the same relation.

Kept apart from :mod:`scrydon_migrate.locks` so that code on the start-up path can compare
names without importing the SQL parser.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Relation:
    """A table or index name as written: ``schema.name`` or ``name``."""

    schema: str | None
    name: str

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def regclass(self) -> str:
        """Text for ``to_regclass()``: each part double-quoted, case kept."""
        parts = [self.schema, self.name] if self.schema else [self.name]
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def same_relation(a: Relation, b: Relation, default_schema: str = "public") -> bool:
    """Whether two names written in migrations mean the same relation (unqualified = default schema)."""
    return a.name == b.name and (a.schema or default_schema) == (b.schema or default_schema)


def on_path(relation: Relation, path: tuple[str, ...] | None) -> Relation:
    """``relation`` as the migration's own ``SET search_path`` places an unqualified name: in the path's
    first schema (``"$user"``, which names no schema a file can know, passed over); unchanged without one."""
    if relation.schema is not None or not path:
        return relation
    schema = next((s for s in path if s != "$user"), None)
    return Relation(schema, relation.name) if schema else relation


def created_here(relation: Relation, created: set[Relation]) -> bool:
    """``relation`` was created earlier in the same migration (so locking it blocks nobody)."""
    return any(same_relation(relation, c) for c in created)
