"""timestamp without time zone loses the zone; timestamptz stores an instant."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "prefer-timestamptz"
SUMMARY = "timestamp (without time zone) columns: prefer timestamptz"
SEVERITY = "warning"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for new in subject.new_columns:
        column = new.column
        if new.type_name == "timestamp":
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"column {column.colname!r} is timestamp without time zone: it stores a wall-clock reading, "
                "not an instant, and changing it later rewrites the table",
                "use timestamptz",
                f"{column.colname} timestamptz",
                at=column.location,
            )
