"""What a migration is *predicted* to do to the schema, read statically from its SQL with pglast.

The desync check trusts only what PostgreSQL recorded (:mod:`scrydon_migrate.record`). This
prediction remains for the rows that older versions of the tool wrote (their ``effects`` column
holds version 1 of the document below), which :func:`predicted_records` turns into records the
check reads leniently and that never prove a repair safe.

An *object key* names one schema object the way the catalog snapshot
(:mod:`scrydon_migrate.catalog`) spells it::

    schema:s   table:s.t   view:s.v   matview:s.m   sequence:s.q   index:s.t.i
    column:s.t.c   constraint:s.t.c   trigger:s.t.g   function:s.f/2   type:s.e
    enumvalue:s.e.label   extension:e

*Effects* are an ordered list of operations on keys (create, drop, rename, ...),
derived statically from a migration's parse trees with pglast. Statements whose
effects cannot be read from the SQL (DO blocks, CALL, SELECT of a user function)
make a migration *opaque*; the runner then records its effects at apply time by
diffing two catalog snapshots taken inside its transaction. (Snapshotting around
every migration would cost a catalog scan per migration on large histories; the
static derivation gives the same named objects for everything else.)

:func:`replay` applies the effects of the applied migrations in order and returns,
for each migration, the keys it created that should still exist now.
Only what can be known is expected: unnamed constraints, implicit sequences and a
view's columns are not, and a ``DROP ... CASCADE`` makes the views, constraints,
triggers and functions created before it uncertain rather than expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrydon_migrate.record import Record

Op = tuple[str, ...]

_TABLE_LIKE = ("table", "view", "matview", "sequence")
_CHILD_KINDS = ("column", "constraint", "index", "trigger")
_CASCADE_UNCERTAIN = ("view", "matview", "constraint", "trigger", "function", "index")
_BUILTIN_SELECT_FUNCTIONS = frozenset(
    {"set_config", "pg_sleep", "now", "count", "nextval", "setval", "currval", "pg_advisory_xact_lock", "version"}
)


def key(kind: str, schema: str, *names: str) -> str:
    return f"{kind}:{schema}." + ".".join(names) if names else f"{kind}:{schema}"


def parent_table(object_key: str) -> str | None:
    """``table:s.t`` for a column/constraint/index/trigger key, else ``None``."""
    kind, _, rest = object_key.partition(":")
    if kind not in _CHILD_KINDS:
        return None
    schema, table, _ = rest.split(".", 2)
    return f"table:{schema}.{table}"


@dataclass
class _Deriver:
    """Walks the statements of one migration, tracking the search_path it sets."""

    base_schema: str
    schema: str = ""
    ops: list[Op] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = self.base_schema

    def s(self, schema: str | None) -> str:
        return schema or self.schema

    def emit(self, *op: str) -> None:
        self.ops.append(op)


def derive(nodes: Iterable[Any], base_schema: str) -> list[Op]:
    """The effects of a migration's parsed statements, unqualified names resolved in ``base_schema``."""
    deriver = _Deriver(base_schema)
    for node in nodes:
        handler = _HANDLERS.get(type(node).__name__)
        if handler is not None:
            handler(deriver, node)
    return deriver.ops


def _names(node: Any) -> list[str]:
    """Name parts of a RangeVar, TypeName, ObjectWithArgs, String or list of Strings."""
    if node is None:
        return []
    if hasattr(node, "relname"):
        return [p for p in (getattr(node, "schemaname", None), node.relname) if p]
    if hasattr(node, "names"):
        return [str(n.sval) for n in node.names if hasattr(n, "sval")]
    if hasattr(node, "objname"):
        return [str(n.sval) for n in node.objname if hasattr(n, "sval")]
    if hasattr(node, "sval"):
        return [str(node.sval)]
    if isinstance(node, list | tuple):
        return [str(n.sval) for n in node if hasattr(n, "sval")]
    return []


def _split(d: _Deriver, parts: Sequence[str]) -> tuple[str, str]:
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return d.schema, parts[-1] if parts else ""


def _rel(d: _Deriver, node: Any) -> tuple[str, str]:
    return _split(d, _names(node))


