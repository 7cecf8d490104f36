"""libpq itself, through ctypes: the driver of the start-up check only.

Why not psycopg here: importing psycopg costs ~65 ms and ~13 MiB, more than the whole check that a
pod pays on every start (:mod:`scrydon_migrate.startup`). The check sends two text queries and reads
a few text values, which libpq's synchronous API does in a handful of calls: the same library that
psycopg wraps, so the URL, ``PG*`` environment variables, ``.pgpass``, TLS and authentication
behave exactly alike, and no PostgreSQL protocol is spoken by this project. Anything this module
cannot do (a failed connection, an error, a missing library) raises :class:`LibpqError`, and the
caller falls back to the full path over psycopg, which reports it properly.

The library is the one psycopg's binary wheel ships, else the system's ``libpq.so.5``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
from collections.abc import Sequence
from types import TracebackType

_CONNECTION_OK = 0
_PGRES_TUPLES_OK = 2
_WHEEL_LIBS = "psycopg_binary.libs"


class LibpqError(Exception):
    """libpq could not be loaded, could not connect, or a query failed."""


def _library_paths() -> list[str]:
    """Where libpq may be: psycopg's wheel first (its version is the one the full path uses)."""
    spec = importlib.util.find_spec("psycopg_binary")
    paths = []
    if spec is not None and spec.origin is not None:
        libs = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), _WHEEL_LIBS)
        with contextlib.suppress(OSError):
            paths += sorted(os.path.join(libs, n) for n in os.listdir(libs) if n.startswith("libpq"))
    return [*paths, "libpq.so.5"]


class _Option(ctypes.Structure):
    """libpq's ``PQconninfoOption``."""

    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


_library: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    """The library, loaded once a process."""
    global _library
    if _library is None:
        _library = _find()
    return _library


def conninfo_values(conninfo: str) -> dict[str, str]:
    """The settings libpq's own parser (``PQconninfoParse``) reads from a URL or keyword string."""
    lib = _load()
    error = ctypes.c_void_p()
    options = lib.PQconninfoParse(conninfo.encode(), ctypes.byref(error))
    if not options:
        message = ctypes.string_at(error.value).decode(errors="replace").strip() if error.value else "out of memory"
        if error.value:
            lib.PQfreemem(error)
        raise LibpqError(message)
    try:
        values, index = {}, 0
        while options[index].keyword is not None:
            option = options[index]
            if option.val is not None:
                values[option.keyword.decode()] = option.val.decode(errors="replace")
            index += 1
        return values
    finally:
        lib.PQconninfoFree(options)


def _find() -> ctypes.CDLL:
    for path in _library_paths():
        with contextlib.suppress(OSError):
            return _declare(ctypes.CDLL(path))
    raise LibpqError("libpq not found")


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    pointer, text, number = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[type], type | None]] = {
        "PQconnectdbParams": ([ctypes.POINTER(text), ctypes.POINTER(text), number], pointer),
        "PQstatus": ([pointer], number),
        "PQerrorMessage": ([pointer], text),
        "PQfinish": ([pointer], None),
        "PQexecParams": (
            [pointer, text, number, pointer, ctypes.POINTER(text), pointer, pointer, number],
            pointer,
        ),
        "PQresultStatus": ([pointer], number),
        "PQresultErrorMessage": ([pointer], text),
        "PQntuples": ([pointer], number),
        "PQnfields": ([pointer], number),
        "PQgetvalue": ([pointer, number, number], text),
        "PQgetisnull": ([pointer, number, number], number),
        "PQclear": ([pointer], None),
        "PQescapeIdentifier": ([pointer, text, ctypes.c_size_t], pointer),
        "PQfreemem": ([pointer], None),
        "PQconninfoParse": ([text, ctypes.POINTER(pointer)], ctypes.POINTER(_Option)),
        "PQconninfoFree": ([ctypes.POINTER(_Option)], None),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = arguments
        function.restype = result
    return lib


def _strings(values: Sequence[str]) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(values) + 1))(*(v.encode() for v in values), None)


class Connection:
    """One libpq connection, opened like :func:`scrydon_migrate.db.connect` opens psycopg's."""

    def __init__(self, url: str, *, application_name: str, connect_timeout_s: int) -> None:
        self._lib = _load()
        keywords = _strings(["dbname", "application_name", "connect_timeout"])
        values = _strings([url, application_name, str(connect_timeout_s)])
        self._conn = self._lib.PQconnectdbParams(keywords, values, 1)
        if not self._conn or self._lib.PQstatus(self._conn) != _CONNECTION_OK:
            message = self._lib.PQerrorMessage(self._conn) if self._conn else b"out of memory"
            self.close()
            raise LibpqError((message or b"").decode(errors="replace").strip())

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._conn:
            self._lib.PQfinish(self._conn)
            self._conn = None

    def quote_identifier(self, name: str) -> str:
        """``name`` quoted by libpq (``PQescapeIdentifier``), for the tool's own table names."""
        raw = name.encode()
        escaped = self._lib.PQescapeIdentifier(self._conn, raw, len(raw))
        if not escaped:
            raise LibpqError(self._lib.PQerrorMessage(self._conn).decode(errors="replace").strip())
        try:
            return ctypes.string_at(escaped).decode()
        finally:
            self._lib.PQfreemem(escaped)

    def query(self, text: str, params: Sequence[str] = ()) -> list[tuple[str | None, ...]]:
        """The rows of one statement, every value as text (``$1``... are ``params``, sent as text)."""
        result = self._lib.PQexecParams(self._conn, text.encode(), len(params), None, _strings(params), None, None, 0)
        if not result:
            raise LibpqError(self._lib.PQerrorMessage(self._conn).decode(errors="replace").strip())
        try:
            if self._lib.PQresultStatus(result) != _PGRES_TUPLES_OK:
                raise LibpqError(self._lib.PQresultErrorMessage(result).decode(errors="replace").strip())
            return [self._row(result, r, self._lib.PQnfields(result)) for r in range(self._lib.PQntuples(result))]
        finally:
            self._lib.PQclear(result)

    def _row(self, result: int, row: int, width: int) -> tuple[str | None, ...]:
        get, null = self._lib.PQgetvalue, self._lib.PQgetisnull
        return tuple(None if null(result, row, c) else get(result, row, c).decode() for c in range(width))
