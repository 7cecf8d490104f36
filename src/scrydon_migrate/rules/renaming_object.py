"""Renaming a view, function, type, schema or enum value breaks the pods still using the old name."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import OBJECT_GROUPS, created_objects, object_name

RULE_ID = "renaming-object"
SUMMARY = "RENAME of a view, function, type, schema or enum value breaks the old release's queries"
SEVERITY = "warning"
KINDS = frozenset({"RenameStmt", "AlterEnumStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if subject.statement.kind == "AlterEnumStmt" and node.oldVal:
        described = f"value {node.oldVal!r} of enum {object_name(node.typeName)!r} to {node.newVal!r}"
        target = ("type", object_name(node.typeName))
    elif subject.statement.kind == "RenameStmt" and node.renameType.name in OBJECT_GROUPS:
        group = OBJECT_GROUPS[node.renameType.name]
        name = str(node.subname) if group == "schema" else object_name(node.relation or node.object)
        what = node.renameType.name.removeprefix("OBJECT_").replace("MATVIEW", "MATERIALIZED VIEW").lower()
        described = f"{what} {name!r} to {node.newname!r}"
        target = (group, name)
    else:
        return
    if target in created_objects(subject.earlier):
        return
    yield subject.finding(
        RULE_ID,
        Severity.WARNING,
        f"renaming {described} breaks the pods of the previous release that still use the old name",
        "create the new one beside the old (a view, function or type with the new name), move the code over "
        "releases, and drop the old one last",
    )
