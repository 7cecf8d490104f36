"""varchar(n) / char(n) limits are changed later by rewriting the table; text with a CHECK is not."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import has_typmod

RULE_ID = "prefer-text"
SUMMARY = "varchar(n) / char(n) columns: prefer text (with a CHECK on length if needed)"
SEVERITY = "warning"
KINDS = frozenset({"CreateStmt", "AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for new in subject.new_columns:
        kind, column = new.type_name, new.column
        if kind == "bpchar" or (kind == "varchar" and has_typmod(column)):
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"column {column.colname!r} has a length-limited type: raising the limit later needs a "
                "table rewrite for char(n), and padding surprises readers",
                "use text, with a CHECK (char_length(...) <= n) if a limit matters (NOT VALID first on big tables)",
                f"{column.colname} text",
                at=column.location,
            )
