"""ADD VALUE without BEFORE / AFTER puts the new value last in the enum's sort order, whatever it means."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import object_name

RULE_ID = "require-enum-value-ordering"
SUMMARY = "ALTER TYPE ... ADD VALUE without BEFORE / AFTER sorts the new value after every existing one"
SEVERITY = "info"
KINDS = frozenset({"AlterEnumStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.oldVal or not node.newVal or node.newValNeighbor:
        return
    enum = object_name(node.typeName)
    yield subject.finding(
        RULE_ID,
        Severity.INFO,
        f"enum value {node.newVal!r} is appended to {enum!r}: ORDER BY, <, > and range checks on the column put "
        "it after every existing value, and an enum's order can never be changed afterwards",
        "say where it belongs with BEFORE or AFTER an existing value; if last is right, the finding is only a reminder",
        f"ALTER TYPE {enum} ADD VALUE {node.newVal!r} AFTER '<existing value>';",
    )
