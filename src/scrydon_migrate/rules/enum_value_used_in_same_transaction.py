"""A new enum value can't be used in the transaction that added it."""

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from scrydon_migrate.lint import Finding, Severity, Subject

if TYPE_CHECKING:
    from scrydon_migrate.analysis import Statement
    from scrydon_migrate.source import Migration

RULE_ID = "enum-value-used-in-same-transaction"
SUMMARY = "ALTER TYPE ... ADD VALUE followed by a use of the new value in the same transaction"
SEVERITY = "error"


def relevant(migration: "Migration") -> bool:
    """Only a transactional migration with an ``ALTER TYPE`` can use a value it added."""
    return migration.transactional and any(s.kind == "AlterEnumStmt" for s in migration.statements)


def check(subject: Subject) -> Iterator[Finding]:
    if not subject.migration.transactional:
        return
    added = _added_values(subject.earlier_of_kind("AlterEnumStmt"))
    if not added:
        return
    for literal, location in _string_literals(subject.node):
        if literal in added:
            yield subject.finding(
                RULE_ID,
                Severity.ERROR,
                f"enum value {literal!r} is used in the same transaction that added it: PostgreSQL refuses this "
                "(unsafe use of new value)",
                "add the value in a migration of its own, then use it in a later one",
                at=location,
            )
            return


def _added_values(statements: Sequence["Statement"]) -> set[str]:
    return {str(s.node.newVal) for s in statements if s.node.newVal and not s.node.oldVal}


def _string_literals(node: Any) -> list[tuple[str, int | None]]:
    """Each string constant of the statement with its source offset, where the parser keeps one."""
    from pglast import ast

    from scrydon_migrate.locks import nodes_of

    return [
        (str(const.val.sval), getattr(const, "location", None))
        for const in nodes_of(node, ast.A_Const)
        if hasattr(getattr(const, "val", None), "sval")
    ]