def _constraints(d: _Deriver, schema: str, table: str, constraints: Any) -> None:
    from pglast import enums

    named = (
        enums.ConstrType.CONSTR_CHECK,
        enums.ConstrType.CONSTR_PRIMARY,
        enums.ConstrType.CONSTR_UNIQUE,
        enums.ConstrType.CONSTR_FOREIGN,
        enums.ConstrType.CONSTR_EXCLUSION,
    )
    for constraint in constraints or ():
        if getattr(constraint, "contype", None) in named and getattr(constraint, "conname", None):
            d.emit("create", key("constraint", schema, table, constraint.conname), "")


def _column(d: _Deriver, schema: str, table: str, column: Any, if_not_exists: bool = False) -> None:
    d.emit("create", key("column", schema, table, column.colname), "nx" if if_not_exists else "")
    _constraints(d, schema, table, getattr(column, "constraints", None))


def _create_table(d: _Deriver, node: Any) -> None:
    schema, table = _rel(d, node.relation)
    if node.if_not_exists:
        inner = _Deriver(d.base_schema)
        inner.schema = d.schema
        _table_elements(inner, schema, table, node)
        d.emit("create_if_absent", key("table", schema, table), *(op[1] for op in inner.ops))
        return
    d.emit("create", key("table", schema, table), "")
    _table_elements(d, schema, table, node)


def _table_elements(d: _Deriver, schema: str, table: str, node: Any) -> None:
    for element in node.tableElts or ():
        kind = type(element).__name__
        if kind == "ColumnDef":
            _column(d, schema, table, element)
        elif kind == "Constraint":
            _constraints(d, schema, table, [element])


def _create_table_as(d: _Deriver, node: Any) -> None:
    from pglast import enums

    schema, name = _rel(d, node.into.rel)
    kind = "matview" if node.objtype == enums.ObjectType.OBJECT_MATVIEW else "table"
    d.emit("create", key(kind, schema, name), "nx" if node.if_not_exists else "")


def _view(d: _Deriver, node: Any) -> None:
    schema, name = _rel(d, node.view)
    d.emit("create", key("view", schema, name), "nx" if node.replace else "")


def _index(d: _Deriver, node: Any) -> None:
    if not node.idxname:
        return
    schema, table = _rel(d, node.relation)
    d.emit("create", key("index", schema, table, node.idxname), "nx" if node.if_not_exists else "")


def _sequence(d: _Deriver, node: Any) -> None:
    schema, name = _rel(d, node.sequence)
    d.emit("create", key("sequence", schema, name), "nx" if node.if_not_exists else "")


def _type_names(d: _Deriver, names: Any) -> tuple[str, str]:
    return _split(d, _names(names))


def _enum(d: _Deriver, node: Any) -> None:
    schema, name = _type_names(d, node.typeName)
    d.emit("create", key("type", schema, name), "")
    for value in node.vals or ():
        d.emit("create", key("enumvalue", schema, name, str(value.sval)), "")


def _alter_enum(d: _Deriver, node: Any) -> None:
    schema, name = _type_names(d, node.typeName)
    if node.oldVal:
        d.emit("rename", key("enumvalue", schema, name, node.oldVal), key("enumvalue", schema, name, node.newVal))
    elif node.newVal:
        d.emit("create", key("enumvalue", schema, name, node.newVal), "nx" if node.skipIfNewValExists else "")


def _composite(d: _Deriver, node: Any) -> None:
    schema, name = _rel(d, node.typevar)
    d.emit("create", key("type", schema, name), "")


def _domain(d: _Deriver, node: Any) -> None:
    schema, name = _type_names(d, node.domainname)
    d.emit("create", key("type", schema, name), "")


def _range(d: _Deriver, node: Any) -> None:
    schema, name = _type_names(d, node.typeName)
    d.emit("create", key("type", schema, name), "")


def _input_args(parameters: Any) -> int:
    return sum(1 for p in parameters or () if str(getattr(p.mode, "value", p.mode)) in ("i", "b", "v", "d"))


