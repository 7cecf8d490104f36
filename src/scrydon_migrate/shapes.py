"""Statement shapes: the statements of a file that differ only in their scalars share the work on them.

A data load is thousands of statements alike but for their constants. Parsing each into
Python objects and walking its tree twice (lock facts, then the checksum) is what made
a large file slow. Here each statement's parse tree is read as the parser's JSON text:

* its checksum is the SHA-256 of :func:`canonical`, the definition every stored checksum
  was made with. A :class:`_Template` is that canonical text with a slot for each scalar,
  learnt from one statement and checked against :func:`canonical` on it. A later statement
  matches the template's pattern only when its JSON has the same keys, brackets and
  literals with a scalar of the same type in each place, and then filling the slots gives
  exactly its canonical text, without building its tree.
* its facts (kind, transaction mode, lock facts) are computed once per tree that differs
  in what can change them: everything but source positions and, for a statement whose
  facts read no constant, its constants.

Both memos together hold at most :data:`MEMO_CHARS` characters of keys, so a file of
statements all unlike each other costs no more memory than the statements themselves.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Facts = TypeVar("Facts")

_STRING = r'"(?:[^"\\]|\\.)*"'
#: A string that ``json.dumps`` writes as the parser does: printable ASCII, no escape.
_PLAIN_STRING = r'"[ !#-\[\]-~]*"'
_INTEGER = r"-?(?:0|[1-9][0-9]*)"
#: Where a scalar starts: after ``:``, ``[`` or ``,``, so no key and nothing inside a string is read as one.
_AT_VALUE = r"(?<=[:\[,])"
#: Every scalar of the parser's JSON in document order (a float is left out: its tree gets no template).
_SCALAR = re.compile(_AT_VALUE + rf"(?:{_STRING}(?!:)|{_INTEGER}(?=[,}}\]])|true|false|null)")
#: String and integer scalars, replaced by ``"`` and by nothing: what stays (keys, literals, brackets) is a shape.
_STRING_VALUE = re.compile(_AT_VALUE + _STRING + "(?!:)")
_INTEGER_VALUE = re.compile(_AT_VALUE + _INTEGER + r"(?=[,}\]])")
_NOT_PLAIN = re.compile(r"[^ !#-\[\]-~]")
#: A source position and its key: ``location``, ``stmt_location``, ``stmt_len``, ``list_start``...
_POSITION = r'"(?:stmt_len|[^"\\]*location|[^"\\]*_start|[^"\\]*_end)":-?[0-9]+(?=[,}])'
_POSITION_AFTER = re.compile("," + _POSITION)
_POSITION_FIRST = re.compile(r"\{" + _POSITION + ",?")
#: The same two patterns for the one position key of nearly every node, ``location``: a literal start
#: lets the regular expression engine skip from one to the next instead of trying each comma.
_LOCATION_AFTER = re.compile(r',"location":-?[0-9]+(?=[,}])')
_LOCATION_FIRST = re.compile(r'\{"location":-?[0-9]+(?=[,}]),?')
#: What the name of a position key other than ``location`` ends with: if none is left, nor is any position.
_OTHER_POSITIONS = ('location":', '_start":', '_end":', 'stmt_len":')
#: A constant with its value (one level of nesting: ``{"ival":{"ival":1},"location":5}``); possessive,
#: so a run of plain characters is taken whole instead of one alternative per character.
_CONSTANT = re.compile(r'"A_Const":\{(?:[^{}"]++|"(?:[^"\\]++|\\.)*+"|\{(?:[^{}"]++|"(?:[^"\\]++|\\.)*+")*+\})*+\}')
_KIND = re.compile(r'"stmts":\[\{"stmt":\{"([^"]+)"')
_MARK = re.compile(r'"@([0-9]+)@"')
#: Memo keys kept at most, in characters, before the memos start again.
MEMO_CHARS = 32_000_000
#: A statement whose JSON is longer gets no template (its pattern would cost more than it saves).
TEMPLATE_CHARS = 16_000
#: A shape gets a template once this many statements had it: compiling the pattern costs as much
#: as reading a few dozen statements the long way, so a shape seen a few times never pays for one.
LEARN_AFTER = 16


def canonical(tree: str) -> str:
    """A statement's parse tree (the parser's JSON) as sorted, compact, ASCII JSON without source positions.

    What a statement's checksum hashes. Positions are integers under a key named ``stmt_len``
    or ending in ``location``, ``_start`` or ``_end``; they are cut from the text before it is
    loaded (every key follows ``{`` or ``,``, and no string holds an unescaped quote).
    """
    return json.dumps(json.loads(_without_positions(tree)).get("stmts", []), sort_keys=True, separators=(",", ":"))


def _without_positions(tree: str) -> str:
    """``tree`` without its position members: each one after another member, then each one first in its object.

    The ``location`` members go first, three times faster than the general patterns, which then run only
    on a tree that has another position key left (``stmt_location``, ``list_start``, ...). The result is
    the same either way: every position member removed, and the commas between the others kept.
    """
    tree = _LOCATION_FIRST.sub("{", _LOCATION_AFTER.sub("", tree))
    if any(end in tree for end in _OTHER_POSITIONS):
        tree = _POSITION_FIRST.sub("{", _POSITION_AFTER.sub("", tree))
    return tree


def checksum(tree: str) -> str:
    """SHA-256 of :func:`canonical`: a statement's checksum."""
    return _digest_of(_without_positions(tree)).hex()


def _digest_of(bare: str) -> bytes:
    """The SHA-256 digest :func:`checksum` writes in hex, of a tree already without its positions."""
    canonical_text = _with_rows_read(bare) if len(bare) >= ROWS_CHARS else None
    if canonical_text is None:
        canonical_text = json.dumps(json.loads(bare).get("stmts", []), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical_text.encode()).digest()


#: A tree (without positions) this long with a ``VALUES`` list has the canonical text of its rows read
#: from it (:func:`_with_rows_read`): loading and dumping 100,000 rows was most of such a statement's time.
ROWS_CHARS = 65_536
_ROWS = '"valuesLists":['
_ROWS_MARK = '"@rows@"'
#: Row shapes learnt per statement at most: a row of yet another shape is dumped on its own.
ROW_SHAPES = 8
_DECODER = json.JSONDecoder()
#: A string that loads and dumps to the same text, and an integer that does (no ``-0``).
_SAME_STRING = r'"[ !#-\[\]-~]*"'
_SAME_INTEGER = r"(?:0|-?[1-9][0-9]*)"


def _with_rows_read(bare: str) -> str | None:
    """:func:`canonical` of ``bare`` (a tree without positions), its first ``VALUES`` list's rows read, not rebuilt.

    The canonical text of a list is its items' canonical texts between brackets, so the tree is
    dumped with a mark in place of the rows, and the mark replaced by the rows' texts
    (:func:`_canonical_rows`). None when the tree has no ``VALUES`` list or holds the mark.
    """
    start = bare.find(_ROWS)
    if start < 0 or _ROWS_MARK in bare:
        return None
    first = start + len(_ROWS)
    rows, end = _canonical_rows(bare, first)
    rest = json.dumps(
        json.loads(bare[:first] + _ROWS_MARK + bare[end:]).get("stmts", []), sort_keys=True, separators=(",", ":")
    )
    marked = f"[{_ROWS_MARK}]"
    if rest.count(marked) != 1:
        return None
    return rest.replace(marked, f"[{rows}]")


def first_row_only(tree: str) -> str | None:
    """``tree`` (the parser's JSON) without its positions, its first ``VALUES`` list cut to its first row.

    None when it has no such list, or when a row names a table (``"relname"`` is a ``RangeVar``'s):
    the rows left out then hold no table, only what the facts of an ``INSERT`` never read.
    """
    bare = _without_positions(tree)
    start = bare.find(_ROWS)
    if start < 0:
        return None
    first = start + len(_ROWS)
    end = _canonical_rows(bare, first)[1]
    if '"relname":' in bare[first:end]:
        return None
    first_end = _DECODER.raw_decode(bare, first)[1]
    return bare[:first_end] + bare[end:]


def kind_of(tree: str) -> str:
    """The node kind of a statement's tree (the parser's JSON), without loading it."""
    found = _KIND.search(tree)
    return found[1] if found else ""


def _canonical_rows(bare: str, position: int) -> tuple[str, int]:
    """The canonical texts of the items of the list starting at ``position``, joined by commas, and where it ends.

    A row whose text is its canonical text (its keys in order, its strings and integers written as
    ``json.dumps`` writes them) gives a pattern of its shape (:func:`_same_rows`): a run of rows
    matching it is its own canonical text, copied as it is. Any other row is loaded and dumped.
    """
    pieces: list[str] = []
    runs: list[re.Pattern[str]] = []
    while not bare.startswith("]", position):
        found = next((m for m in (run.match(bare, position) for run in runs) if m is not None), None)
        if found is not None:
            pieces.append(found.group())
            position = found.end()
        else:
            row, end = _DECODER.raw_decode(bare, position)
            text = json.dumps(row, sort_keys=True, separators=(",", ":"))
            pieces.append(text)
            if text == bare[position:end] and len(runs) < ROW_SHAPES:
                runs.append(_same_rows(text))
            position = end
        position += bare.startswith(",", position)
    return ",".join(pieces), position


def _same_rows(row: str) -> re.Pattern[str]:
    """A pattern matching a comma-separated run of rows shaped as ``row``, each its own canonical text.

    ``row`` is canonical; a row matching has its keys, brackets and literals, and strings and
    integers that load and dump to themselves in its scalars' places.
    """
    parts, end = [], 0
    for token in _SCALAR.finditer(row):
        value = token.group()
        parts.append(re.escape(row[end : token.start()]))
        parts.append(
            _SAME_STRING if value.startswith('"') else re.escape(value) if value[0] in "tfn" else _SAME_INTEGER
        )
        end = token.end()
    parts.append(re.escape(row[end:]))
    one = "".join(parts)
    return re.compile(f"{one}(?:,{one})*")


def is_position(name: str, value: Any) -> bool:
    """A source offset in the parse tree (``location``, ``arg_location``, ``list_start``, ...)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return name == "stmt_len" or name.endswith(("location", "_start", "_end"))


class Shapes(Generic[Facts]):
    """The templates and facts learnt from the statements of one file.

    ``facts_of(text)`` computes a statement's facts from its text (they must hold no source
    offset); ``reads_constants(kind)`` says whether they may depend on the constants of a
    statement of that kind.
    """

    def __init__(self, facts_of: Callable[[str], Facts], reads_constants: Callable[[str], bool]) -> None:
        self._facts_of = facts_of
        self._reads_constants = reads_constants
        self._templates: dict[str, _Template | int | None] = {}
        self._kinds: dict[str, int] = {}
        self._facts: dict[object, Facts] = {}
        self._last: _Template | None = None
        self._learnt = 0  # templates numbered for good: a facts key names its template, never another's
        self._chars = 0

    def read(self, text: str, tree: str, small: bool = False) -> tuple[bytes, Facts]:
        """The checksum (its SHA-256 digest, not yet in hex) and facts of the statement ``text`` whose tree is ``tree``.

        For a ``small`` file the checksum is ``b""`` unless a template gives it for (almost) nothing, and
        facts are computed without a memo key: reading a key costs as much as the facts of a small
        statement, and a small file rarely repeats one (its data loads are matched by templates).
        """
        last = self._last
        found = last.plain.fullmatch(tree) if last is not None else None
        if last is not None and found is not None:  # a data load's next row: its shape and facts are known
            groups = found.groups()
            facts = self._facts.get((last.number, last.pick_facts(groups)))
            if facts is not None:
                return hashlib.sha256((last.text % last.pick_slots(groups)).encode()).digest(), facts
        match = self._last.match(tree) if self._last is not None else None
        if match is None:
            self._last = self._template(tree)
            match = self._last.match(tree) if self._last is not None else None
        if (match is None or self._last is None) and small:
            return b"", self._facts_of(text)
        if match is None or self._last is None:
            kind = _KIND.search(tree)
            bare = _without_positions(tree)  # what the checksum hashes and the facts key starts from
            key = self._facts_key(bare, kind[1] if kind else "")
            return _digest_of(bare), self._remembered(key, len(key), text)
        template = self._last
        values = template.facts_values(match)
        digest = hashlib.sha256(template.canonical(match).encode()).digest()
        return digest, self._remembered((template.number, values), sum(map(len, values)), text)

    def _template(self, tree: str) -> _Template | None:
        """The template of ``tree``'s shape, learnt when :data:`LEARN_AFTER` statements had the shape."""
        if len(tree) > TEMPLATE_CHARS or not self._kind_repeats(tree):
            return None
        shape = _INTEGER_VALUE.sub("", _STRING_VALUE.sub('"', tree))
        found = self._templates.get(shape, 0)
        if isinstance(found, int):
            if found == 0:
                self._spend(len(shape))
            if found + 1 < LEARN_AFTER:
                found += 1
            else:
                self._learnt += 1
                found = _Template.learn(tree, self._learnt, self._reads_constants)
            self._templates[shape] = found
        return found if isinstance(found, _Template) else None

    def _kind_repeats(self, tree: str) -> bool:
        """Whether :data:`LEARN_AFTER` statements of this one's kind came before: only then is its shape read.

        Reading a shape costs two passes over the tree's text: a file of statements all unlike each
        other (most migrations) never pays them, a data load pays them from its seventeenth row on.
        """
        kind = _KIND.search(tree)
        name = kind[1] if kind else ""
        seen = self._kinds.get(name, 0)
        if seen >= LEARN_AFTER:
            return True
        self._kinds[name] = seen + 1
        return False

    def _facts_key(self, bare: str, kind: str) -> str:
        """The tree (``bare``: without positions) without what cannot change its facts, when it has no template."""
        return bare if not kind or self._reads_constants(kind) else _CONSTANT.sub('"A_Const":{}', bare)

    def _remembered(self, key: object, chars: int, text: str) -> Facts:
        """The facts learnt for ``key`` (``chars`` long), computed from ``text`` the first time."""
        found = self._facts.get(key)
        if found is None:
            found = self._facts_of(text)
            self._spend(chars)
            self._facts[key] = found
        return found

    def _spend(self, chars: int) -> None:
        """Count a new key against :data:`MEMO_CHARS`, forgetting everything learnt when it is spent."""
        self._chars += chars
        if self._chars > MEMO_CHARS:
            self._templates.clear()
            self._facts.clear()
            self._last = None
            self._chars = chars


