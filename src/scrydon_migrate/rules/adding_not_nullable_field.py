"""ADD COLUMN ... NOT NULL without a DEFAULT fails as soon as the table has a row."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "adding-not-nullable-field"
SUMMARY = "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows"
SEVERITY = "error"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for new in subject.new_columns:
        table, column, kinds = new.table, new.column, new.constraints
        if new.created_here or "CONSTR_NOTNULL" not in kinds or subject.is_new(table):
            continue
        if kinds & {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}:
            continue
        name = table.display if table else "the table"
        yield subject.finding(
            RULE_ID,
            Severity.ERROR,
            f"ADD COLUMN {column.colname} NOT NULL without a DEFAULT on {name!r} fails if the table has any row",
            "add it NULL, fill it with a backfill, then add a validated CHECK and SET NOT NULL in later migrations",
            f"ALTER TABLE {name} ADD COLUMN {column.colname} <type> NULL;",
            at=column.location,
        )