def _function(d: _Deriver, node: Any) -> None:
    schema, name = _split(d, _names(node.funcname))
    d.emit("create", key("function", schema, f"{name}/{_input_args(node.parameters)}"), "nx" if node.replace else "")


def _trigger(d: _Deriver, node: Any) -> None:
    schema, table = _rel(d, node.relation)
    d.emit("create", key("trigger", schema, table, node.trigname), "nx" if node.replace else "")


def _schema(d: _Deriver, node: Any) -> None:
    d.emit("create", key("schema", node.schemaname), "nx" if node.if_not_exists else "")
    saved = d.schema
    d.schema = node.schemaname
    for element in node.schemaElts or ():
        handler = _HANDLERS.get(type(element).__name__)
        if handler is not None:
            handler(d, element)
    d.schema = saved


def _extension(d: _Deriver, node: Any) -> None:
    d.emit("create", f"extension:{node.extname}", "nx" if node.if_not_exists else "")


_DROP_KINDS = {
    "OBJECT_TABLE": "table",
    "OBJECT_FOREIGN_TABLE": "table",
    "OBJECT_VIEW": "view",
    "OBJECT_MATVIEW": "matview",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_TYPE": "type",
    "OBJECT_DOMAIN": "type",
    "OBJECT_SCHEMA": "schema",
    "OBJECT_EXTENSION": "extension",
}


def _drop(d: _Deriver, node: Any) -> None:
    remove = node.removeType.name
    for obj in node.objects or ():
        parts = _names(obj)
        if not parts:
            continue
        if remove in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
            schema, name = _split(d, parts)
            if getattr(obj, "args_unspecified", False):
                d.emit("drop_prefix", key("function", schema, f"{name}/"))
            else:
                d.emit("drop", key("function", schema, f"{name}/{_input_args(obj.objfuncargs)}"))
        elif remove == "OBJECT_INDEX":
            schema, name = _split(d, parts)
            d.emit("drop_index", schema, name)
        elif remove == "OBJECT_TRIGGER":
            schema, table = _split(d, parts[:-1])
            d.emit("drop", key("trigger", schema, table, parts[-1]))
        elif remove in ("OBJECT_SCHEMA", "OBJECT_EXTENSION"):
            d.emit("drop", f"{_DROP_KINDS[remove]}:{parts[-1]}")
        elif remove in _DROP_KINDS:
            schema, name = _split(d, parts)
            d.emit("drop", key(_DROP_KINDS[remove], schema, name))
    if node.behavior.name == "DROP_CASCADE":
        d.emit("cascade")


def _alter_table(d: _Deriver, node: Any) -> None:
    schema, table = _rel(d, node.relation)
    if node.objtype.name not in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
        return
    for cmd in node.cmds or ():
        subtype = cmd.subtype.name
        if subtype == "AT_AddColumn":
            _column(d, schema, table, cmd.def_, bool(cmd.missing_ok))
        elif subtype == "AT_DropColumn":
            d.emit("drop", key("column", schema, table, cmd.name))
        elif subtype == "AT_AddConstraint":
            _constraints(d, schema, table, [cmd.def_])
        elif subtype == "AT_DropConstraint":
            d.emit("drop", key("constraint", schema, table, cmd.name))
        if subtype in ("AT_DropColumn", "AT_DropConstraint") and cmd.behavior.name == "DROP_CASCADE":
            d.emit("cascade")


_RENAMED_RELATIONS = {
    "OBJECT_TABLE": "table",
    "OBJECT_FOREIGN_TABLE": "table",
    "OBJECT_VIEW": "view",
    "OBJECT_MATVIEW": "matview",
    "OBJECT_SEQUENCE": "sequence",
}


