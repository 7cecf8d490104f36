"""Renaming a table breaks the pods still running the previous release during a rolling update."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import relation

RULE_ID = "renaming-table"
SUMMARY = "RENAME of a table breaks the old release's queries during a rolling update"
SEVERITY = "warning"
KINDS = frozenset({"RenameStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.renameType.name != "OBJECT_TABLE":
        return
    table = relation(node.relation)
    if subject.is_new(table):
        return
    yield subject.finding(
        RULE_ID,
        Severity.WARNING,
        f"renaming table {table.display if table else ''!r} to {node.newname!r} breaks the pods of the "
        "previous release that still use the old name",
        "create the new table (or a view with the new name) and move over releases; drop the old one last",
    )
