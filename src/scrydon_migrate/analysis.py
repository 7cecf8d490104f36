"""Migration SQL through PostgreSQL's own parser (pglast): statements, lines, modes, checksums.

Never regex: ``pglast`` is libpg_query, the server's grammar, so dollar quotes, DO
blocks, functions and nested comments split exactly as PostgreSQL would. Importing
it costs ~30 ms, so this module is imported only when a file must be parsed (a
pending or changed migration), never on the no-op start-up path.

A statement's checksum is the SHA-256 of its parse tree with every source position
removed: comments, whitespace and keyword case do not change it; any change to an
identifier, a literal or the structure does (:func:`shapes.canonical` is the definition).
A file is parsed in time linear in its size: statements shaped alike (a data load's rows)
share the work on their trees (:mod:`scrydon_migrate.shapes`), and no Python tree is
built for a statement unless its facts or the linter need one. A tree is built from the
JSON the parser writes (:mod:`scrydon_migrate.trees`), once: a small file keeps the tree its
facts were read from for the linter, and leaves its checksums until they are asked for.

Memory. The statements' texts must exist somewhere until the runner sends them; the file's own
text is the cheapest place, so a large file (over :data:`KEEP_TREES_CHARS`) keeps it and, per
statement, ~60 bytes of columns (:class:`Statements`): its bounds and line, a row of facts
shared with the statements of its shape, its 32-byte checksum. Parsing holds nothing else per
statement, and at a time one part being split (a million characters, freed after) and one
statement's JSON and tree: the peak is the interpreter, twice the file while its bytes are
decoded, and the columns. What grows with the largest statement instead of the file is the
parser's work on it and its JSON (~30 times the statement: ~100 MiB for an ``INSERT`` of
100,000 rows, 3.1 MB), and the tree its facts are read from, once per shape: an ``INSERT``
whose rows name no table has its facts read from its first row; a statement of another kind
builds its whole tree (~80 times the statement). A statement read from the columns is made
once and keeps only its facts and index (~150 bytes): ``up`` reads every one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, overload

from pglast import parser

from scrydon_migrate import shapes, trees
from scrydon_migrate.locks import LockFacts, facts, reads_constants

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
    """One SQL statement of a migration file.

    One of a large file's (:class:`Statements`) leaves ``line``, ``text``, ``digest`` and ``offset``
    unset and reads them from the file's columns each time they are asked for: Python asks
    ``__getattr__`` only for an unset slot, so every other statement pays nothing for it, and
    the statements of a data load, once ``up`` has read them all, hold ~150 bytes each, not 440.
    """

    index: int
    line: int
    text: str
    kind: str
    transactional: bool
    #: The checksum, when the parse computed it (a large file's statements); else computed when first asked.
    #: Never compared: it follows from the text, which is.
    digest: str = field(default="", compare=False, repr=False)
    transaction_control: str = ""
    locks: LockFacts = field(default_factory=LockFacts)
    backfill: str = ""
    #: Where the statement's text starts in the file: its tree's source offsets are the file's.
    offset: int = field(default=0, compare=False, repr=False)
    _node: Any = field(default=None, init=False, compare=False, repr=False)
    #: The large file's statements this one was made from (its unset slots are read from them), else None.
    _source: Statements | None = field(default=None, init=False, compare=False, repr=False)

    if not TYPE_CHECKING:  # for the type checker, every field is set: it must not read any other name as valid

        def __getattr__(self, name: str) -> object:
            source = object.__getattribute__(self, "_source") if name != "_source" else None
            if source is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            return source.unset(self, name)

    @property
    def checksum(self) -> str:
        """SHA-256 of the statement's parse tree without source positions (:func:`statement_checksum`).

        The linter never asks for it, so a small file's statements compute it only when applied or compared.
        """
        if not self.digest:
            object.__setattr__(self, "digest", statement_checksum(self.text))
        return self.digest

    @property
    def node(self) -> Any:
        """The statement's parse tree, source offsets the file's, for the linter.

        A small file's statement keeps the tree its facts were read from (:data:`KEEP_TREES_CHARS`);
        another builds it the first time it is asked. Applying a file needs no tree (its facts are
        read once per statement shape), so a large data load never holds one per row.
        """
        if self._node is None:
            object.__setattr__(self, "_node", tree_at(self.text, self.offset))
        return self._node

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


def parse_statements(sql: str, *, keep_trees: bool = True) -> Sequence[Statement]:
    """Split ``sql`` into statements with their first line, mode and checksum.

    Linear in the file: the parser splits it a part at a time (:func:`_statement_bounds`), then
    each statement is parsed on its own to JSON, and its facts and checksum come from the
    :class:`shapes.Shapes` memo when a statement of the same shape was seen before (the rows
    of a data load), instead of a walk of its tree in Python. Its tree is built only if the
    linter asks for it (:attr:`Statement.node`). ``keep_trees=False`` (applying) keeps no tree at all:
    a tree is about 15 times its statement, and ``up`` holds every pending migration at once; and it
    computes every checksum from the tree at hand (the linter never asks for one: it computes none,
    and a checksum asked for later parses its statement again).
    A file over :data:`KEEP_TREES_CHARS` gives :class:`Statements`, its statements as columns.
    """
    # Parsing makes many containers and no cycle: the cyclic collector would walk them again and
    # again (three quarters of the time of a large statement's tree) and free nothing more.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if len(sql) > KEEP_TREES_CHARS:
            return _columns(sql, _statement_bounds(sql))
        return _statements(sql, _statement_bounds(sql), keep_trees=keep_trees)
    finally:
        if collecting:
            gc.enable()


#: Characters the parser splits at a time: its tree of a part is ~15 times the part, freed after.
SPLIT_CHARS = 1_000_000
_TERMINATED = re.compile(r"\s*;")


def _statement_bounds(sql: str) -> Iterator[slice]:
    """Each statement's text in ``sql``, as the parser splits the whole of it, a part at a time.

    A part ends after a newline, so no token but a string, comment or quoted name can span its
    end, and those are then unterminated: the part does not parse and is read again twice as
    long. A part that parses splits as the whole file does up to its last statement ended by
    ``;`` (the parser reads left to right, the same tokens); a last statement the part cut off
    is read again at the start of the next part.
    """
    start, size = 0, SPLIT_CHARS
    while start < len(sql):
        stop = _part_end(sql, start + size)
        try:
            found = parser.split(sql[start:stop], with_parser=True, only_slices=True)
        except parser.ParseError as exc:
            if stop < len(sql):
                size *= 2
                continue
            raise _parse_failure(sql, exc, start) from exc
        whole = list(found)
        if stop < len(sql) and whole and not _TERMINATED.match(sql, start + whole[-1].stop, stop):
            cut = whole.pop()
            if not whole:
                size *= 2
                continue
            stop = start + cut.start
        yield from (slice(start + bound.start, start + bound.stop) for bound in whole)
        start, size = stop, SPLIT_CHARS


def _part_end(sql: str, end: int) -> int:
    """Where a part of ``sql`` reaching ``end`` stops: after the first newline after a ``;`` from ``end`` on.

    A statement longer than a part (one ``INSERT`` of 100,000 rows) then fits in one part, read once, when
    the ``;`` ends it; a ``;`` in a string or comment makes a part that does not parse, read again longer.
    """
    if end >= len(sql):
        return len(sql)
    semicolon = sql.find(";", end)
    return len(sql) if semicolon < 0 else sql.find("\n", semicolon) + 1 or len(sql)


#: A file up to this size keeps the tree its facts were read from on each statement, for the linter, which
#: reads most statements' trees: building one is most of a statement's cost. A larger file (a data load)
#: keeps none, so applying it never holds one per row; a tree is then built again if it is asked for.
#: A file this small leaves its statements' checksums until they are asked for (the linter never asks);
#: a larger one computes them as it parses, where statements of one shape share the work.
KEEP_TREES_CHARS = 1_000_000


class _Facts:
    """Reads a statement's facts from its tree, built from the JSON the parser already wrote for it.

    The tree is built with the file's offsets, so the same tree serves :attr:`Statement.node`:
    ``last`` holds it until the statement takes it (facts hold no source offset). Where no tree
    is kept (``trees_kept=False``: a large file), a long ``INSERT``'s facts are read from a tree
    of its first row (:func:`shapes.first_row_only`) when its kind's facts are its tables alone.
    """

    def __init__(self, *, trees_kept: bool = True) -> None:
        self.tree_json = ""
        self.offset = 0
        self.last: Any = None
        self.trees_kept = trees_kept

    def __call__(self, text: str) -> tuple[str, bool, str, LockFacts]:
        tree_json = self.tree_json
        if not self.trees_kept and len(tree_json) >= shapes.ROWS_CHARS and _tables_only(shapes.kind_of(tree_json)):
            # A data load's INSERT of 100,000 rows: its facts are read from its first row alone, not from
            # a tree of all of them (~80 times the statement). The tree has no offsets: facts hold none.
            tree_json = shapes.first_row_only(tree_json) or tree_json
        built = trees.build(trees.load(tree_json), text, self.offset)
        node = self.last = built.node
        kind = type(node).__name__
        return kind, _runs_in_transaction(node, kind), _transaction_control(node, kind), facts(node, built.range_vars)


#: Kinds whose transaction mode or control is read from the statement's tree, not from its kind alone.
_MODES_READ = _NEVER_IN_TRANSACTION | {
    "IndexStmt",
    "DropStmt",
    "ReindexStmt",
    "AlterTableStmt",
    "VacuumStmt",
    "ClusterStmt",
    "TransactionStmt",
}


def _tables_only(kind: str) -> bool:
    """Whether the facts of a statement of ``kind`` are its kind's and the tables it names, nothing else.

    So for a kind without a lock handler (:func:`locks.reads_constants`) whose transaction mode and
    control follow from the kind (:func:`_runs_in_transaction`, :func:`_transaction_control`).
    """
    return bool(kind) and not reads_constants(kind) and kind not in _MODES_READ


def _read_each(
    sql: str, bounds: Iterator[slice], reader: _Facts, *, small: bool = False
) -> Iterator[tuple[int, str, int, bytes, tuple[str, bool, str, LockFacts]]]:
    """Each statement of ``sql`` as ``(offset, text, line, checksum digest, facts)``, parsed once.

    The one walk behind a small file's :class:`Statement` list and a large file's columns: lines are
    counted on from the last statement (linear in the file), facts come through one memo of shapes.
    """
    memo = shapes.Shapes(reader, reads_constants)
    line, counted_to = 1, 0
    for bound in bounds:
        first_token = _first_token(sql, bound.start, bound.stop)
        text = sql[first_token : bound.stop]
        line += sql.count("\n", counted_to, first_token)
        counted_to = first_token
        reader.tree_json, reader.offset, reader.last = parser.parse_sql_json(text), first_token, None
        checksum, found = memo.read(text, reader.tree_json, small)
        yield first_token, text, line, checksum, found


#: ``Statement(**fields)`` without a call per field (:func:`trees.maker`): one per statement parsed.
_new_statement = trees.maker(Statement)


def _statements(sql: str, bounds: Iterator[slice], *, keep_trees: bool) -> list[Statement]:
    reader = _Facts()
    small = len(sql) <= KEEP_TREES_CHARS
    statements: list[Statement] = []
    for first_token, text, line, checksum, found in _read_each(sql, bounds, reader, small=small):
        kind, transactional, transaction_control, locks = found
        statement = _new_statement(
            index=len(statements),
            line=line,
            text=text,
            kind=kind,
            transactional=transactional,
            digest=checksum.hex() if checksum or keep_trees else shapes.checksum(reader.tree_json),
            transaction_control=transaction_control,
            locks=locks,
            offset=first_token,
        )
        if keep_trees and small and reader.last is not None:
            object.__setattr__(statement, "_node", reader.last)
        statements.append(statement)
    return statements


def _columns(sql: str, bounds: Iterator[slice]) -> Statements:
    """A large file's statements as :class:`Statements`: per statement its bounds, line, facts and checksum.

    No Python object is made per statement: a data load's rows share their facts (one row of
    ``facts`` per shape), and their numbers and checksums go into arrays.
    """
    columns = _Columns(sql)
    starts, stops, lines, rows, digests = columns.starts, columns.stops, columns.lines, columns.rows, columns.digests
    row_of: dict[int, int] = {}  # id() of a facts tuple the memo gave: ``columns.facts`` keeps it alive
    for first_token, text, line, checksum, found in _read_each(sql, bounds, _Facts(trees_kept=False)):
        row = row_of.get(id(found))
        if row is None:
            row = row_of[id(found)] = len(columns.facts)
            columns.facts.append(found)
        starts.append(first_token)
        stops.append(first_token + len(text))
        lines.append(line)
        rows.append(row)
        digests += checksum
    return Statements(columns, 0, len(starts))


@dataclass(slots=True)
class _Columns:
    """One large file's statements, the i-th of each column for the i-th statement."""

    sql: str
    starts: array[int] = field(default_factory=lambda: array("q"))
    stops: array[int] = field(default_factory=lambda: array("q"))
    lines: array[int] = field(default_factory=lambda: array("q"))
    #: Each statement's row of ``facts``: kind, transactional, transaction control, lock facts.
    rows: array[int] = field(default_factory=lambda: array("I"))
    facts: list[tuple[str, bool, str, LockFacts]] = field(default_factory=list)
    #: The statements' checksums, 32 bytes each (SHA-256 digests, not yet written in hex).
    digests: bytearray = field(default_factory=bytearray)


