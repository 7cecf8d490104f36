"""DROP NOT NULL lets NULLs in that the previous release's code does not expect."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import alter_commands

RULE_ID = "ban-drop-not-null"
SUMMARY = "ALTER COLUMN ... DROP NOT NULL lets in NULLs the previous release's code does not expect"
SEVERITY = "warning"
KINDS = frozenset({"AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for table, cmd in alter_commands(subject.node, "AT_DropNotNull"):
        if table is None or subject.is_new(table) or _stopped_using(subject, f"{table.name}.{cmd.name}"):
            continue
        yield subject.finding(
            RULE_ID,
            Severity.WARNING,
            f"dropping NOT NULL on {cmd.name!r} of {table.display if table else 'the table'!r} lets new rows "
            "hold NULL there, which the pods of the previous release may not handle",
            "ship the code that copes with NULL first, in an earlier release, then drop the constraint; "
            "if it already does, allow it with the reason",
            at=subject.command_at(cmd),
        )


def _stopped_using(subject: Subject, target: str) -> bool:
    """A column the code stopped using (``-- migrate:stops-using``, here or before) may lose its NOT NULL."""
    return any(
        d.name == "stops-using" and d.args.strip() == target
        for m in (*subject.history, subject.migration)
        for d in m.directives
    )
