"""A name longer than 63 bytes is silently truncated by PostgreSQL: the object gets another name."""

import re
from collections.abc import Iterator
from dataclasses import replace

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.source import Migration

RULE_ID = "identifier-too-long"
SUMMARY = "an identifier longer than 63 bytes is silently truncated by PostgreSQL"
SEVERITY = "error"
#: NAMEDATALEN - 1: the longest identifier PostgreSQL keeps.
MAX_IDENTIFIER_BYTES = 63


#: A run of characters that could hold a whole unquoted name: none of a blank, quote, dot, comma, semicolon or
#: parenthesis in it. 64 bytes of UTF-8 take at least 16 characters.
_LONG_RUN = re.compile(r'[^\s"().,;]{16,}')
#: In ASCII text a name of 64 bytes or more is 64 characters or more as written: a run of them from its start
#: (unquoted), or 64 characters or doubled quotes after a quote (quoted; an escape is longer than its bytes).
_LONG_ASCII = re.compile(r'(?<![^\s"().,;])[^\s"().,;]{64}|"(?:[^"]|""){64}')


def _may_hold_a_long_name(text: str) -> bool:
    """Cheap test before the token scan: in ASCII text, 64 characters a name could be written with; in other
    text, a quoted name (may hold anything) or an unquoted run of more than 63 bytes.

    Most text is ASCII without a quote: no word between blanks is that long, which ``split`` shows faster than
    any search; the scan, and the length of every run, cost more.
    """
    if text.isascii():
        if '"' not in text and max(map(len, text.split()), default=0) <= MAX_IDENTIFIER_BYTES:
            return False
        return _LONG_ASCII.search(text) is not None
    return '"' in text or any(len(m.group().encode()) > MAX_IDENTIFIER_BYTES for m in _LONG_RUN.finditer(text))


def _identifiers(text: str) -> Iterator[tuple[str, int]]:
    """``(name, offset)`` of each identifier as written: the parse tree only holds the truncated name."""
    from pglast.parser import scan

    if not _may_hold_a_long_name(text):
        return
    for token in scan(text):
        if token.name != "IDENT":
            continue
        written = text[token.start : token.end + 1]
        if written.startswith('"'):
            written = written[1:-1].replace('""', '"')
        yield written, token.start


def relevant(migration: Migration) -> bool:
    """A file whose whole text holds no such name has none in a statement: one search instead of one each."""
    return _may_hold_a_long_name(migration.sql)


def check(subject: Subject) -> Iterator[Finding]:
    text = subject.statement.text
    for name, offset in _identifiers(text):
        size = len(name.encode())
        if size <= MAX_IDENTIFIER_BYTES:
            continue
        kept = name.encode()[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")
        finding = subject.finding(
            RULE_ID,
            Severity.ERROR,
            f"the name {name!r} is {size} bytes long; PostgreSQL keeps only the first {MAX_IDENTIFIER_BYTES} "
            f"({kept!r}), so statements and code using the full name do not find it",
            f"use a name of at most {MAX_IDENTIFIER_BYTES} bytes",
        )
        line_start = text.rfind("\n", 0, offset) + 1
        yield replace(
            finding, line=subject.statement.line + text.count("\n", 0, offset), column=offset - line_start + 1
        )
