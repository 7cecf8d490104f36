"""An int key or identity runs out at 2^31 rows; bigint costs 4 bytes more and never does."""

from collections.abc import Iterator
from typing import Any

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "prefer-bigint"
SUMMARY = "integer / smallint / serial primary keys and identity columns overflow; use bigint"
SEVERITY = "warning"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})
_SMALL = {"int4", "int2", "int", "integer", "smallint", "serial", "serial4", "smallserial", "serial2"}


def check(subject: Subject) -> Iterator[Finding]:
    table_keys: set[str] | None = None
    for new in subject.new_columns:
        kind, column = new.type_name, new.column
        if kind not in _SMALL:
            continue
        if table_keys is None:
            table_keys = _table_primary_key(subject.node)
        if (
            new.constraints & {"CONSTR_PRIMARY", "CONSTR_IDENTITY"}
            or kind.startswith(("serial", "small"))
            or column.colname in table_keys
        ):
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
