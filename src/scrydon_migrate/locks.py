"""What a statement locks, and which lock-the-table steps it takes, read from its parse tree.

One classification shared by the apply-time guard (refuse a lock-the-table step on a
large table) and the linter: each :class:`Risk` has a permanent kebab-case rule id,
the lock it takes, what that lock blocks, and the safe way to write it with the
statement's own names. Never regex: the facts come from pglast's nodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pglast import ast, enums

from scrydon_migrate.relations import Relation
from scrydon_migrate.trees import maker

#: Functions whose value changes per row: a DEFAULT calling one rewrites the table.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "gen_random_bytes",
        "gen_salt",
        "random_normal",
        "statement_timestamp",
    }
)
SERIAL_TYPES = frozenset({"smallserial", "serial", "bigserial", "serial2", "serial4", "serial8"})

#: ALTER TABLE subcommands that take no lock blocking writes (SHARE UPDATE EXCLUSIVE or weaker).
_NON_BLOCKING_SUBCOMMANDS = frozenset(
    {
        enums.AlterTableType.AT_ValidateConstraint,
        enums.AlterTableType.AT_SetStatistics,
        enums.AlterTableType.AT_AttachPartition,
    }
)


#: The enum members the handlers compare with, read once: a member read through its class costs a lookup
#: on the class each time, and the ALTER TABLE handlers compare each subcommand and constraint with several.
_AT_AddColumn = enums.AlterTableType.AT_AddColumn
_AT_AddConstraint = enums.AlterTableType.AT_AddConstraint
_AT_AlterColumnType = enums.AlterTableType.AT_AlterColumnType
_AT_DetachPartition = enums.AlterTableType.AT_DetachPartition
_AT_SetExpression = enums.AlterTableType.AT_SetExpression
_AT_SetLogged = enums.AlterTableType.AT_SetLogged
_AT_SetNotNull = enums.AlterTableType.AT_SetNotNull
_AT_SetTableSpace = enums.AlterTableType.AT_SetTableSpace
_AT_SetUnLogged = enums.AlterTableType.AT_SetUnLogged
_AT_ValidateConstraint = enums.AlterTableType.AT_ValidateConstraint
_CONSTR_CHECK = enums.ConstrType.CONSTR_CHECK
_CONSTR_DEFAULT = enums.ConstrType.CONSTR_DEFAULT
_CONSTR_EXCLUSION = enums.ConstrType.CONSTR_EXCLUSION
_CONSTR_FOREIGN = enums.ConstrType.CONSTR_FOREIGN
_CONSTR_GENERATED = enums.ConstrType.CONSTR_GENERATED
_CONSTR_IDENTITY = enums.ConstrType.CONSTR_IDENTITY
_CONSTR_PRIMARY = enums.ConstrType.CONSTR_PRIMARY
_CONSTR_UNIQUE = enums.ConstrType.CONSTR_UNIQUE
_IS_NOT_NULL = enums.NullTestType.IS_NOT_NULL
_OBJECT_COLUMN = enums.ObjectType.OBJECT_COLUMN
_OBJECT_INDEX = enums.ObjectType.OBJECT_INDEX
_OBJECT_MATVIEW = enums.ObjectType.OBJECT_MATVIEW
_OBJECT_TABCONSTRAINT = enums.ObjectType.OBJECT_TABCONSTRAINT
_OBJECT_TABLE = enums.ObjectType.OBJECT_TABLE
_REINDEX_OBJECT_INDEX = enums.ReindexObjectType.REINDEX_OBJECT_INDEX
_VAR_SET_VALUE = enums.VariableSetKind.VAR_SET_VALUE


@dataclass(frozen=True, slots=True)
class TypeChange:
    """``ALTER COLUMN c TYPE t(mods)``: whether it rewrites the table is the server's call (guard asks it)."""

    table: Relation
    column: str
    type_name: str
    typmods: tuple[int, ...]
    using: bool


