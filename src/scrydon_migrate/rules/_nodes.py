"""Small readers of pglast nodes shared by several rules.

An enum member's name is read as ``_name_``, the attribute its ``name`` property returns: the property is
a Python call per read (Python 3.11), and these readers run on every column and ``ALTER TABLE`` subcommand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrydon_migrate.locks import relation_of
from scrydon_migrate.relations import Relation
from scrydon_migrate.trees import maker

if TYPE_CHECKING:
    from scrydon_migrate.analysis import Statement

#: The table a RangeVar names (or None), as the lock facts read it.
relation = relation_of


def type_name(column: Any) -> str:
    names = getattr(getattr(column, "typeName", None), "names", None) or ()
    return str(getattr(names[-1], "sval", "")).lower() if names else ""


def has_typmod(column: Any) -> bool:
    return bool(getattr(getattr(column, "typeName", None), "typmods", None))


def constraint_types(column: Any) -> frozenset[str]:
    return frozenset([c.contype._name_ for c in getattr(column, "constraints", None) or ()])


@dataclass(frozen=True, slots=True)
class NewColumn:
    """A column a CREATE TABLE or ADD COLUMN defines, with what the rules about column types ask of it."""

    table: Relation | None
    #: The ColumnDef node.
    column: Any
    #: The table is created by this statement (CREATE TABLE), not altered.
    created_here: bool
    type_name: str
    constraints: frozenset[str]


#: ``NewColumn(**fields)`` without a call per field (:func:`trees.maker`): one per column of CREATE / ADD COLUMN.
_new_column_of = maker(NewColumn)


def new_columns(node: Any) -> tuple[NewColumn, ...]:
    """The columns CREATE TABLE or ADD COLUMN defines, read once per statement (:attr:`Subject.new_columns`)."""
    kind = type(node).__name__
    if kind == "CreateStmt":
        table = relation(node.relation)
        return tuple(
            _new_column(table, element, True)
            for element in node.tableElts or ()
            if type(element).__name__ == "ColumnDef"
        )
    if kind == "AlterTableStmt":
        table = None
        found = []
        for cmd in node.cmds or ():
            if cmd.subtype._name_ == "AT_AddColumn":
                table = table or relation(node.relation)
                found.append(_new_column(table, cmd.def_, False))
        return tuple(found)
    return ()


def _new_column(table: Relation | None, column: Any, created_here: bool) -> NewColumn:
    """A ColumnDef with its type name and constraint kinds read once: five rules ask for them."""
    return _new_column_of(
        table=table,
        column=column,
        created_here=created_here,
        type_name=type_name(column),
        constraints=constraint_types(column),
    )


def alter_commands(node: Any, subtype: str) -> Iterator[tuple[Relation | None, Any]]:
    """The ``ALTER TABLE`` subcommands of one type, each with the table (read once, when the first is found)."""
    if type(node).__name__ != "AlterTableStmt":
        return
    found = [cmd for cmd in node.cmds or () if cmd.subtype._name_ == subtype]
    if found:
        table = relation(node.relation)
        for cmd in found:
            yield table, cmd


#: Object kinds application code names in its queries, grouped as one namespace each (a view and a
#: materialized view share the relation namespace; a domain is a type).
OBJECT_GROUPS = {
    "OBJECT_VIEW": "view",
    "OBJECT_MATVIEW": "view",
    "OBJECT_FUNCTION": "function",
    "OBJECT_PROCEDURE": "function",
    "OBJECT_ROUTINE": "function",
    "OBJECT_TYPE": "type",
    "OBJECT_DOMAIN": "type",
    "OBJECT_SCHEMA": "schema",
}


def object_name(item: Any) -> str:
    """The unqualified name of a dropped or renamed object as the parser gives it (String, list, TypeName, ...)."""
    names = getattr(item, "objname", None) or getattr(item, "names", None) or item
    if isinstance(names, tuple | list):
        names = names[-1] if names else None
    return str(getattr(names, "sval", None) or getattr(names, "relname", None) or "")


def created_object(node: Any) -> tuple[str, str] | None:
    """``(group, name)`` of the view, function, type or schema a statement creates, else None."""
    kind = type(node).__name__
    if kind == "ViewStmt":
        return "view", node.view.relname
    if kind == "CreateTableAsStmt" and node.objtype.name == "OBJECT_MATVIEW":
        return "view", node.into.rel.relname
    if kind == "CreateFunctionStmt":
        return "function", object_name(node.funcname)
    if kind == "CompositeTypeStmt":
        return "type", node.typevar.relname
    if kind in ("CreateEnumStmt", "CreateRangeStmt"):
        return "type", object_name(node.typeName)
    if kind == "CreateDomainStmt":
        return "type", object_name(node.domainname)
    if kind == "DefineStmt" and node.kind.name == "OBJECT_TYPE":
        return "type", object_name(node.defnames)
    if kind == "CreateSchemaStmt":
        return "schema", str(node.schemaname or "")
    return None


#: The statement kinds :func:`created_object` reads.
CREATING_KINDS = frozenset(
    {
        "ViewStmt",
        "CreateTableAsStmt",
        "CreateFunctionStmt",
        "CompositeTypeStmt",
        "CreateEnumStmt",
        "CreateRangeStmt",
        "CreateDomainStmt",
        "DefineStmt",
        "CreateSchemaStmt",
    }
)


def created_objects(statements: Iterable[Statement]) -> set[tuple[str, str]]:
    """What these statements create, reading the trees of only those that can create a view, type, ..."""
    return {
        found
        for statement in statements
        if statement.kind in CREATING_KINDS and (found := created_object(statement.node)) is not None
    }
