"""Dropping a view, function, type or schema the previous release still uses breaks it during a rolling update."""

from collections.abc import Iterator
from typing import Any

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import OBJECT_GROUPS, created_objects, object_name

RULE_ID = "ban-drop-object"
SUMMARY = "DROP VIEW / FUNCTION / PROCEDURE / TYPE / DOMAIN / SCHEMA the old release may still use"
SEVERITY = "warning"
KINDS = frozenset({"DropStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.removeType.name not in OBJECT_GROUPS:
        return
    group = OBJECT_GROUPS[node.removeType.name]
    created = created_objects(subject.earlier)
    recreated = _recreated_later(subject)
    kind = node.removeType.name.removeprefix("OBJECT_").replace("MATVIEW", "MATERIALIZED VIEW")
    for item in node.objects or ():
        name = object_name(item)
        if (group, name) in created or (group, name) in recreated or _trigger_function(subject, group, name):
            continue
        yield subject.finding(
            RULE_ID,
            Severity.WARNING,
            f"DROP {kind} {name!r}: pods of the previous release may still use it while the new one rolls out"
            + (" (CASCADE drops every object in it)" if group == "schema" else ""),
            "stop using it in one release, drop it in a later one; allow it with a reason when that is done",
        )


def _recreated_later(subject: Subject) -> set[tuple[str, str]]:
    """Objects created again later in the same transaction: a drop-and-recreate that readers never see missing."""
    if not subject.migration.transactional:
        return set()
    return created_objects(subject.migration.statements[subject.statement.index + 1 :])


def _trigger_function(subject: Subject, group: str, name: str) -> bool:
    """A function created ``RETURNS trigger`` (here or before): only triggers call it, never application code."""
    if group != "function":
        return False
    statements = [s for m in subject.history if m.version < subject.migration.version for s in m.statements]
    statements += subject.earlier
    return any(_returns_trigger(s.node, name) for s in statements if s.kind == "CreateFunctionStmt")


def _returns_trigger(node: Any, name: str) -> bool:
    returns = object_name(node.returnType) if node.returnType is not None else ""
    return object_name(node.funcname) == name and returns in ("trigger", "event_trigger")