class SafeForm:
    """Advice quoting the statement rewritten safely, deparsed only when a message shows it.

    Most risks are exempted (a table created in the same migration, an allow, a small table) before
    anyone reads their advice; deparsing every CREATE INDEX and constraint up front cost a fifth of
    the lock analysis. ``flag`` is the attribute of ``node`` that the safe form sets (``concurrent``,
    ``skip_validation``).
    """

    __slots__ = ("_flag", "_node", "_text", "_words")

    def __init__(self, node: Any, flag: str, words: Callable[[str], str]) -> None:
        self._node, self._flag, self._words = node, flag, words
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            setattr(self._node, self._flag, True)
            try:
                self._text = self._words(_deparse(self._node))
            finally:
                setattr(self._node, self._flag, False)
        return self._text

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


@dataclass(frozen=True, slots=True)
class Risk:
    """A step that locks a table against writes for as long as the table is big."""

    rule: str
    what: str
    lock: str
    blocks: str
    why: str
    instead: str | SafeForm
    table: Relation | None = None
    index: Relation | None = None
    column: str | None = None
    type_change: TypeChange | None = None
    #: A DEFAULT calling these functions rewrites the table only if one is VOLATILE (the guard asks pg_proc).
    functions: tuple[str, ...] = ()
    #: Which ``ALTER TABLE`` subcommand of the statement takes it (-1: not one), so findings can point at it.
    command: int = -1


@dataclass(frozen=True, slots=True)
class NotNullCheck:
    """``CHECK (column IS NOT NULL)`` added to a table: validated at once, or NOT VALID."""

    table: Relation
    column: str
    name: str
    validated: bool


@dataclass(frozen=True, slots=True)
class LockFacts:
    risks: tuple[Risk, ...] = ()
    creates: tuple[Relation, ...] = ()
    #: Tables created ``IF NOT EXISTS``: new only if the name is free when the migration runs.
    creates_if_missing: tuple[Relation, ...] = ()
    write_locks: tuple[Relation, ...] = ()
    relations: tuple[Relation, ...] = ()
    not_null_checks: tuple[NotNullCheck, ...] = ()
    validates: tuple[str, ...] = ()
    not_valid_constraints: tuple[str, ...] = ()
    concurrent_index: Relation | None = None
    concurrent_drops: tuple[Relation, ...] = ()
    #: Tables whose rows an UPDATE / DELETE locks (against writers of those rows) until commit.
    row_writes: tuple[Relation, ...] = ()
    #: Functions this statement creates VOLATILE (the default), for defaults that call them later.
    defines_volatile: tuple[str, ...] = ()
    #: The statement sets the search_path: to these schemas, or back to the session's (``None``).
    sets_search_path: bool = False
    search_path: tuple[str, ...] | None = None


#: ``LockFacts(**fields)``, ``Risk(**fields)`` and ``Relation(**fields)`` as the handlers make them, once or more
#: per statement: without a call per field (:func:`trees.maker`).
_new_facts = maker(LockFacts)
_new_risk = maker(Risk)
_new_relation = maker(Relation)


def relation_of(node: Any) -> Relation | None:
    if node is None or getattr(node, "relname", None) is None:
        return None
    return _new_relation(schema=getattr(node, "schemaname", None) or None, name=node.relname)


def _names(items: Any) -> Relation:
    parts = [getattr(i, "sval", "") for i in items]
    return Relation(parts[-2] if len(parts) > 1 else None, parts[-1])


