"""An int key or identity runs out at 2^31 rows; bigint costs 4 bytes more and never does."""

from collections.abc import Iterator
from typing import Any

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import constraint_types, new_columns, type_name

RULE_ID = "prefer-bigint"
SUMMARY = "integer / smallint / serial primary keys and identity columns overflow; use bigint"
SEVERITY = "warning"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})
_SMALL = {"int4", "int2", "int", "integer", "smallint", "serial", "serial4", "smallserial", "serial2"}


def check(subject: Subject) -> Iterator[Finding]:
    table_keys = _table_primary_key(subject.node)
    for _table, column, _created in new_columns(subject.node):
        kind = type_name(column)
        keyish = (
            constraint_types(column) & {"CONSTR_PRIMARY", "CONSTR_IDENTITY"}
            or kind.startswith(("serial", "small"))
            or column.colname in table_keys
        )
        if kind in _SMALL and keyish:
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"column {column.colname!r} is a {kind} key or identity: it overflows at 2,147,483,647",
                "use bigint (bigint GENERATED ALWAYS AS IDENTITY for a generated key)",
                f"{column.colname} bigint GENERATED ALWAYS AS IDENTITY",
                at=column.location,
            )


def _table_primary_key(node: Any) -> set[str]:
    """Columns named by a table-level ``PRIMARY KEY (...)`` of a CREATE TABLE."""
    if type(node).__name__ != "CreateStmt":
        return set()
    return {
        str(key.sval)
        for element in node.tableElts or ()
        if type(element).__name__ == "Constraint" and element.contype.name == "CONSTR_PRIMARY"
        for key in element.keys or ()
    }
