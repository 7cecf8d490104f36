"""Small readers of pglast nodes shared by several rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrydon_migrate.relations import Relation


def relation(node: Any) -> Relation | None:
    if node is None or getattr(node, "relname", None) is None:
        return None
    return Relation(getattr(node, "schemaname", None) or None, node.relname)


def type_name(column: Any) -> str:
    names = getattr(getattr(column, "typeName", None), "names", None) or ()
    return str(getattr(names[-1], "sval", "")).lower() if names else ""


def has_typmod(column: Any) -> bool:
    return bool(getattr(getattr(column, "typeName", None), "typmods", None))


def constraint_types(column: Any) -> set[str]:
    return {c.contype.name for c in getattr(column, "constraints", None) or ()}


def new_columns(node: Any) -> Iterator[tuple[Relation | None, Any, bool]]:
    """``(table, ColumnDef, table_is_created_here)`` for CREATE TABLE columns and ADD COLUMN."""
    kind = type(node).__name__
    if kind == "CreateStmt":
        table = relation(node.relation)
        for element in node.tableElts or ():
            if type(element).__name__ == "ColumnDef":
                yield table, element, True
    elif kind == "AlterTableStmt":
        table = relation(node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype.name == "AT_AddColumn":
                yield table, cmd.def_, False


def alter_commands(node: Any, subtype: str) -> Iterator[tuple[Relation | None, Any]]:
    if type(node).__name__ != "AlterTableStmt":
        return
    table = relation(node.relation)
    for cmd in node.cmds or ():
        if cmd.subtype.name == subtype:
            yield table, cmd