_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def _child_slots(kind: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold other nodes (pointers, lists, a constant's value)."""
    found = _CHILD_SLOTS.get(kind)
    if found is None:
        slots: dict[str, Any] = getattr(kind, "__slots__", None) or {}
        found = _CHILD_SLOTS[kind] = tuple(
            name
            for name, info in slots.items()
            if (info.c_type.endswith("*") and info.c_type != "char*") or info.c_type in ("ValUnion", "CreateStmt")
        )
    return found


def nodes_of(root: Any, kind: type) -> list[Any]:
    """Every node of class ``kind`` under ``root``, in the order pglast's Visitor finds them (breadth first).

    A plain loop over the attributes that can hold nodes: the Visitor's per-call introspection and
    generator protocol cost more than the rest of the lock analysis together.
    """
    found: list[Any] = []
    containers = (tuple, ast.Node)
    todo: deque[Any] = deque([root])
    while todo:
        item = todo.popleft()
        for node in item if type(item) is tuple else (item,):
            if isinstance(node, ast.Node):
                node_type = type(node)
                if node_type is kind:
                    found.append(node)
                names = _CHILD_SLOTS.get(node_type)  # () for a leaf: known, not read again
                for name in _child_slots(node_type) if names is None else names:
                    value = getattr(node, name)
                    if isinstance(value, containers):
                        todo.append(value)
            elif type(node) is tuple:
                todo.extend(value for value in node if isinstance(value, containers))
    return found


def _functions(node: Any) -> list[str]:
    if node is None:
        return []
    return [str(getattr(call.funcname[-1], "sval", "")).lower() for call in nodes_of(node, ast.FuncCall)]


def _deparse(node: Any) -> str:
    """``RawStream()(node)``: the same printer on the same tree, its ancestors set by :func:`_set_ancestors`.

    ``RawStream.__call__`` sets them through ``populate_ancestors``, which makes a ``Visitor`` class and
    introspects it on every call: more than the printing of a short statement.
    """
    from pglast.stream import RawStream

    _set_ancestors(node)
    stream = RawStream()
    stream.print_node(node)  # what ``__call__`` does with one node, after populating its ancestors
    return str(stream.getvalue())


def _set_ancestors(node: Any) -> None:
    """Each node's ``ancestors`` as ``pglast.visitors.populate_ancestors((node,))`` sets them (breadth first).

    The printers read them (``abs(node.ancestors)``, ``node.ancestors[1]``, ``.member``): each is the chain
    of (container, member) pairs from the root, a tuple's member its index, a node's member its slot name.
    """
    from pglast.visitors import Ancestor

    containers = (tuple, ast.Node)
    todo: deque[tuple[Any, Any]] = deque([(Ancestor(), (node,))])
    while todo:
        ancestors, item = todo.popleft()
        if not isinstance(item, tuple):
            _visit(item, ancestors, todo, Ancestor)
            continue
        for index, sub in enumerate(item):
            sub_ancestors = Ancestor(ancestors, item, index)
            if isinstance(sub, ast.Node):
                _visit(sub, sub_ancestors, todo, Ancestor)
            elif isinstance(sub, tuple):
                todo.extend(
                    (Ancestor(sub_ancestors, sub, sub_index), value)
                    for sub_index, value in enumerate(sub)
                    if isinstance(value, containers)
                )


def _visit(node: Any, ancestors: Any, todo: deque[tuple[Any, Any]], ancestor: type) -> None:
    """Set ``node``'s ancestors; queue its slots that hold nodes or tuples, each with its chain (an ``ancestor``).

    Only the slots :func:`_child_slots` names can (the others hold scalars and enums), in the class's order.
    """
    object.__setattr__(node, "ancestors", ancestors)
    node_type = type(node)
    members = _CHILD_SLOTS.get(node_type)
    for member in _child_slots(node_type) if members is None else members:
        value = getattr(node, member)
        if isinstance(value, (tuple, ast.Node)):
            todo.append((ancestor(ancestors, node, member), value))


def facts(node: Any, range_vars: Sequence[Any] | None = None) -> LockFacts:
    """The lock facts of one parsed statement; ``range_vars``: its ``nodes_of(node, RangeVar)``, when known."""
    named = nodes_of(node, ast.RangeVar) if range_vars is None else range_vars
    if len(named) < 2:  # most statements: no table or one, nothing to deduplicate
        only = relation_of(named[0]) if named else None
        relations: tuple[Relation, ...] = () if only is None else (only,)
    else:
        relations = tuple(dict.fromkeys(r for r in map(relation_of, named) if r is not None))
    handler = _HANDLERS.get(type(node).__name__)
    if handler is None:
        return _new_facts(relations=relations)
    result = handler(node)
    return _new_facts(
        risks=result.risks,
        creates=result.creates,
        creates_if_missing=result.creates_if_missing,
        write_locks=result.write_locks,
        relations=relations,
        not_null_checks=result.not_null_checks,
        validates=result.validates,
        not_valid_constraints=result.not_valid_constraints,
        concurrent_index=result.concurrent_index,
        concurrent_drops=result.concurrent_drops,
        row_writes=result.row_writes,
        defines_volatile=result.defines_volatile,
        sets_search_path=result.sets_search_path,
        search_path=result.search_path,
    )


def reads_constants(kind: str) -> bool:
    """Whether :func:`facts` of a statement of ``kind`` may depend on its constants (only its handler reads them)."""
    return kind in _HANDLERS


def _create_table(node: Any) -> LockFacts:
    """A new table: later steps on it lock nobody. IF NOT EXISTS may have found one existing: not counted."""
    relation = relation_of(node.relation)
    if relation is None:
        return _new_facts()
    return _new_facts(creates_if_missing=(relation,)) if node.if_not_exists else _new_facts(creates=(relation,))


def _create_table_as(node: Any) -> LockFacts:
    relation = relation_of(getattr(node.into, "rel", None))
    return _new_facts(creates=(relation,) if relation and not node.if_not_exists else ())


def _index(node: Any) -> LockFacts:
    table = relation_of(node.relation)
    if table is None:
        return _new_facts()
    index = Relation(table.schema, node.idxname) if node.idxname else None
    creates = (index,) if index and not node.if_not_exists else ()
    if node.concurrent:
        return _new_facts(concurrent_index=index, creates=creates)
    risk = _new_risk(
        rule="require-concurrent-index",
        what="CREATE INDEX",
        lock="SHARE",
        blocks="writes",
        why="for the whole index build",
        instead=SafeForm(
            node, "concurrent", lambda safe: f"{safe};  -- alone in a migration marked '-- migrate:no-transaction'"
        ),
        table=table,
    )
    return _new_facts(risks=(risk,), write_locks=(table,), creates=creates)


def _drop(node: Any) -> LockFacts:
    remove = node.removeType
    if remove == _OBJECT_TABLE:
        return _new_facts(write_locks=tuple(_names(o) for o in node.objects))
    if remove == _OBJECT_INDEX and node.concurrent:
        return _new_facts(concurrent_drops=tuple(_names(o) for o in node.objects))
    if remove != _OBJECT_INDEX:
        return _new_facts()
    risks = []
    for obj in node.objects:
        index = _names(obj)
        risks.append(
            _new_risk(
                rule="require-concurrent-index-drop",
                what="DROP INDEX",
                lock="ACCESS EXCLUSIVE",
                blocks="reads and writes",
                why="while it waits for and holds the lock",
                instead=f"DROP INDEX CONCURRENTLY {'IF EXISTS ' if node.missing_ok else ''}{index.display};"
                "  -- alone in a migration marked '-- migrate:no-transaction'",
                index=index,
            )
        )
    return _new_facts(risks=tuple(risks))


def _reindex(node: Any) -> LockFacts:
    if any(getattr(p, "defname", None) == "concurrently" for p in getattr(node, "params", None) or ()):
        return _new_facts()
    relation = relation_of(node.relation)
    if relation is None:
        kind = node.kind.name.removeprefix("REINDEX_OBJECT_")
        what = f"REINDEX {kind}" + (f" {node.name}" if getattr(node, "name", None) else "")
        return _new_facts(
            risks=(
                _new_risk(
                    rule="require-concurrent-reindex",
                    what=what,
                    lock="SHARE (on each table)",
                    blocks="writes",
                    why="table by table for the whole rebuild",
                    instead=f"{what} CONCURRENTLY;  -- alone in a migration marked '-- migrate:no-transaction'"
                    if kind != "SYSTEM"
                    else "reindex the tables that need it one by one, CONCURRENTLY",
                ),
            )
        )
    on_index = node.kind == _REINDEX_OBJECT_INDEX
    target = "INDEX" if on_index else "TABLE"
    risk = _new_risk(
        rule="require-concurrent-reindex",
        what=f"REINDEX {target}",
        lock="SHARE" if not on_index else "ACCESS EXCLUSIVE",
        blocks="writes" if not on_index else "reads and writes",
        why="for the whole rebuild",
        instead=f"REINDEX {target} CONCURRENTLY {relation.display};"
        "  -- alone in a migration marked '-- migrate:no-transaction'",
        table=None if on_index else relation,
        index=relation if on_index else None,
    )
    return _new_facts(risks=(risk,), write_locks=() if on_index else (relation,))


def _rewrite_command(what: str, relation: Relation | None, lock: str = "ACCESS EXCLUSIVE") -> LockFacts:
    if relation is None:
        return _new_facts()
    risk = _new_risk(
        rule="ban-table-rewrite",
        what=what,
        lock=lock,
        blocks="reads and writes",
        why="while it rewrites the whole table",
        instead="there is no online equivalent: run it in a maintenance window, or use pg_repack",
        table=relation,
    )
    return _new_facts(risks=(risk,), write_locks=(relation,))


def _vacuum(node: Any) -> LockFacts:
    if not any(getattr(o, "defname", None) == "full" for o in getattr(node, "options", None) or ()):
        return _new_facts()
    risks: list[Risk] = []
    locks: list[Relation] = []
    for rel in getattr(node, "rels", None) or ():
        result = _rewrite_command("VACUUM FULL", relation_of(getattr(rel, "relation", None)))
        risks.extend(result.risks)
        locks.extend(result.write_locks)
    return _new_facts(risks=tuple(risks), write_locks=tuple(locks))


def _cluster(node: Any) -> LockFacts:
    return _rewrite_command("CLUSTER", relation_of(node.relation))


def _trigger(node: Any) -> LockFacts:
    relation = relation_of(node.relation)
    return _new_facts(write_locks=(relation,) if relation else ())


def _rename(node: Any) -> LockFacts:
    relation = relation_of(getattr(node, "relation", None))
    if relation is None or node.renameType not in (
        _OBJECT_TABLE,
        _OBJECT_COLUMN,
        _OBJECT_TABCONSTRAINT,
    ):
        return _new_facts()
    return _new_facts(write_locks=(relation,))


def _truncate(node: Any) -> LockFacts:
    return _new_facts(write_locks=tuple(r for r in (relation_of(n) for n in node.relations) if r))


def _lock(node: Any) -> LockFacts:
    if node.mode < 5:  # below SHARE: writers pass
        return _new_facts()
    return _new_facts(write_locks=tuple(r for r in (relation_of(n) for n in node.relations) if r))


def _refresh(node: Any) -> LockFacts:
    relation = relation_of(node.relation)
    if node.concurrent or relation is None:
        return _new_facts()
    return _new_facts(write_locks=(relation,))


def _alter_table(node: Any) -> LockFacts:
    table = relation_of(node.relation)
    if table is None or node.objtype not in (_OBJECT_TABLE, _OBJECT_MATVIEW):
        return _new_facts()
    risks: list[Risk] = []
    checks: list[NotNullCheck] = []
    validated: list[str] = []
    not_valid: list[str] = []
    blocking = False
    for index, cmd in enumerate(node.cmds):
        subtype = cmd.subtype
        if subtype not in _NON_BLOCKING_SUBCOMMANDS:
            blocking = True
        risks.extend(replace(risk, command=index) for risk in _alter_table_risks(table, cmd))
        check = _not_null_check(table, cmd)
        if check is not None:
            checks.append(check)
        if subtype == _AT_ValidateConstraint and cmd.name:
            validated.append(cmd.name)
        if subtype == _AT_AddConstraint and cmd.def_.skip_validation and cmd.def_.conname:
            not_valid.append(cmd.def_.conname)
    return _new_facts(
        risks=tuple(risks),
        write_locks=(table,) if blocking else (),
        not_null_checks=tuple(checks),
        validates=tuple(validated),
        not_valid_constraints=tuple(not_valid),
    )


def _not_null_check(table: Relation, cmd: Any) -> NotNullCheck | None:
    """An added ``CHECK (col IS NOT NULL)``: once validated, SET NOT NULL skips its scan."""
    constraint = cmd.def_ if cmd.subtype == _AT_AddConstraint else None
    if constraint is None or constraint.contype != _CONSTR_CHECK:
        return None
    expr = constraint.raw_expr
    if not isinstance(expr, ast.NullTest) or expr.nulltesttype != _IS_NOT_NULL:
        return None
    fields = getattr(expr.arg, "fields", None) or ()
    if not fields or not hasattr(fields[-1], "sval"):
        return None
    return NotNullCheck(table, str(fields[-1].sval), constraint.conname or "", not constraint.skip_validation)


def _alter_table_risks(table: Relation, cmd: Any) -> list[Risk]:
    if cmd.subtype == _AT_AddColumn:
        return [r for r in (_add_column_risk(table, cmd.def_), *_inline_constraint_risks(table, cmd.def_)) if r]
    risk = _alter_table_risk(table, cmd)
    return [risk] if risk else []


def _inline_constraint_risks(table: Relation, column: Any) -> list[Risk | None]:
    """``ADD COLUMN c int UNIQUE`` / ``PRIMARY KEY`` / ``CHECK (...)`` lock like their ADD CONSTRAINT forms."""
    found: list[Risk | None] = []
    for constraint in getattr(column, "constraints", None) or ():
        if constraint.contype in (_CONSTR_UNIQUE, _CONSTR_PRIMARY):
            if not getattr(constraint, "keys", None):
                constraint.keys = (ast.String(sval=column.colname),)
            found.append(_constraint_risk(table, constraint))
        elif constraint.contype == _CONSTR_CHECK and not constraint.skip_validation:
            found.append(_constraint_risk(table, constraint))
        elif constraint.contype == _CONSTR_FOREIGN and _has_default(column):
            # A new all-NULL column is not validated; one filled by a DEFAULT is, row by row.
            if not getattr(constraint, "fk_attrs", None):
                constraint.fk_attrs = (ast.String(sval=column.colname),)
            found.append(_constraint_risk(table, constraint))
    return found


def _has_default(column: Any) -> bool:
    """A DEFAULT other than NULL: existing rows get a value, so constraints on the column check each one."""
    for constraint in getattr(column, "constraints", None) or ():
        if constraint.contype == _CONSTR_DEFAULT:
            expr = constraint.raw_expr
            return not (isinstance(expr, ast.A_Const) and getattr(expr, "isnull", False))
    return False


def _alter_table_risk(table: Relation, cmd: Any) -> Risk | None:
    subtype = cmd.subtype
    t = table.display
    if subtype == _AT_AlterColumnType:
        return _new_risk(
            type_change=_type_change(table, cmd),
            rule="ban-column-type-change",
            what="ALTER COLUMN TYPE",
            lock="ACCESS EXCLUSIVE",
            blocks="reads and writes",
            why="while it rewrites the table and its indexes (unless the new type is binary-compatible)",
            instead=f"add a new column of the new type to {t}, keep both in sync and backfill it, switch reads, "
            f"then drop {cmd.name!r} in a later release (scrydon-migrate new deprecate-column)",
            table=table,
            column=cmd.name,
        )
    if subtype == _AT_SetNotNull:
        name = f"{table.name}_{cmd.name}_not_null"
        return _new_risk(
            rule="require-check-before-not-null",
            what="SET NOT NULL",
            lock="ACCESS EXCLUSIVE",
            blocks="reads and writes",
            why="while it scans the whole table",
            instead=f"ALTER TABLE {t} ADD CONSTRAINT {name} CHECK ({cmd.name} IS NOT NULL) NOT VALID;  "
            f"then, in a later migration: ALTER TABLE {t} VALIDATE CONSTRAINT {name};  "
            f"then: ALTER TABLE {t} ALTER COLUMN {cmd.name} SET NOT NULL;",
            table=table,
            column=cmd.name,
        )
    if subtype == _AT_AddConstraint:
        return _constraint_risk(table, cmd.def_)
    if subtype in (_AT_SetTableSpace,):
        return _rewrite_command("SET TABLESPACE", table).risks[0]
    if subtype == _AT_SetExpression:
        return _rewrite_command("ALTER COLUMN ... SET EXPRESSION", table).risks[0]
    if subtype == _AT_DetachPartition and not getattr(cmd.def_, "concurrent", False):
        partition = relation_of(getattr(cmd.def_, "name", None))
        return _new_risk(
            rule="require-concurrent-partition-detach",
            what="DETACH PARTITION",
            lock="ACCESS EXCLUSIVE",
            blocks="reads and writes",
            why="on the whole partitioned table until the migration commits",
            instead=f"ALTER TABLE {t} DETACH PARTITION {partition.display if partition else '<partition>'} "
            "CONCURRENTLY;  -- alone in a migration marked '-- migrate:no-transaction' (PostgreSQL 14+)",
            table=table,
        )
    if subtype in (_AT_SetLogged, _AT_SetUnLogged):
        return _rewrite_command("SET LOGGED/UNLOGGED", table).risks[0]
    return None


def _type_change(table: Relation, cmd: Any) -> TypeChange | None:
    type_name = getattr(cmd.def_, "typeName", None)
    if type_name is None:
        return None
    name = ".".join(str(getattr(n, "sval", "")) for n in type_name.names) + "[]" * len(type_name.arrayBounds or ())
    mods = tuple(int(getattr(getattr(m, "val", None), "ival", -1)) for m in type_name.typmods or ())
    return TypeChange(table, str(cmd.name), name, mods, using=cmd.def_.raw_default is not None)


def _add_column_risk(table: Relation, column: Any) -> Risk | None:
    type_name = str(getattr(column.typeName.names[-1], "sval", "")).lower() if column.typeName else ""
    constraints = getattr(column, "constraints", None) or ()
    called = [f for c in constraints if c.contype == _CONSTR_DEFAULT for f in _functions(c.raw_expr)]
    volatile = [f for f in called if f in VOLATILE_FUNCTIONS]
    generated = any(c.contype in (_CONSTR_GENERATED, _CONSTR_IDENTITY) for c in constraints)
    maybe = () if volatile or generated or type_name in SERIAL_TYPES else tuple(dict.fromkeys(called))
    if not volatile and not maybe and not generated and type_name not in SERIAL_TYPES:
        return None
    cause = (
        f"a volatile DEFAULT ({(volatile or maybe)[0]}())"
        if volatile or maybe
        else f"a {type_name} column"
        if type_name in SERIAL_TYPES
        else "a generated or identity column"
    )
    t = table.display
    return _new_risk(
        rule="adding-field-with-volatile-default",
        what=f"ADD COLUMN with {cause}",
        lock="ACCESS EXCLUSIVE",
        blocks="reads and writes",
        why="while it rewrites the whole table to fill the new column",
        instead=f"ALTER TABLE {t} ADD COLUMN {column.colname} <type> NULL;  then set the default for new rows "
        f"(ALTER TABLE {t} ALTER COLUMN {column.colname} SET DEFAULT ...);  then fill existing rows with a backfill",
        table=table,
        column=column.colname,
        functions=maybe,
    )


def _constraint_risk(table: Relation, constraint: Any) -> Risk | None:
    t = table.display
    contype = constraint.contype
    if contype in (_CONSTR_FOREIGN, _CONSTR_CHECK) and not constraint.skip_validation:
        name = constraint.conname or "<constraint>"
        foreign = contype == _CONSTR_FOREIGN
        return _new_risk(
            rule="constraint-missing-not-valid",
            what="ADD FOREIGN KEY" if foreign else "ADD CHECK",
            lock="SHARE ROW EXCLUSIVE" if foreign else "ACCESS EXCLUSIVE",
            blocks="writes" if foreign else "reads and writes",
            why="while it scans the whole table to validate existing rows",
            instead=SafeForm(
                constraint,
                "skip_validation",
                lambda safe: (
                    f"ALTER TABLE {t} ADD {safe};  then, in a later migration: "
                    f"ALTER TABLE {t} VALIDATE CONSTRAINT {name};"
                ),
            ),
            table=table,
        )
    if contype == _CONSTR_EXCLUSION:
        return _new_risk(
            rule="ban-exclusion-constraint",
            what="ADD EXCLUDE",
            lock="ACCESS EXCLUSIVE",
            blocks="reads and writes",
            why="while it builds the constraint's index and checks every row against the others",
            instead="an exclusion constraint has no concurrent or USING INDEX form: add it in the migration that "
            "creates the table, or to a new table filled by a backfill, or in a maintenance window with an allow",
            table=table,
        )
    if contype in (_CONSTR_UNIQUE, _CONSTR_PRIMARY) and not constraint.indexname:
        kind = "UNIQUE" if contype == _CONSTR_UNIQUE else "PRIMARY KEY"
        columns = ", ".join(str(k.sval) for k in getattr(constraint, "keys", None) or ())
        name = constraint.conname or f"{table.name}_{'pkey' if kind == 'PRIMARY KEY' else 'key'}"
        return _new_risk(
            rule="require-unique-using-index",
            what=f"ADD {kind}",
            lock="ACCESS EXCLUSIVE",
            blocks="reads and writes",
            why="while it builds the index",
            instead=f"CREATE UNIQUE INDEX CONCURRENTLY {name}_idx ON {t} ({columns});  (no-transaction migration) "
            f"then: ALTER TABLE {t} ADD CONSTRAINT {name} {kind} USING INDEX {name}_idx;",
            table=table,
        )
    return None


def _alter_domain(node: Any) -> LockFacts:
    """ADD CONSTRAINT / VALIDATE CONSTRAINT on a domain scans every column of that type, blocking writes."""
    if node.subtype not in ("C", "V") or (node.subtype == "C" and getattr(node.def_, "skip_validation", False)):
        return _new_facts()
    names = [str(n.sval) for n in node.typeName if hasattr(n, "sval")]
    domain = ".".join(names)
    what = "ALTER DOMAIN ... " + ("ADD CONSTRAINT" if node.subtype == "C" else "VALIDATE CONSTRAINT")
    return _new_facts(
        risks=(
            _new_risk(
                rule="ban-alter-domain-with-add-constraint",
                what=what,
                lock="SHARE (on every table using the domain)",
                blocks="writes",
                why=f"while it scans every column of type {domain}",
                instead="add the check as a table constraint on each such column, NOT VALID, and validate it in a "
                "later migration (a table's VALIDATE CONSTRAINT does not block writes)",
            ),
        )
    )


def _row_write(node: Any) -> LockFacts:
    """UPDATE / DELETE lock the rows they touch; of every row (no WHERE), that is a backfill's job."""
    table = relation_of(node.relation)
    if table is None:
        return _new_facts()
    if node.whereClause is not None:
        return _new_facts(row_writes=(table,))
    verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
    risk = _new_risk(
        rule="backfill-in-migration",
        what=f"{verb} of every row",
        lock="FOR UPDATE row",
        blocks="writes of every row",
        why="until the migration commits",
        instead=f"declare a background backfill: -- migrate:backfill <name> table={table.display} key=<pk>, "
        f"its statement limited to one key range ({verb} ... WHERE <pk> BETWEEN $1 AND $2)",
        table=table,
    )
    return _new_facts(risks=(risk,), row_writes=(table,))


def _create_function(node: Any) -> LockFacts:
    """A function created VOLATILE (the default unless IMMUTABLE or STABLE is said)."""
    volatility = next(
        (str(getattr(o.arg, "sval", "")) for o in node.options or () if getattr(o, "defname", None) == "volatility"),
        "volatile",
    )
    name = str(getattr(node.funcname[-1], "sval", "")).lower()
    return _new_facts(defines_volatile=(name,) if volatility == "volatile" else ())


def _set(node: Any) -> LockFacts:
    """``SET [LOCAL] search_path``: later unqualified names resolve in those schemas, as the server does."""
    if str(node.name).lower() != "search_path":
        return _new_facts()
    if node.kind != _VAR_SET_VALUE:
        return _new_facts(sets_search_path=True)
    schemas = tuple(str(getattr(a.val, "sval", "")) for a in node.args or ())
    return _new_facts(sets_search_path=True, search_path=schemas)


def _select(node: Any) -> LockFacts:
    """``SELECT pg_catalog.set_config('search_path', '...', ...)``, as pg_dump writes it."""
    for target in node.targetList or ():
        call: Any = getattr(target, "val", None)
        if not isinstance(call, ast.FuncCall) or _functions(call)[:1] != ["set_config"]:
            continue
        args = [getattr(getattr(a, "val", None), "sval", None) for a in call.args or ()]
        if len(args) >= 2 and args[0] == "search_path" and args[1] is not None:
            schemas = tuple(p.strip().strip('"') for p in args[1].split(",") if p.strip())
            return _new_facts(sets_search_path=True, search_path=schemas)
    return _new_facts()


_HANDLERS = {
    "AlterDomainStmt": _alter_domain,
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "ReindexStmt": _reindex,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "CreateTrigStmt": _trigger,
    "RenameStmt": _rename,
    "TruncateStmt": _truncate,
    "LockStmt": _lock,
    "RefreshMatViewStmt": _refresh,
    "AlterTableStmt": _alter_table,
    "UpdateStmt": _row_write,
    "DeleteStmt": _row_write,
    "CreateFunctionStmt": _create_function,
    "VariableSetStmt": _set,
    "SelectStmt": _select,
}
