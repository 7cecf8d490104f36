"""pglast's parse tree of a statement, built from the parser's JSON instead of by ``pglast.parser.parse_sql``.

``parse_sql`` builds each node through pglast's validating ``Node.__setattr__`` (a type check,
an enum lookup and an import per attribute): most of the time it takes. The JSON the parser
writes holds the same tree, so this module loads it with the C ``json`` module and fills the
same ``pglast.ast`` classes slot by slot, one generated function per class, with the values
``parse_sql`` gives (a flag the JSON leaves out is ``False``, a number ``0``, a character
``"\\x00"``; a constant keeps no location; an offset outside the statement is ``None``), its
source offsets moved on to the file's as it goes. The linter's rules and :func:`locks.facts`
read it as they read ``parse_sql``'s tree; ``tests/unit/test_trees.py`` checks that the two are
the same, every attribute and offset, on every statement of the test cases and reference migrations.

The build also lists the statement's ``RangeVar`` nodes in the order :func:`locks.nodes_of`
finds them (breadth first), so the lock facts need not walk the tree again for them.

A node is filled on a shadow of its class (the same slots, plain attribute stores) and then given
its class (:func:`_shadow`); :func:`maker` does the same for the frozen dataclasses made once per
statement (``Statement``, ``LockFacts``, ``Risk``, ``Relation``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pglast import ast, enums, parser

#: Integer C types of node slots (``ParseLoc``, the source offsets, apart).
_NUMBERS = frozenset(
    {"int", "int16", "int32", "long", "Index", "AttrNumber", "SubTransactionId", "bits32", "AclMode"}
    | {"RelFileNumber", "Oid"}
)


@dataclass(slots=True)
class Built:
    """One statement's tree and its ``RangeVar`` nodes, breadth first (as :func:`locks.nodes_of` lists them)."""

    node: Any
    range_vars: list[Any] = field(default_factory=list)


class _Build:
    """One build: how far offsets move, how a byte offset becomes a character's, the ``RangeVar`` nodes met."""

    __slots__ = ("last", "offset", "range_vars", "to_index")

    def __init__(self, text: str, offset: int) -> None:
        self.offset = offset
        self.to_index: Callable[[int], int | None] | None = None if text.isascii() else parser.Displacements(text)
        self.last = len(text) - 1 if self.to_index is None else len(text.encode()) - 1
        self.range_vars: list[tuple[int, Any]] = []  # (depth, node), depth first


def tree(text: str, offset: int = 0) -> Any:
    """The tree of the one statement ``text`` (``parse_sql(text)[0].stmt``), offsets moved on by ``offset``."""
    return build(json.loads(parser.parse_sql_json(text)), text, offset).node


#: What ``json.loads`` calls: the scanner of a decoder made as ``loads`` makes its own (``json.scanner``'s C one).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def load(tree_json: str) -> dict[str, Any]:
    """``json.loads`` of the parser's JSON of a statement, through the C scanner alone.

    The parser writes one JSON object, without white space around it: ``loads``' checks of the text
    and its two matches of the white space either side cost a fifth of the scan of a short statement.
    """
    loaded: dict[str, Any] = _SCAN(tree_json, 0)[0]
    return loaded


def build(loaded: dict[str, Any], text: str, offset: int = 0) -> Built:
    """The tree of the statement ``text`` from its loaded JSON ``loaded``, offsets moved on by ``offset``."""
    statements: list[Any] = loaded.get("stmts") or []
    if len(statements) != 1:
        raise ValueError(f"expected one statement, found {len(statements)}")
    stmt = statements[0].get("stmt")
    state = _Build(text, offset)
    node = None if stmt is None else _node(stmt, state, 0)
    state.range_vars.sort(key=lambda found: found[0])  # stable: breadth first is depth first within a depth
    return Built(node, [found for _, found in state.range_vars])


def _node(wrapped: dict[str, Any], build: _Build, depth: int) -> Any:
    """A node written as ``{"Kind": {...}}`` (a ``Node*`` or a list item); a ``List`` is a tuple, ``{}`` None."""
    if not wrapped:
        return None
    ((kind, fields),) = wrapped.items()
    if kind == "List":
        return _list(fields.get("items", ()), build, depth)
    return (_BUILDERS.get(kind) or _builder(kind))(fields, build, depth)