#: Bytes of a statement's checksum in ``_Columns.digests`` (a SHA-256 digest).
_DIGEST = 32


class Statements(Sequence[Statement]):
    """The statements of a large file (over :data:`KEEP_TREES_CHARS`), each made when it is read.

    A data load of 717,461 ``INSERT``s held as :class:`Statement` objects took 440 bytes a
    statement beside its text (the object, its text, its checksum in hex, three integers):
    six times the file. Here a statement is its place in the file's text (which the runner
    needs whole anyway), its line, a row of facts shared with the statements of its shape
    and its 32-byte checksum: ~60 bytes. Reading the file's checksum makes no statement; a
    statement read is made once and kept (``up`` reads each several times, and compares them
    by identity), with only its index and shared facts of its own (~150 bytes).

    A slice keeps the statements' indexes, as a tuple's does; :func:`renumbered` numbers them
    from 0 again (a file's wrapping BEGIN and COMMIT dropped); :func:`with_backfill` marks one.
    """

    __slots__ = ("_backfills", "_base", "_columns", "_made", "_start", "_stop")

    def __init__(
        self,
        columns: _Columns,
        start: int,
        stop: int,
        base: int = 0,
        backfills: Mapping[int, str] | None = None,
        made: list[Statement | None] | None = None,
    ) -> None:
        self._columns = columns
        self._start, self._stop, self._base = start, max(start, stop), base
        self._backfills: Mapping[int, str] = backfills or {}
        #: The statements made so far, by place in the file: shared with slices, which number them alike.
        self._made = made if made is not None else []

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> Statement: ...

    @overload
    def __getitem__(self, index: slice) -> Statements: ...

    def __getitem__(self, index: int | slice) -> Statement | Statements:
        if isinstance(index, slice):
            window = range(self._start, self._stop)[index]
            if window.step != 1:
                raise ValueError("statements are sliced with a step of 1")
            return Statements(self._columns, window.start, window.stop, self._base, self._backfills, self._made)
        position = self._start + (index + len(self) if index < 0 else index)
        if not self._start <= position < self._stop:
            raise IndexError("statement index out of range")
        return self._statement(position)

    def __iter__(self) -> Iterator[Statement]:
        return map(self._statement, range(self._start, self._stop))

    def _statement(self, position: int) -> Statement:
        if not self._made:
            self._made.extend([None] * len(self._columns.starts))
        made = self._made[position]
        if made is None:
            made = self._made[position] = self._make(position)
        return made

    def _make(self, position: int) -> Statement:
        """A statement with its shared facts set, its own numbers and text left to :meth:`unset`."""
        kind, transactional, transaction_control, locks = self._columns.facts[self._columns.rows[position]]
        statement = object.__new__(Statement)
        set_slot = object.__setattr__  # Statement is frozen: its own __setattr__ refuses
        set_slot(statement, "index", position - self._base)
        set_slot(statement, "kind", kind)
        set_slot(statement, "transactional", transactional)
        set_slot(statement, "transaction_control", transaction_control)
        set_slot(statement, "locks", locks)
        set_slot(statement, "backfill", self._backfills.get(position, ""))
        set_slot(statement, "_node", None)
        set_slot(statement, "_source", self)
        return statement

    def unset(self, statement: Statement, name: str) -> object:
        """The ``line``, ``text``, ``digest`` or ``offset`` of a statement made here, read from the columns."""
        columns, position = self._columns, statement.index + self._base
        if name == "text":
            return columns.sql[columns.starts[position] : columns.stops[position]]
        if name == "line":
            return columns.lines[position]
        if name == "offset":
            return columns.starts[position]
        if name == "digest":
            return columns.digests[position * _DIGEST : (position + 1) * _DIGEST].hex()
        raise AttributeError(f"'Statement' object has no attribute {name!r}")

    def matching(self, test: Callable[[Statement], bool]) -> Iterator[Statement]:
        """The statements passing ``test``, asked once per row of facts (see :func:`matching`)."""
        columns = self._columns
        first: dict[int, int] = {}
        for position in range(self._start, self._stop):
            first.setdefault(columns.rows[position], position)
        passing = {row for row, position in first.items() if test(self._statement(position))}
        if passing:
            rows = columns.rows
            yield from (self._statement(p) for p in range(self._start, self._stop) if rows[p] in passing)

    def checksum_lines(self, start: int, stop: int) -> bytes:
        """The hex checksums of statements ``start`` to ``stop``, a newline after each (as the migration's hashes)."""
        part = self._columns.digests[(self._start + start) * _DIGEST : (self._start + min(stop, len(self))) * _DIGEST]
        return (part.hex("\n", _DIGEST) + "\n").encode() if part else b""

    def renumbered(self) -> Statements:
        return Statements(self._columns, self._start, self._stop, self._start, self._backfills)

    def with_backfill(self, index: int, name: str) -> Statements:
        backfills = {**self._backfills, self._start + index: name}
        return Statements(self._columns, self._start, self._stop, self._base, backfills)