def _rename(d: _Deriver, node: Any) -> None:
    kind = node.renameType.name
    if kind in _RENAMED_RELATIONS:
        schema, name = _rel(d, node.relation)
        d.emit(
            "rename", key(_RENAMED_RELATIONS[kind], schema, name), key(_RENAMED_RELATIONS[kind], schema, node.newname)
        )
    elif kind == "OBJECT_INDEX":
        schema, name = _rel(d, node.relation)
        d.emit("rename_index", schema, name, node.newname)
    elif kind in ("OBJECT_COLUMN", "OBJECT_TABCONSTRAINT", "OBJECT_TRIGGER"):
        schema, table = _rel(d, node.relation)
        child = {"OBJECT_COLUMN": "column", "OBJECT_TABCONSTRAINT": "constraint", "OBJECT_TRIGGER": "trigger"}[kind]
        d.emit("rename", key(child, schema, table, node.subname), key(child, schema, table, node.newname))
    elif kind in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        schema, name = _split(d, _names(node.object))
        d.emit("rename", key("type", schema, name), key("type", schema, node.newname))
    elif kind in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE"):
        schema, name = _split(d, _names(node.object))
        args = _input_args(node.object.objfuncargs)
        d.emit("rename", key("function", schema, f"{name}/{args}"), key("function", schema, f"{node.newname}/{args}"))
    elif kind == "OBJECT_SCHEMA":
        d.emit("rename", key("schema", node.subname), key("schema", node.newname))


def _set_schema(d: _Deriver, node: Any) -> None:
    kind = _RENAMED_RELATIONS.get(node.objectType.name)
    if kind is not None and node.relation is not None:
        schema, name = _rel(d, node.relation)
        d.emit("rename", key(kind, schema, name), key(kind, node.newschema, name))
    elif node.objectType.name in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        schema, name = _split(d, _names(node.object))
        d.emit("rename", key("type", schema, name), key("type", node.newschema, name))


def _variable_set(d: _Deriver, node: Any) -> None:
    if node.name != "search_path":
        return
    values = [str(getattr(a.val, "sval", "")) for a in node.args or () if hasattr(a, "val")]
    schemas = [v for v in values if v and v != "$user"]
    d.schema = schemas[0] if schemas else d.base_schema


def _write(d: _Deriver, node: Any) -> None:
    schema, table = _rel(d, node.relation)
    d.emit("write", key("table", schema, table))


def _truncate(d: _Deriver, node: Any) -> None:
    for relation in node.relations or ():
        schema, table = _rel(d, relation)
        d.emit("write", key("table", schema, table))


def _select(d: _Deriver, node: Any) -> None:
    from pglast.visitors import Visitor

    calls: list[Any] = []

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors: Any, call: Any) -> None:
            calls.append(call)

    Calls()(node)
    for call in calls:
        name = _names(call.funcname)
        if name and name[-1] == "set_config" and call.args and getattr(call.args[0], "val", None) is not None:
            if str(getattr(call.args[0].val, "sval", "")) == "search_path" and len(call.args) > 1:
                value = str(getattr(getattr(call.args[1], "val", None), "sval", ""))
                first = value.split(",")[0].strip().strip('"')
                d.schema = first or d.base_schema
            continue
        if name and (len(name) == 1 or name[0] != "pg_catalog") and name[-1] not in _BUILTIN_SELECT_FUNCTIONS:
            d.emit("opaque")
            return
    if getattr(node, "intoClause", None) is not None:
        schema, table = _rel(d, node.intoClause.rel)
        d.emit("create", key("table", schema, table), "")


def _opaque(d: _Deriver, node: Any) -> None:
    d.emit("opaque")


_HANDLERS = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "ViewStmt": _view,
    "IndexStmt": _index,
    "CreateSeqStmt": _sequence,
    "CreateEnumStmt": _enum,
    "AlterEnumStmt": _alter_enum,
    "CompositeTypeStmt": _composite,
    "CreateDomainStmt": _domain,
    "CreateRangeStmt": _range,
    "CreateFunctionStmt": _function,
    "CreateTrigStmt": _trigger,
    "CreateSchemaStmt": _schema,
    "CreateExtensionStmt": _extension,
    "DropStmt": _drop,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "AlterObjectSchemaStmt": _set_schema,
    "VariableSetStmt": _variable_set,
    "InsertStmt": _write,
    "UpdateStmt": _write,
    "DeleteStmt": _write,
    "MergeStmt": _write,
    "TruncateStmt": _truncate,
    "SelectStmt": _select,
    "DoStmt": _opaque,
    "CallStmt": _opaque,
    "ExecuteStmt": _opaque,
}


