"""Migration SQL through PostgreSQL's own parser (pglast): statements, lines, modes, checksums.

Never regex: ``pglast`` is libpg_query, the server's grammar, so dollar quotes, DO
blocks, functions and nested comments split exactly as PostgreSQL would. Importing
it costs ~30 ms, so this module is imported only when a file must be parsed (a
pending or changed migration), never on the no-op start-up path.

A statement's checksum is the SHA-256 of its parse tree with every source position
removed: comments, whitespace and keyword case do not change it; any change to an
identifier, a literal or the structure does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pglast import parser

from scrydon_migrate.locks import LockFacts, facts

#: Parse-tree node kinds that PostgreSQL refuses inside a transaction block.
_NEVER_IN_TRANSACTION = frozenset(
    {
        "CreatedbStmt",
        "DropdbStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterSystemStmt",
        "CreateSubscriptionStmt",
        "DropSubscriptionStmt",
    }
)


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement of a migration file."""

    index: int
    line: int
    text: str
    kind: str
    transactional: bool
    checksum: str
    transaction_control: str = ""
    locks: LockFacts = field(default_factory=LockFacts)
    backfill: str = ""
    #: The statement's parse tree from the file's one parse (source offsets are the file's), for the linter.
    node: Any = field(default=None, compare=False, repr=False)

    @property
    def runnable(self) -> bool:
        """False for a backfill's batch statement: registered by up, run by the backfill worker."""
        return not self.backfill


@dataclass(frozen=True, slots=True)
class ParseFailure(Exception):
    """The SQL does not parse; ``line``/``column`` are 1-based positions in the text."""

    message: str
    line: int
    column: int

    def __str__(self) -> str:
        return self.message


def line_of(text: str, offset: int) -> int:
    """1-based line of a character ``offset`` in ``text``."""
    return text.count("\n", 0, max(offset, 0)) + 1


def column_of(text: str, offset: int) -> int:
    start = text.rfind("\n", 0, max(offset, 0)) + 1
    return offset - start + 1


def parse_statements(sql: str) -> list[Statement]:
    """Split ``sql`` into statements with their first line, mode and checksum."""
    try:
        raw = parser.parse_sql(sql)
    except parser.ParseError as exc:
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        if "at end of input" in str(exc.args[0]):
            offset = len(sql.rstrip())
        raise ParseFailure(str(exc.args[0]), line_of(sql, offset), column_of(sql, offset)) from exc
    statements: list[Statement] = []
    line, counted_to = 1, 0
    for raw_stmt in raw:
        start, length = _bounds(sql, raw_stmt.stmt_location, raw_stmt.stmt_len)
        first_token = start + _leading_blank(sql[start : start + length])
        text = sql[first_token : start + length].rstrip()
        line += sql.count("\n", counted_to, first_token)  # counted on from the last statement: linear in the file
        counted_to = first_token
        node = raw_stmt.stmt
        kind = type(node).__name__
        statements.append(
            Statement(
                index=len(statements),
                line=line,
                text=text,
                kind=kind,
                transactional=_runs_in_transaction(node, kind),
                checksum=statement_checksum(text),
                transaction_control=_transaction_control(node, kind),
                locks=facts(node),
                node=node,
            )
        )
    return statements


def _bounds(sql: str, location: int | None, length: int | None) -> tuple[int, int]:
    start = location or 0
    return start, (length or len(sql) - start)


