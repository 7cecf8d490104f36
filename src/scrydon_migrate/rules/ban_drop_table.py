"""Dropping a table the previous release may still read breaks it during a rolling update, and loses data."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.relations import Relation

RULE_ID = "ban-drop-table"
SUMMARY = "DROP TABLE of an existing table: data loss, and the old release may still use it"
SEVERITY = "warning"
KINDS = frozenset({"DropStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.removeType.name != "OBJECT_TABLE":
        return
    for obj in node.objects or ():
        parts = [str(p.sval) for p in obj if hasattr(p, "sval")]
        table = Relation(parts[-2] if len(parts) > 1 else None, parts[-1])
        if subject.is_new(table):
            continue
        yield subject.finding(
            RULE_ID,
            Severity.WARNING,
            f"DROP TABLE {table.display!r} deletes its data, and pods of the previous release may still use it",
            "stop using it in one release, drop it in a later one; allow it with a reason when that is done",
        )