def derive_sql(statements: Iterable[str], base_schema: str) -> list[Op]:
    """The effects of statements given as SQL text (each parses alone)."""
    from pglast import parser

    return derive((raw.stmt for text in statements for raw in parser.parse_sql(text)), base_schema)


def to_json(ops: Sequence[Op], *, recorded: bool) -> dict[str, object]:
    """The document stored in the tracking row's ``effects`` column."""
    return {"v": 1, "recorded": recorded, "ops": [list(op) for op in ops]}


def from_json(document: object) -> tuple[Op, ...] | None:
    """Ops from a stored ``effects`` document; ``None`` when there is none or it is not ours."""
    if not isinstance(document, dict) or document.get("v") != 1 or not isinstance(document.get("ops"), list):
        return None
    return tuple(tuple(str(part) for part in op) for op in document["ops"] if isinstance(op, list) and op)


def is_opaque(ops: Iterable[Op]) -> bool:
    return any(op[0] == "opaque" for op in ops)


@dataclass
class Model:
    """The expected schema while replaying: object key -> the version that created it."""

    owner: dict[str, int] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)

    def footprints(self) -> dict[int, set[str]]:
        """Every version's footprint in one pass over the model."""
        found: dict[int, set[str]] = {}
        for k, v in self.owner.items():
            if k not in self.uncertain:
                found.setdefault(v, set()).add(k)
        return found

    def apply(self, version: int, ops: Iterable[Op]) -> None:
        for op in ops:
            _APPLY[op[0]](self, version, op)


def _children_prefixes(object_key: str) -> list[str]:
    kind, _, rest = object_key.partition(":")
    if kind in _TABLE_LIKE:
        return [f"{child}:{rest}." for child in _CHILD_KINDS]
    if kind == "type":
        return [f"enumvalue:{rest}."]
    if kind == "schema":
        return [f"{k}:{rest}." for k in (*_TABLE_LIKE, *_CHILD_KINDS, "function", "type", "enumvalue")]
    return []


_RELATION_KINDS = ("table", "view", "matview", "sequence", "index")


def _relation_name(object_key: str) -> tuple[str, str] | None:
    """``(schema, name)`` of a table, view, sequence or index key: they share one namespace per schema."""
    kind, _, rest = object_key.partition(":")
    if kind not in _RELATION_KINDS:
        return None
    parts = rest.split(".")
    return (parts[0], parts[-1]) if len(parts) >= 2 else None


def _name_taken(model: Model, object_key: str) -> bool:
    """Whether an IF NOT EXISTS create would find its name taken (then PostgreSQL creates nothing)."""
    if object_key in model.owner:
        return True
    name = _relation_name(object_key)
    return name is not None and any(_relation_name(k) == name for k in model.owner)


def _create(model: Model, version: int, op: Op) -> None:
    object_key, flags = op[1], op[2] if len(op) > 2 else ""
    model_had_it = object_key in model.owner
    if flags == "nx" and _name_taken(model, object_key):
        if model_had_it:
            model.uncertain.discard(object_key)
        return
    model.uncertain.discard(object_key)
    model.owner[object_key] = version


def _create_if_absent(model: Model, version: int, op: Op) -> None:
    """CREATE TABLE IF NOT EXISTS: the table and its columns only when no relation has that name."""
    if _name_taken(model, op[1]):
        if op[1] in model.owner:
            model.uncertain.discard(op[1])
        return
    for object_key in op[1:]:
        model.uncertain.discard(object_key)
        model.owner[object_key] = version


def _drop_key(model: Model, version: int, op: Op) -> None:
    object_key = op[1]
    doomed = [object_key, *_matching(model, _children_prefixes(object_key))]
    for k in doomed:
        model.owner.pop(k, None)
        model.uncertain.discard(k)


def _matching(model: Model, prefixes: Sequence[str]) -> list[str]:
    if not prefixes:
        return []
    return [k for k in model.owner if k.startswith(tuple(prefixes))]


def _forget(model: Model, object_key: str) -> None:
    model.owner.pop(object_key, None)
    model.uncertain.discard(object_key)


def _drop_prefix(model: Model, version: int, op: Op) -> None:
    for k in _matching(model, [op[1]]):
        _forget(model, k)