def _list(items: list[Any], build: _Build, depth: int) -> tuple[Any, ...]:
    """A list's items, at the depth the list is found at; a list's items in it one deeper (``nodes_of`` queues them).

    :func:`_node` written out in the loop: a list is the most common parent of a node.
    """
    found: list[Any] = []
    append = found.append
    for item in items:
        if not item:
            append(None)
            continue
        ((kind, fields),) = item.items()
        if kind == "List":
            append(_list(fields.get("items", ()), build, depth + 1))
        else:
            append((_BUILDERS.get(kind) or _builder(kind))(fields, build, depth))
    return tuple(found)


def _constant(fields: dict[str, Any], build: _Build, depth: int) -> Any:
    """``A_Const`` as ``parse_sql`` makes it: ``isnull`` and ``val``, its only slots."""
    node = object.__new__(ast.A_Const)
    isnull = bool(fields.get("isnull"))
    val = None
    if not isnull:
        for key, cls, attribute, default in _CONSTANT_VALUES:
            if key in fields:
                val = object.__new__(cls)
                object.__setattr__(val, attribute, fields[key].get(attribute, default))
                break
    object.__setattr__(node, "isnull", isnull)
    object.__setattr__(node, "val", val)
    return node


_CONSTANT_VALUES = (
    ("boolval", ast.Boolean, "boolval", False),
    ("ival", ast.Integer, "ival", 0),
    ("fval", ast.Float, "fval", None),
    ("bsval", ast.BitString, "bsval", None),
    ("sval", ast.String, "sval", ""),
)

_Builder = Callable[[dict[str, Any], _Build, int], Any]
_BUILDERS: dict[str, _Builder] = {"A_Const": _constant}


def _builder(kind: str) -> _Builder:
    """The function that fills a node class's slots, generated from the C types pglast records for them.

    One statement per slot and no loop: the build runs once per node of every statement linted.
    """
    cls = getattr(ast, kind)
    scope: dict[str, Any] = {"cls": cls, "new": object.__new__, "shadow": _shadow(cls)}
    lines = ["def fill(fields, build, depth):", "    node = new(shadow)", "    get = fields.get"]
    if kind == "RangeVar":
        lines.append("    build.range_vars.append((depth, node))")
    if any(info.c_type == "ParseLoc" for info in cls.__slots__.values()):
        lines.append("    offset, last, to_index = build.offset, build.last, build.to_index")
    for number, (name, info) in enumerate(cls.__slots__.items()):
        lines += _slot_lines(name, name.removesuffix("_"), info.c_type, f"c{number}", scope)
    lines += ["    node.__class__ = cls", "    return node"]
    exec("\n".join(lines), scope)  # noqa: S102 - code made here from pglast's own slot table
    found: _Builder = scope["fill"]
    _BUILDERS[kind] = found
    return found


def _shadow(cls: Any) -> type:
    """A class with ``cls``'s slots and plain attribute assignment, for filling a node before it becomes a ``cls``.

    pglast's ``Node.__setattr__`` validates each value; ``object.__setattr__`` per slot skips that but is
    a call each time. An instance of this class takes the slots as plain stores (the interpreter's fastest),
    then its ``__class__`` is set to ``cls``: the same base and slots, so the same layout.
    """
    return type(cls.__name__, cls.__bases__, {"__slots__": tuple(cls.__slots__), "__setattr__": object.__setattr__})


_Made = TypeVar("_Made")


def maker(cls: type[_Made]) -> Callable[..., _Made]:
    """A function making a ``cls`` (a frozen dataclass with slots) as ``cls(**fields)`` does, its keywords only.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, a call per field: for
    the objects made once per statement (a ``Statement``, its ``LockFacts``) most of their cost. This fills
    the same slots on a :func:`_shadow` of the class, defaults and default factories alike, then sets its class.
    """
    if not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} is not a dataclass with slots and without __post_init__")
    fields = dataclasses.fields(cls)
    if any(f.name.startswith("_m_") for f in fields):
        raise TypeError(f"{cls.__name__} has a field named as the maker's own names")
    scope: dict[str, Any] = {"_m_cls": cls, "_m_new": object.__new__, "_m_shadow": _shadow(cls)}
    scope["_m_missing"] = dataclasses.MISSING
    parameters, lines = [], []
    for number, found in enumerate(fields):
        name, factory = found.name, found.default_factory is not dataclasses.MISSING
        if found.default is not dataclasses.MISSING:
            value = scope_name = f"_m_default{number}"
            scope[scope_name] = found.default
        elif factory:
            scope[f"_m_factory{number}"] = found.default_factory
            value = f"_m_factory{number}()"
        else:
            value = ""  # required, or (not in __init__) left unset, as the dataclass leaves it
        if found.init:
            parameters.append(name if not value else f"{name}=_m_missing" if factory else f"{name}={value}")
            lines.append(
                f"    _m_made.{name} = {value} if {name} is _m_missing else {name}"
                if factory
                else f"    _m_made.{name} = {name}"
            )
        elif value:
            lines.append(f"    _m_made.{name} = {value}")
    code = [f"def make(*, {', '.join(parameters)}):", "    _m_made = _m_new(_m_shadow)", *lines]
    exec("\n".join([*code, "    _m_made.__class__ = _m_cls", "    return _m_made"]), scope)  # noqa: S102 - from its fields
    made: Callable[..., _Made] = scope["make"]
    return made


