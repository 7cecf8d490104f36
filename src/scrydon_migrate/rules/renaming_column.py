"""Renaming a column breaks the pods still running the previous release during a rolling update."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import relation

RULE_ID = "renaming-column"
SUMMARY = "RENAME COLUMN breaks the old release's queries during a rolling update"
SEVERITY = "warning"
KINDS = frozenset({"RenameStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.renameType.name != "OBJECT_COLUMN":
        return
    table = relation(node.relation)
    if subject.is_new(table):
        return
    yield subject.finding(
        RULE_ID,
        Severity.WARNING,
        f"renaming column {node.subname!r} of {table.display if table else 'the table'!r} to {node.newname!r} "
        "breaks the pods of the previous release that still use the old name",
        "deprecate it over releases instead: add the new column and keep both in sync, switch reads, drop the old",
        f"scrydon-migrate new deprecate-column --table {table.display if table else '<table>'} "
        f"--column {node.subname} --to {node.newname}",
    )
