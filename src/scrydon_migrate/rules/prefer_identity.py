"""serial is a legacy shorthand; identity columns are the SQL-standard, permission-safe form."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "prefer-identity"
SUMMARY = "serial / bigserial columns: prefer GENERATED ... AS IDENTITY"
SEVERITY = "warning"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for new in subject.new_columns:
        kind, column = new.type_name, new.column
        if kind in {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}:
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"column {column.colname!r} is {kind}: its sequence is a separate object with its own grants",
                "use an identity column",
                f"{column.colname} bigint GENERATED ALWAYS AS IDENTITY",
                at=column.location,
            )