class _Template:
    """The canonical text of one tree shape with a ``%s`` per slot, and the pattern that reads the slots.

    ``plain`` matches a tree whose strings are all printable ASCII without escapes (they are
    written into the canonical text as they are); ``escaped`` matches any, and its strings are
    written as ``json.dumps`` writes them.
    """

    __slots__ = ("escaped", "facts_slots", "number", "pick_facts", "pick_slots", "plain", "slots", "text")

    def __init__(
        self, number: int, patterns: tuple[str, str], text: str, slots: tuple[int, ...], facts_slots: tuple[int, ...]
    ) -> None:
        self.number = number
        self.plain = re.compile(patterns[0])
        self.escaped = re.compile(patterns[1])
        self.text = text
        self.slots = slots
        self.facts_slots = facts_slots
        #: ``slots`` and ``facts_slots`` of a plain match's groups, as tuples, in one C call each.
        self.pick_slots = _picker(slots)
        self.pick_facts = _picker(facts_slots)

    @classmethod
    def learn(cls, tree: str, number: int, reads_constants: Callable[[str], bool]) -> _Template | None:
        """The template of ``tree``'s shape, or None when it cannot be shown to give :func:`canonical`."""
        loaded = json.loads(tree)
        marker = _Marker()
        marked = marker(loaded)
        tokens = list(_SCALAR.finditer(tree))
        if marker.unusual or len(tokens) != len(marker.scalars) or not isinstance(marked, dict):
            return None
        statements = loaded.get("stmts") or [{}]
        kind = next(iter(statements[0].get("stmt", {})), "")
        dumped = json.dumps(marked.get("stmts", []), sort_keys=True, separators=(",", ":"))
        pieces = _MARK.split(dumped)
        canonical_scalars = [int(i) for i in pieces[1::2]]
        facts_scalars = [
            i
            for i, (position, constant) in enumerate(marker.scalars)
            if not position and not (constant and not reads_constants(kind))
        ]
        groups = {i: g for g, i in enumerate(sorted({*canonical_scalars, *facts_scalars}))}
        template = cls(
            number,
            (_pattern(tree, tokens, groups, _PLAIN_STRING), _pattern(tree, tokens, groups, _STRING)),
            "%s".join(p.replace("%", "%%") for p in pieces[0::2]),
            tuple(groups[i] for i in canonical_scalars),
            tuple(groups[i] for i in facts_scalars),
        )
        match = template.match(tree)
        return template if match is not None and template.canonical(match) == canonical(tree) else None

    def match(self, tree: str) -> tuple[bool, tuple[str, ...]] | None:
        """The slots of ``tree`` (and whether its strings need escaping), or None when it has another shape."""
        found = self.plain.fullmatch(tree)
        if found is not None:
            return False, found.groups()
        found = self.escaped.fullmatch(tree)
        return None if found is None else (True, found.groups())

    def canonical(self, match: tuple[bool, tuple[str, ...]]) -> str:
        """:func:`canonical` of the tree ``match`` was read from."""
        escaped, values = match
        filled = tuple(map(values.__getitem__, self.slots))
        return self.text % (tuple(map(_as_dumped, filled)) if escaped else filled)

    def facts_values(self, match: tuple[bool, tuple[str, ...]]) -> tuple[str, ...]:
        """The scalars that may change the statement's facts: all but positions and, if they cannot, constants."""
        return tuple(map(match[1].__getitem__, self.facts_slots))