def _leading_blank(text: str) -> int:
    """Characters of whitespace and comments before the first token of a statement slice."""
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
        elif text.startswith("--", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif text.startswith("/*", index):
            index = _skip_block_comment(text, index)
        else:
            break
    return index


def _skip_block_comment(text: str, index: int) -> int:
    depth = 0
    while index < len(text):
        if text.startswith("/*", index):
            depth += 1
            index += 2
        elif text.startswith("*/", index):
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    return index


def _runs_in_transaction(node: Any, kind: str) -> bool:
    if kind in _NEVER_IN_TRANSACTION:
        return False
    if kind in {"IndexStmt", "DropStmt"}:
        return not bool(getattr(node, "concurrent", False))
    if kind == "ReindexStmt":
        return not _has_option(node, "concurrently") and getattr(node, "relation", None) is not None
    if kind == "AlterTableStmt":
        return not any(getattr(cmd.def_, "concurrent", False) for cmd in node.cmds or () if cmd.def_ is not None)
    if kind == "VacuumStmt":
        return not bool(getattr(node, "is_vacuumcmd", False))
    if kind == "ClusterStmt":
        return getattr(node, "relation", None) is not None
    return True


def _transaction_control(node: Any, kind: str) -> str:
    """``begin``, ``commit``, ``rollback`` or ``other`` for BEGIN/COMMIT-like statements, else ``""``."""
    if kind != "TransactionStmt":
        return ""
    name = str(getattr(getattr(node, "kind", None), "name", "")).removeprefix("TRANS_STMT_").lower()
    return {"begin": "begin", "start": "begin", "commit": "commit", "rollback": "rollback"}.get(name, "other")


def _has_option(node: Any, name: str) -> bool:
    return any(getattr(option, "defname", None) == name for option in getattr(node, "params", None) or ())


def statement_checksum(text: str) -> str:
    """SHA-256 of the statement's parse tree without source positions."""
    tree = json.loads(parser.parse_sql_json(text))
    canonical = json.dumps(_strip_locations(tree.get("stmts", [])), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_position(name: str, value: Any) -> bool:
    """A source offset in the parse tree (``location``, ``arg_location``, ``list_start``, ...)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return name == "stmt_len" or name.endswith(("location", "_start", "_end"))


def _strip_locations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_locations(v) for k, v in value.items() if not _is_position(k, v)}
    if isinstance(value, list):
        return [_strip_locations(v) for v in value]
    return value


def migration_checksum(statements: list[Statement]) -> str:
    """The checksum of a migration: its statements' checksums, in order."""
    digest = hashlib.sha256()
    for statement in statements:
        digest.update(statement.checksum.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def range_query(text: str, keys: int = 1) -> str:
    """A batch statement with its key-range parameters in psycopg's named form.

    One key column: ``$1``/``$2`` (first and last key of the batch) become ``%(lo)s``/``%(hi)s``.
    A composite key of N columns uses ``$1``..``$N`` for the first key and ``$N+1``..``$2N`` for
    the last, which become ``%(lo1)s``.. and ``%(hi1)s``... Raises ValueError when the statement
    is not one UPDATE/INSERT/DELETE using exactly those parameters.
    """
    from pglast.visitors import Visitor

    raw = parser.parse_sql(text)
    if len(raw) != 1 or type(raw[0].stmt).__name__ not in {"UpdateStmt", "InsertStmt", "DeleteStmt"}:
        raise ValueError("a backfill's batch statement must be one UPDATE, INSERT or DELETE")
    found: list[tuple[int, int]] = []

    class Params(Visitor):
        def visit_ParamRef(self, ancestors: Any, node: Any) -> None:
            found.append((node.location, node.number))

    assert raw[0].stmt is not None
    Params()(raw[0].stmt)
    if {n for _, n in found} != set(range(1, 2 * keys + 1)):
        raise ValueError(
            "a backfill's batch statement must use $1 (first key) and $2 (last key) of the batch, and no other"
            if keys == 1
            else f"a backfill keyed on {keys} columns must use ${1}..${keys} (first key of the batch) and "
            f"${keys + 1}..${2 * keys} (last key), and no other parameter"
        )
    base = raw[0].stmt_location or 0
    pieces, cursor = [], 0
    for location, number in sorted(found):
        start = location - base
        pieces.append(text[cursor:start].replace("%", "%%"))
        pieces.append(f"%({range_parameter(number, keys)})s")
        cursor = start + len(f"${number}")
    pieces.append(text[cursor:].replace("%", "%%"))
    return "".join(pieces)


def range_parameter(number: int, keys: int) -> str:
    """The name ``range_query`` gives to ``$number`` of a batch statement keyed on ``keys`` columns."""
    if keys == 1:
        return "lo" if number == 1 else "hi"
    return f"lo{number}" if number <= keys else f"hi{number - keys}"


@dataclass(frozen=True, slots=True)
class FillRule:
    """What a backfill's UPDATE computes for one row, read from its parse tree.

    ``assignments`` are the ``SET column = expression`` pairs whose expression reads no assigned
    column (``touched = touched + 1`` is a counter, not a value derived from the row), ``conditions`` the conjuncts of
    its WHERE clause other than the key range, and ``guards`` those of them that read an
    assigned column (``email_domain IS NULL``): they keep batches idempotent, so the adoption
    trigger leaves them out and recomputes the value on every write, while the final check
    keeps them (it counts the rows the batch statement would still change).
    """

    table: str
    alias: str
    assignments: tuple[tuple[str, str], ...]
    conditions: tuple[str, ...]
    guards: tuple[str, ...]


def fill_rule(text: str) -> FillRule | None:
    """The per-row rule of a backfill's batch statement, or None when it is not a plain UPDATE.

    Not derivable: an INSERT or DELETE, ``UPDATE ... FROM``, a ``WITH`` clause, or an assignment
    to a part of a column (``SET a[1] = ...``, ``SET (a, b) = ...``).
    """
    from pglast.stream import RawStream
    from pglast.visitors import Visitor

    raw = parser.parse_sql(text)
    stmt: Any = raw[0].stmt if len(raw) == 1 else None
    if type(stmt).__name__ != "UpdateStmt" or stmt.fromClause or stmt.withClause:
        return None
    targets = stmt.targetList or ()
    if any(t.indirection or type(t.val).__name__ == "MultiAssignRef" for t in targets):
        return None
    assigned = {t.name for t in targets}

    class Reads(Visitor):
        def __init__(self) -> None:
            self.params = False
            self.columns: set[str] = set()

        def visit_ParamRef(self, ancestors: Any, node: Any) -> None:
            self.params = True

        def visit_ColumnRef(self, ancestors: Any, node: Any) -> None:
            last = node.fields[-1]
            if type(last).__name__ == "String":
                self.columns.add(last.sval)

    where = stmt.whereClause
    conjuncts = list(where.args) if type(where).__name__ == "BoolExpr" and where.boolop == 0 else [where]
    conditions: list[str] = []
    guards: list[str] = []
    for conjunct in conjuncts:
        if conjunct is None:
            continue
        reads = Reads()
        reads(conjunct)
        if reads.params:
            continue
        (guards if reads.columns & assigned else conditions).append(RawStream()(conjunct))
    derived = []
    for target in targets:
        reads = Reads()
        reads(target.val)
        if not reads.columns & assigned:
            derived.append((target.name, RawStream()(target.val)))
    if not derived:
        return None
    alias = stmt.relation.alias.aliasname if stmt.relation.alias else stmt.relation.relname
    return FillRule(stmt.relation.relname, alias, tuple(derived), tuple(conditions), tuple(guards))