def _index_keys(model: Model, schema: str, name: str) -> list[str]:
    prefix, suffix = f"index:{schema}.", f".{name}"
    return [k for k in model.owner if k.startswith(prefix) and k.endswith(suffix) and k.count(".") == 2]


def _drop_index(model: Model, version: int, op: Op) -> None:
    for k in _index_keys(model, op[1], op[2]):
        _forget(model, k)


def _rename_key(model: Model, version: int, op: Op) -> None:
    old, new = op[1], op[2]
    old_kind, _, old_rest = old.partition(":")
    new_rest = new.partition(":")[2]
    moves: dict[str, str] = {}
    if old_kind == "schema":
        for k in list(model.owner):
            kind, _, rest = k.partition(":")
            if kind != "schema" and rest.startswith(old_rest + "."):
                moves[k] = f"{kind}:{new_rest}.{rest[len(old_rest) + 1 :]}"
    else:
        for prefix in _children_prefixes(old):
            kind = prefix.partition(":")[0]
            moves.update({k: f"{kind}:{new_rest}." + k[len(prefix) :] for k in _matching(model, [prefix])})
    if old in model.owner:
        moves[old] = new
    else:
        model.owner[new] = version
    for source, target in moves.items():
        model.owner[target] = model.owner.pop(source)
        model.uncertain.discard(target)
        if source in model.uncertain:
            model.uncertain.discard(source)
            model.uncertain.add(target)


def _rename_index(model: Model, version: int, op: Op) -> None:
    for k in _index_keys(model, op[1], op[2]):
        target = k.rsplit(".", 1)[0] + "." + op[3]
        model.owner[target] = model.owner.pop(k)
        if k in model.uncertain:
            model.uncertain.discard(k)
            model.uncertain.add(target)
        else:
            model.uncertain.discard(target)


def _cascade(model: Model, version: int, op: Op) -> None:
    model.uncertain.update(k for k in model.owner if k.partition(":")[0] in _CASCADE_UNCERTAIN)


def _ignore(model: Model, version: int, op: Op) -> None:
    return


_APPLY = {
    "create": _create,
    "create_if_absent": _create_if_absent,
    "drop": _drop_key,
    "drop_prefix": _drop_prefix,
    "drop_index": _drop_index,
    "rename": _rename_key,
    "rename_index": _rename_index,
    "cascade": _cascade,
    "write": _ignore,
    "opaque": _ignore,
}


def writes(ops: Iterable[Op]) -> set[str]:
    """Tables whose rows a migration changed (INSERT/UPDATE/DELETE/TRUNCATE)."""
    return {op[1] for op in ops if op[0] == "write"}


def predicted_records(history: Sequence[tuple[int, Sequence[Op]]], present: set[str]) -> dict[int, Record]:
    """Records of rows written before effects were recorded: the replayed prediction of each.

    Their function keys (``function:s.f/2``) name an argument count; each becomes the present
    functions of that name and count, as the catalog spells them now.
    """
    from scrydon_migrate.record import Created, Record, Step, Wrote

    model = Model()
    for version, ops in history:
        model.apply(version, ops)
    found = model.footprints()
    functions = _functions_by_arity(present)
    records = {}
    for version, ops in history:
        keys = sorted(k for old in found.get(version, ()) for k in _spelled_now(old, functions))
        steps: list[Step] = [Created(k) for k in keys]
        steps += [Wrote(t) for t in sorted(writes(ops))]
        records[version] = Record(tuple(steps), "predicted", complete=False)
    return records


def _functions_by_arity(present: set[str]) -> dict[str, list[str]]:
    by_arity: dict[str, list[str]] = {}
    for k in present:
        if k.startswith("function:") and k.endswith(")"):
            name, _, args = k[:-1].partition("(")
            by_arity.setdefault(f"{name}/{len(args.split(',')) if args else 0}", []).append(k)
    return by_arity


def _spelled_now(old_key: str, functions: dict[str, list[str]]) -> list[str]:
    if old_key.startswith("function:") and "/" in old_key:
        return functions.get(old_key, [old_key])
    return [old_key]