def matching(statements: Sequence[Statement], test: Callable[[Statement], bool]) -> Iterator[Statement]:
    """The statements passing ``test``, which must read only what statements of one shape share: kind,
    modes, lock facts (not the text, line or backfill). Large files ask it once per shape, not per row."""
    if isinstance(statements, Statements):
        return statements.matching(test)
    return (statement for statement in statements if test(statement))


def renumbered(statements: Sequence[Statement]) -> Sequence[Statement]:
    """``statements`` with their indexes counted from 0 again (a slice keeps the file's)."""
    if isinstance(statements, Statements):
        return statements.renumbered()
    return [s if s.index == i else replace(s, index=i) for i, s in enumerate(statements)]


def with_backfill(statements: Sequence[Statement], index: int, name: str) -> Sequence[Statement]:
    """``statements`` with the one at ``index`` made backfill ``name``'s batch statement."""
    if isinstance(statements, Statements):
        return statements.with_backfill(index, name)
    marked = list(statements)
    marked[index] = replace(marked[index], backfill=name)
    return marked


def _parse_failure(sql: str, exc: parser.ParseError, start: int) -> ParseFailure:
    """Where in ``sql`` the parser stopped, reading it from ``start``."""
    offset = start + (exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0)
    if "at end of input" in str(exc.args[0]):
        offset = len(sql.rstrip())
    return ParseFailure(str(exc.args[0]), line_of(sql, offset), column_of(sql, offset))