def _picker(indices: tuple[int, ...]) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    """A function taking the items at ``indices`` of a tuple, as a tuple (``itemgetter`` gives one item bare)."""
    if len(indices) > 1:
        return operator.itemgetter(*indices)
    return lambda groups: tuple(groups[i] for i in indices)


def _pattern(tree: str, tokens: list[re.Match[str]], groups: dict[int, int], string: str) -> str:
    """A regular expression matching the trees of ``tree``'s shape, capturing the scalars in ``groups``."""
    parts, end = [], 0
    for i, token in enumerate(tokens):
        parts.append(re.escape(tree[end : token.start()]))
        value = token.group()
        kind = string if value.startswith('"') else _INTEGER if value[0] in "-0123456789" else re.escape(value)
        parts.append(f"({kind})" if i in groups else f"(?:{kind})")
        end = token.end()
    parts.append(re.escape(tree[end:]))
    return "".join(parts)


def _as_dumped(scalar: str) -> str:
    """A scalar of the parser's JSON as ``json.dumps`` writes it (strings with ASCII escapes)."""
    if scalar.startswith('"') and _NOT_PLAIN.search(scalar, 1, len(scalar) - 1):
        return json.dumps(json.loads(scalar))
    return scalar


class _Marker:
    """Numbers a tree's scalars in document order, each replaced by a placeholder, positions dropped.

    For each scalar it records whether it is a source position and whether it is inside a constant.
    """

    def __init__(self) -> None:
        self.scalars: list[tuple[bool, bool]] = []
        self.unusual = False

    def __call__(self, value: Any, key: str = "", in_constant: bool = False) -> Any:
        if isinstance(value, dict):
            marked = {k: self(v, k, in_constant or k == "A_Const") for k, v in value.items()}
            return {k: m for k, m in marked.items() if not is_position(k, value[k])}
        if isinstance(value, list):
            return [self(item, "", in_constant) for item in value]
        self.unusual |= isinstance(value, float)
        self.scalars.append((is_position(key, value), in_constant))
        return f"@{len(self.scalars) - 1}@"