def _slot_lines(name: str, key: str, c_type: str, convert: str, scope: dict[str, Any]) -> list[str]:
    """The statements that fill slot ``name`` from the JSON key ``key``; converters go in ``scope``."""
    if c_type in ("bool", "char", "char*", "Cost", "Cardinality") or (c_type in _NUMBERS and not _is_offset(name)):
        default = {"bool": False, "char": "\x00", "char*": None, "Cost": 0.0, "Cardinality": 0.0}.get(c_type, 0)
        return [f"    node.{name} = get({key!r}, {default!r})"]
    if c_type == "ParseLoc":
        return _position_lines(name, key)
    if c_type in _NUMBERS:
        scope[convert] = _offset(name)
        return [f"    node.{name} = {convert}(get({key!r}, 0), build)"]
    enum = getattr(enums, c_type, None)
    if enum is not None:
        scope[convert] = enum._member_map_.__getitem__
        scope[f"{convert}_default"] = enum(0) if 0 in enum._value2member_map_ else None
        return [
            f"    v = get({key!r})",
            f"    node.{name} = {convert}_default if v is None else {convert}(v)",
        ]
    if c_type == "List*":
        scope[convert] = _list
        call = f"{convert}(v, build, depth + 1)"
    elif c_type == "Bitmapset*":
        scope[convert] = set
        call = f"{convert}(v)"
    elif c_type.removesuffix("*") in ("Node", "Expr") or not hasattr(ast, c_type.removesuffix("*")):
        # _node written out: ``{"Kind": {...}}``, a ``List`` a tuple, ``{}`` None
        scope["builders"], scope["builder"], scope["list_"] = _BUILDERS, _builder, _list
        return [
            f"    v = get({key!r})",
            "    if v:",
            "        ((k, f),) = v.items()",
            f"        node.{name} = (",
            '            list_(f.get("items", ()), build, depth + 1)',
            '            if k == "List"',
            "            else (builders.get(k) or builder(k))(f, build, depth + 1)",
            "        )",
            "    else:",
            f"        node.{name} = None",
        ]
    else:  # a pointer to one node type (a RangeVar, a TypeName): the JSON writes its fields only
        scope["builders"], scope["builder"] = _BUILDERS, _builder  # looked up when met: a type may point to itself
        target = c_type.removesuffix("*")
        call = f"(builders.get({target!r}) or builder({target!r}))(v, build, depth + 1)"
    return [f"    v = get({key!r})", f"    node.{name} = None if v is None else {call}"]


def _is_offset(name: str) -> bool:
    """An integer slot named as a source offset: ``location``, ``..._location``, ``..._start``, ``..._end``."""
    return name != "stmt_len" and name.endswith(("location", "_start", "_end"))


def _moved(name: str, value: int, build: _Build) -> int:
    """A source offset moved on to the file's: an unknown one (-1; a list's 0: the parser's "no list") stays."""
    if value > 0 or (value == 0 and name.endswith("location")):
        return value + build.offset
    return value


def _position_lines(name: str, key: str) -> list[str]:
    """The statements that fill a ``ParseLoc`` slot: a byte offset in the statement's UTF-8, made a character
    offset in the file (:func:`_moved`), or ``None`` before or past the statement (parse_sql knows no character
    there). Written out in the fill, not called: nearly every node has one."""
    moved = "v + offset" if name.endswith("location") else "v + offset if v > 0 else v"
    return [
        f"    v = get({key!r}, 0)",
        "    if 0 <= v <= last:",
        "        if to_index is not None:",
        "            v = to_index(v) or 0",
        f"        node.{name} = {moved}",
        "    else:",
        f"        node.{name} = None",
    ]


def _offset(name: str) -> Callable[[int, _Build], int]:
    """An integer slot of another C type named as an offset: moved on, as the tree of the file would have it."""
    return lambda value, build: _moved(name, value, build)