def _first_token(sql: str, start: int, stop: int) -> int:
    """Offset of a statement's first token: past the whitespace and comments the parser counts in it."""
    if start < stop and not sql[start].isspace() and not sql.startswith(("--", "/*"), start, stop):
        return start  # most statements: the split starts them at their first token
    index = _BLANKS.match(sql, start, stop).end()  # type: ignore[union-attr]  # matches the empty string
    while sql.startswith(("--", "/*"), index, stop):
        if sql.startswith("--", index, stop):
            newline = sql.find("\n", index, stop)
            index = stop if newline < 0 else newline + 1
        else:
            index = _skip_block_comment(sql, index, stop)
        index = _BLANKS.match(sql, index, stop).end()  # type: ignore[union-attr]
    return index


#: Whitespace as ``str.isspace`` has it (``\s`` of a str pattern is the same class), in one C call.
_BLANKS = re.compile(r"\s*")


def _skip_block_comment(sql: str, index: int, stop: int) -> int:
    depth = 0
    while index < stop:
        if sql.startswith("/*", index, stop):
            depth += 1
            index += 2
        elif sql.startswith("*/", index, stop):
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
    """SHA-256 of the statement's parse tree without source positions (:func:`shapes.canonical`)."""
    return shapes.checksum(parser.parse_sql_json(text))


def tree_at(text: str, offset: int) -> Any:
    """The parse tree of the statement ``text`` found at ``offset`` in its file, with the file's source offsets.

    Read by :func:`locks.facts` too, which names an inline key's column in its constraint
    (``ADD COLUMN id bigint PRIMARY KEY``): the linter's rules see the tree as they always have.
    """
    built = trees.build(json.loads(parser.parse_sql_json(text)), text, offset)
    facts(built.node, built.range_vars)
    return built.node


def migration_checksum(statements: Sequence[Statement]) -> str:
    """The checksum of a migration: its statements' checksums, in order."""
    digest = hashlib.sha256()
    for start in range(0, len(statements), _CHECKSUMS_AT_A_TIME):
        if isinstance(statements, Statements):
            digest.update(statements.checksum_lines(start, start + _CHECKSUMS_AT_A_TIME))
            continue
        part = statements[start : start + _CHECKSUMS_AT_A_TIME]
        digest.update("".join([f"{statement.checksum}\n" for statement in part]).encode())
    return digest.hexdigest()


#: Statement checksums hashed in one call: a few hundred kilobytes of text, however large the file.
_CHECKSUMS_AT_A_TIME = 4096


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
