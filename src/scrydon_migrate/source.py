"""Migration files: discovery, names and versions, directives, parsing, checksums.

A migration is ``<version>_<slug>.sql`` in its service's folder; ``version`` is an
integer (``0042`` or a timestamp) and files are ordered numerically. golang-migrate's
``<version>_<slug>.up.sql`` is accepted as the same thing and its ``.down.sql`` files
are ignored (forward-only), Flyway's ``V<version>__<slug>.sql`` is read the same
way; dbmate's ``-- migrate:up`` / ``-- migrate:down`` sections
are honoured the same way. Other tools' "no transaction" markers (goose, sql-migrate,
postgres-migrations, morph) mean ``-- migrate:no-transaction``; postgres-migrations'
``ignore`` records the file as applied without running it, as its runners do; a marker
whose meaning cannot be honoured (goose's ``ENVSUB``) is refused.

Discovery (:func:`scan`) only reads bytes and hashes them, so the no-op start-up path
never parses SQL. :func:`load` decodes and parses one file; every refusal names the
file, the line and what to do.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scrydon_migrate import log
from scrydon_migrate.errors import SourceError

if TYPE_CHECKING:
    from scrydon_migrate.analysis import Statement

_NAME = re.compile(
    r"^(?:(?P<version>\d+)_|V(?P<flyway>\d+)__)(?P<slug>[A-Za-z0-9][A-Za-z0-9_.\-]*?)(?P<up>\.up)?\.sql$"
)
_NUMBERED = re.compile(r"^(?:\d+[_.\-]|[VRU]\d*__)")
#: The markers below are comments alone on their line: each pattern starts at the ``--`` (a literal start is
#: found by a fast search, not tried at every line) and :func:`_on_own_lines` checks what comes before it.
_DIRECTIVE = re.compile(r"--[ \t]*migrate:(?P<name>[A-Za-z][\w-]*)(?P<args>[^\n]*)$", re.MULTILINE)
MAX_VERSION = 2**63 - 1
KNOWN_DIRECTIVES = ("no-transaction", "allow", "backfill", "requires-backfill", "stops-using", "up", "down")
_BACKFILL = re.compile(r"^(?P<name>[a-z][a-z0-9_]{0,62})((?:\s+[a-z_]+=\S+)+)$")
_BACKFILL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DOWN_MARKER = re.compile(r"--[ \t]*\+(?:goose|migrate)[ \t]+Down\b", re.MULTILINE | re.IGNORECASE)
#: Other tools' ways of saying "run this file outside a transaction": goose, sql-migrate,
#: postgres-migrations, morph, and the gemnasium/db-journey migrate drivers.
_NO_TRANSACTION_MARKER = re.compile(
    r"--[ \t]*(?:\+goose[ \t]+NO[ \t]+TRANSACTION|\+migrate[ \t]+Up[ \t]+notransaction"
    r"|postgres-migrations[ \t]+disable-transaction|morph:nontransactional|disable_ddl_transaction)[ \t\r]*$",
    re.MULTILINE | re.IGNORECASE,
)
#: postgres-migrations' runners record a file marked ``ignore`` as run without running it (a retired step).
_IGNORE_MARKER = re.compile(r"--[ \t]*postgres-migrations[ \t]+ignore[ \t\r]*$", re.MULTILINE)
#: Markers whose meaning this tool cannot honour: refused rather than half-understood.
_UNSUPPORTED_MARKERS = (
    (
        re.compile(r"--[ \t]*\+goose[ \t]+ENVSUB[ \t]+ON\b", re.MULTILINE | re.IGNORECASE),
        "goose's '-- +goose ENVSUB ON' substitutes environment variables into the SQL, which this tool never "
        "does (a migration's checksum must not depend on the environment)",
        "write the values into the file, or remove the marker if the file has no ${VAR}",
    ),
)
_ALLOW = re.compile(r'^(?P<rule>[a-z][a-z0-9-]*)\s+reason\s*=\s*"(?P<reason>[^"]*)"\s*$')


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """A migration found on disk, not yet parsed."""

    service: str
    version: int
    version_text: str
    name: str
    path: Path
    content_sha256: str

    @property
    def file(self) -> str:
        """The file's name, with its folder for a folder-per-migration layout (``0001_init/up.sql``)."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.name in FOLDER_FILES else self.path.name


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: str
    line: int


#: The allow that lifts the runtime lock budget for one statement: no static rule, so lint never calls it unused.
LOCK_BUDGET_RULE = "lock-budget"


@dataclass(frozen=True, slots=True)
class Allow:
    """``-- migrate:allow <rule-id> reason="..."``: a deliberate exception to a safety rule.

    In the file's header (before the first statement) it covers the whole file;
    anywhere else it covers the statement that follows it.
    """

    rule: str
    reason: str
    line: int
    statement_index: int | None

    def covers(self, rule: str, statement_index: int) -> bool:
        return self.rule == rule and self.statement_index in (None, statement_index)


@dataclass(frozen=True, slots=True)
class BackfillSpec:
    """``-- migrate:backfill <name> table=<table> key=<column>`` and the batch statement after it.

    The statement updates one key range: ``$1`` is the first key of a batch, ``$2`` the last
    (``WHERE id BETWEEN $1 AND $2``); a composite key (``key=org_id,id``) takes ``$1``..``$N``
    and ``$N+1``..``$2N`` (``WHERE (org_id, id) BETWEEN ($1, $2) AND ($3, $4)``). ``up`` only
    registers it; the backfill worker runs it.
    """

    name: str
    table: str
    key: str
    statement: str
    batch_sql: str
    line: int
    limits: tuple[tuple[str, int], ...] = ()


BACKFILL_LIMITS = (
    "batch_size",
    "min_batch_size",
    "max_batch_size",
    "target_batch_ms",
    "pause_ms",
    "lock_timeout_ms",
    "statement_timeout_ms",
    "max_replica_lag_s",
    "max_slot_wal_mb",
    "slices",
    "stall_after_s",
)


@dataclass(frozen=True, slots=True)
class Migration:
    """A parsed migration, ready to plan and apply."""

    file: MigrationFile
    sql: str
    #: A tuple, or a large file's :class:`analysis.Statements` (each statement made when first read).
    statements: Sequence[Statement]
    transactional: bool
    directives: tuple[Directive, ...]
    allows: tuple[Allow, ...] = ()
    backfills: tuple[BackfillSpec, ...] = ()
    requires_backfills: tuple[str, ...] = ()
    ignored: bool = False
    _checksum: str = field(default="", init=False, compare=False, repr=False)

    @property
    def checksum(self) -> str:
        """Its statements' checksums, in order (:func:`analysis.migration_checksum`): computed when first asked.

        The linter never asks, so it never computes a statement's checksum.
        """
        if not self._checksum:
            from scrydon_migrate.analysis import migration_checksum

            object.__setattr__(self, "_checksum", migration_checksum(self.statements))
        return self._checksum

    @property
    def version(self) -> int:
        return self.file.version

    @property
    def runnable(self) -> Sequence[Statement]:
        """The statements ``up`` executes (not the backfills' batch statements)."""
        if not self.backfills:  # every statement: a large file's are not all made at once
            return self.statements
        return tuple(s for s in self.statements if s.runnable)

    def allowed(self, rule: str, statement_index: int) -> Allow | None:
        return next((a for a in self.allows if a.covers(rule, statement_index)), None)


#: A service whose migrations folder holds this file and no migration has no migrations by design.
EMPTY_MARKER = ".scrydon-migrate-empty"
#: One folder per migration: ``<version>_<slug>/up.sql`` (Diesel and others) or ``/migration.sql`` (Prisma).
_FOLDER_NAME = re.compile(r"^(?P<version>\d[\d-]*)_(?P<slug>[A-Za-z0-9][A-Za-z0-9_.\-]*)$")
FOLDER_FILES = ("up.sql", "migration.sql")
#: Layouts of other tools that have no version in their file names: their order is elsewhere.
_FOREIGN_LAYOUTS = (
    ("sqitch.plan", "Sqitch (sqitch.plan with deploy/ revert/ verify/)"),
    ("alembic.ini", "Alembic (Python revisions in versions/)"),
    ("env.py", "Alembic (Python revisions in versions/)"),
    ("atlas.sum", "Atlas (atlas.sum)"),
    ("flyway.conf", "Flyway configuration (flyway.conf)"),
    ("liquibase.properties", "Liquibase (changelogs)"),
)


logger = logging.getLogger(__name__)
#: A file this large (in characters) is announced before it is parsed, so a long parse is never silent.
LARGE_FILE_CHARS = 1_000_000


def scan(service: str, folder: Path, *, allow_empty: bool = False) -> list[MigrationFile]:
    """The migration files of ``service`` in version order; refuses bad names, duplicates and empty folders.

    ``allow_empty`` is for writing the first migration into a new folder, never for applying.
    """
    if not folder.is_dir():
        raise SourceError(
            f"no migrations folder for service {service!r} at {str(folder)!r}",
            hint="create it, or point --migrations-dir / MIGRATE_MIGRATIONS_DIR at the right folder",
            service=service,
            file=str(folder),
        )
    found: dict[int, MigrationFile] = {}
    with os.scandir(folder) as entries:
        kinds = [(e.name, _kind(e)) for e in entries if not e.name.startswith(".")]
    _refuse_unreadable(service, folder, kinds)
    visible = sorted((name, kind == "folder") for name, kind in kinds if kind in ("file", "folder"))
    _refuse_foreign_layout(service, folder, [n for n, _ in visible])
    for name, is_dir in visible:
        path = folder / name
        migration = _identify_folder(service, path) if is_dir else _identify(service, path)
        if migration is None:
            continue
        other = found.get(migration.version)
        if other is not None:
            raise SourceError(
                f"duplicate migration version {migration.version_text} in service {service!r}: "
                f"{other.file!r} and {migration.file!r}",
                hint="give one of them the next free version number (never renumber an applied one)",
                service=service,
                version=migration.version_text,
                file=str(path),
            )
        found[migration.version] = migration
    if not found and not allow_empty and not (folder / EMPTY_MARKER).is_file():
        raise _nothing_recognised(service, folder, visible)
    return [found[v] for v in sorted(found)]


def _kind(entry: os.DirEntry[str]) -> str:
    """What a folder entry is, following symlinks: ``file``, ``folder``, or why it can't be read as either."""
    try:
        if entry.is_file():
            return "file"
        if entry.is_dir():
            return "folder"
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror or exc})"
    if entry.is_symlink():
        return "a symlink to nothing (dangling)"
    return "a FIFO" if stat.S_ISFIFO(entry.stat(follow_symlinks=False).st_mode) else "a special file"


def _refuse_unreadable(service: str, folder: Path, kinds: list[tuple[str, str]]) -> None:
    """An entry named like a migration that is not a readable file or folder is refused, never skipped.

    Skipping it would let ``up`` apply the versions after it and later refuse it as out of order.
    """
    for name, kind in sorted(kinds):
        if kind not in ("file", "folder") and (name.endswith(".sql") or _NUMBERED.match(name)):
            raise SourceError(
                f"{name!r} in the migrations of service {service!r} is named like a migration but is {kind}",
                hint="replace it with the migration file itself (a ConfigMap mount gives regular files), or remove it",
                service=service,
                file=str(folder / name),
            )


def _refuse_foreign_layout(service: str, folder: Path, names: list[str]) -> None:
    for marker, layout in _FOREIGN_LAYOUTS:
        if marker in names:
            raise SourceError(
                f"the migrations folder of service {service!r} at {str(folder)!r} is laid out for {layout}, "
                "which this tool can't read: its order is not in the file names",
                hint="export the history as SQL files <version>_<slug>.sql in order (e.g. 0001_init.sql), then "
                "take over the database that tool migrated with scrydon-migrate adopt",
                service=service,
                file=str(folder / marker),
            )


def _nothing_recognised(service: str, folder: Path, visible: list[tuple[str, bool]]) -> SourceError:
    """An empty or unrecognised folder is never "up to date": it is more often a mis-mounted volume."""
    folders = [n for n, is_dir in visible if is_dir]
    files = [n for n, is_dir in visible if not is_dir]
    seen = "; ".join(
        f"{len(names)} {kind}{'s' if len(names) > 1 else ''} ({', '.join(names[:5])}{', ...' * (len(names) > 5)})"
        for kind, names in (("folder", folders), ("other file", files))
        if names
    )
    return SourceError(
        f"the migrations folder of service {service!r} at {str(folder)!r} holds no migration file: "
        + (f"found {seen}" if seen else "it is empty"),
        hint="migrations are files <version>_<slug>.sql (or folders <version>_<slug>/up.sql); check that the "
        f"right folder is mounted. If the service has no migrations yet by design, create an empty {EMPTY_MARKER} "
        "file in the folder",
        service=service,
        file=str(folder),
    )


def _identify_folder(service: str, path: Path) -> MigrationFile | None:
    """A migration kept in a folder of its own, ``<version>_<slug>/up.sql``; other folders are not migrations."""
    match = _FOLDER_NAME.match(path.name)
    if match is None:
        if _NUMBERED.match(path.name):
            raise SourceError(
                f"folder {path.name!r} in the migrations of service {service!r} is named like a migration, "
                "but not as <version>_<slug>",
                hint="one folder per migration is <version>_<slug>/up.sql (version: digits, dashes allowed, "
                "e.g. Diesel's 2024-01-31-120000_create_users/up.sql)",
                service=service,
                file=str(path),
            )
        return None
    script = next((path / n for n in FOLDER_FILES if (path / n).is_file()), None)
    if script is None:
        inside = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))[:5]
        raise SourceError(
            f"migration folder {path.name!r} of service {service!r} has no up.sql or migration.sql"
            + (f" (it holds {', '.join(inside)})" if inside else " (it is empty)"),
            hint="a folder-per-migration layout keeps the forward step in <version>_<slug>/up.sql; "
            "down.sql is never run. Put the SQL there, or remove the folder",
            service=service,
            file=str(path),
        )
    version_text = match["version"].replace("-", "")
    return _migration_file(service, script, version_text, match["slug"])


def _sha256(path: Path) -> str:
    """A file's SHA-256, read with plain system calls (cheaper than ``open()`` when a pod reads 1,000 files)
    a block at a time, so a large file is never held whole just to be hashed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _identify(service: str, path: Path) -> MigrationFile | None:
    name = path.name
    if name.endswith(".down.sql"):
        return None
    match = _NAME.match(name)
    if match is None:
        if name.endswith(".sql") or _NUMBERED.match(name):
            raise SourceError(
                f"malformed migration file name {name!r} in service {service!r}",
                hint=_name_hint(name),
                service=service,
                file=str(path),
            )
        return None
    return _migration_file(service, path, match["version"] or match["flyway"], match["slug"])


def _migration_file(service: str, path: Path, version_text: str, slug: str) -> MigrationFile:
    name = path.name
    version = int(version_text)
    if version > MAX_VERSION:
        raise SourceError(
            f"migration version {version_text} in {name!r} is too large",
            hint="versions must fit a 64-bit integer; a timestamp like 20260501120000 does",
            service=service,
            file=str(path),
        )
    try:
        content_sha256 = _sha256(path)
    except OSError as exc:
        raise SourceError(
            f"can't read migration {str(path)!r}: {exc.strerror}", service=service, file=str(path)
        ) from exc
    return MigrationFile(
        service=service,
        version=version,
        version_text=version_text,
        name=slug,
        path=path,
        content_sha256=content_sha256,
    )


def _name_hint(name: str) -> str:
    if name.startswith("R__"):
        return (
            "repeatable migrations (R__) are not supported: migrations are forward-only; put each change in a "
            "new versioned file <version>_<slug>.sql, e.g. 0042_add_org_region.sql"
        )
    if re.match(r"^V\d+[._]\d", name):
        return (
            "versions are whole numbers, so Flyway's dotted versions (V13.1__) can't be used as they are: "
            "renumber the history keeping its order (e.g. V13 -> 130, V13.1 -> 131, V14 -> 140), before any "
            "of it is applied by this tool, as <version>_<slug>.sql (e.g. 0042_add_org_region.sql) or V<n>__<slug>.sql"
        )
    return (
        "name it <version>_<slug>.sql, e.g. 0042_add_org_region.sql (version: digits only; slug: letters, "
        "digits, _ . -); golang-migrate's .up.sql and Flyway's V<version>__<slug>.sql are accepted too"
    )


def load(migration: MigrationFile, *, keep_trees: bool = True) -> Migration:
    """Decode, read directives, parse and checksum one migration file (``keep_trees``: for the linter)."""
    from scrydon_migrate.analysis import ParseFailure, matching, parse_statements

    sql = _decode(migration)
    directives = _directives(migration, sql)
    sql = _without_dump_restrict_lines(_up_section(sql, directives))
    _refuse_unsupported_markers(migration, sql)
    if _own_line(_IGNORE_MARKER, sql) is not None:
        return Migration(migration, sql, (), True, tuple(directives), ignored=True)
    if len(sql) >= LARGE_FILE_CHARS:
        log.event(
            logger,
            logging.INFO,
            "parsing a large migration file",
            "MIGRATION_PARSING",
            service=migration.service,
            version=migration.version_text,
            file=migration.file,
            chars=len(sql),
        )
    try:
        statements = parse_statements(sql, keep_trees=keep_trees)
    except ParseFailure as exc:
        raise _failure(
            migration,
            f"migration {migration.file!r} does not parse: {exc.message} (line {exc.line}, column {exc.column})",
            exc.line,
            hint=_parse_hint(sql, exc.line),
        ) from exc
    statements = _without_wrapping_transaction(migration, statements)
    statements, backfills = _backfills(migration, directives, statements)
    transactional = (
        not any(s.runnable for s in matching(statements, lambda s: not s.transactional))
        and not any(_no_transaction(d) for d in directives)
        and _own_line(_NO_TRANSACTION_MARKER, sql) is None
    )
    return Migration(
        file=migration,
        sql=sql,
        statements=tuple(statements) if isinstance(statements, list) else statements,
        transactional=transactional,
        directives=tuple(directives),
        allows=tuple(_allows(migration, directives, statements)),
        backfills=tuple(backfills),
        requires_backfills=tuple(_required_backfills(migration, directives)),
    )


#: The two lines pg_dump (since 17.6, 16.10, 15.14) writes around a plain dump: psql meta-commands that
#: forbid other meta-commands while the dump is restored, with a random key. They mean nothing to the
#: server, so a baseline dumped by a current pg_dump applies as psql would apply it. Any other
#: meta-command is still refused: it would change what the file does.
_DUMP_RESTRICT_LINE = re.compile(r"^\\(?:un)?restrict [0-9A-Za-z]+[ \t\r]*$", re.MULTILINE)


def _without_dump_restrict_lines(sql: str) -> str:
    """``sql`` with pg_dump's ``\\restrict``/``\\unrestrict`` lines blanked (same length: lines and
    offsets stay where they were)."""
    if "restrict " not in sql:
        return sql
    return _DUMP_RESTRICT_LINE.sub(lambda found: " " * len(found[0]), sql)


def _refuse_unsupported_markers(migration: MigrationFile, sql: str) -> None:
    for marker, meaning, hint in _UNSUPPORTED_MARKERS:
        found = _own_line(marker, sql)
        if found is not None:
            line = sql.count("\n", 0, found) + 1
            raise _failure(migration, f"migration {migration.file!r} line {line}: {meaning}", line, hint=hint)


def _backfills(
    migration: MigrationFile, directives: Iterable[Directive], statements: Sequence[Statement]
) -> tuple[Sequence[Statement], list[BackfillSpec]]:
    """Mark the statement after each ``-- migrate:backfill`` as that backfill's batch statement."""
    from scrydon_migrate.analysis import range_query, with_backfill

    specs = []
    for directive in directives:
        if directive.name != "backfill":
            continue
        match = _BACKFILL.match(directive.args)
        options = dict(part.split("=", 1) for part in directive.args.split()[1:]) if match else {}
        position = _following(statements, directive.line)
        limits = {k: v for k, v in options.items() if k in BACKFILL_LIMITS}
        bad_limit = next((k for k, v in limits.items() if not v.isdigit() or int(v) < 1), None)
        unknown = set(options) - {"table", "key", *BACKFILL_LIMITS}
        if bad_limit or unknown:
            raise _failure(
                migration,
                f"'-- migrate:backfill' on line {directive.line} of {migration.file!r}: "
                + (
                    f"{bad_limit} must be a whole number above 0"
                    if bad_limit
                    else f"unknown option {sorted(unknown)[0]!r}"
                ),
                directive.line,
                hint="options: table=, key=, and optionally " + ", ".join(f"{k}=" for k in BACKFILL_LIMITS),
            )
        if not match or not {"table", "key"} <= set(options) or position is None:
            raise _failure(
                migration,
                f"'-- migrate:backfill' on line {directive.line} of {migration.file!r} needs a name, "
                "table= and key=, followed by the batch statement",
                directive.line,
                hint="-- migrate:backfill users_email_domain table=users key=id\n"
                "UPDATE users SET email_domain = split_part(email, '@', 2) WHERE id BETWEEN $1 AND $2;",
            )
        statement = statements[position]
        try:
            batch_sql = range_query(statement.text, len(options["key"].split(",")))
        except ValueError as exc:
            raise _failure(
                migration,
                f"backfill {match['name']!r} in {migration.file!r}: {exc}",
                statement.line,
                hint="write it for one key range, e.g. UPDATE t SET c = ... WHERE id BETWEEN $1 AND $2",
            ) from exc
        statements = with_backfill(statements, position, match["name"])
        specs.append(
            BackfillSpec(
                match["name"],
                options["table"],
                options["key"],
                statement.text,
                batch_sql,
                directive.line,
                tuple((k, int(v)) for k, v in limits.items()),
            )
        )
    return statements, specs


def _required_backfills(migration: MigrationFile, directives: Iterable[Directive]) -> list[str]:
    names = []
    for directive in directives:
        if directive.name == "requires-backfill":
            if not _BACKFILL_NAME.match(directive.args):
                raise _failure(
                    migration,
                    f"'-- migrate:requires-backfill' on line {directive.line} of {migration.file!r} needs a name",
                    directive.line,
                    hint="-- migrate:requires-backfill users_email_domain",
                )
            names.append(directive.args)
    return names


def _allows(migration: MigrationFile, directives: Iterable[Directive], statements: Sequence[Statement]) -> list[Allow]:
    allows = []
    for directive in directives:
        if directive.name != "allow":
            continue
        match = _ALLOW.match(directive.args)
        if match is None or not match["reason"].strip():
            raise _failure(
                migration,
                f"'-- migrate:allow' on line {directive.line} of {migration.file!r} needs a rule id and a reason",
                directive.line,
                hint='write it as: -- migrate:allow <rule-id> reason="why this is safe here"',
            )
        position = _following(statements, directive.line)
        in_header = not statements or directive.line < statements[0].line
        allows.append(
            Allow(
                rule=match["rule"],
                reason=match["reason"].strip(),
                line=directive.line,
                statement_index=None if in_header else (-1 if position is None else statements[position].index),
            )
        )
    return allows


def _following(statements: Sequence[Statement], line: int) -> int | None:
    """Where the first statement starting after ``line`` is, by bisection: a directive costs no scan of the file."""
    position = bisect.bisect_right(statements, line, key=lambda s: s.line)
    return position if position < len(statements) else None


def _failure(migration: MigrationFile, message: str, line: int | None, *, hint: str) -> SourceError:
    return SourceError(
        message,
        hint=hint,
        service=migration.service,
        version=migration.version_text,
        file=str(migration.path),
        line=line,
    )


def _decode(migration: MigrationFile) -> str:
    data = migration.path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _failure(
            migration,
            f"migration {migration.file!r} is not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line})",
            line,
            hint="save the file as UTF-8",
        ) from exc
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _failure(
            migration,
            f"migration {migration.file!r} contains a NUL byte on line {line}",
            line,
            hint="a migration is SQL text; remove the binary content",
        )
    if text.isspace() or not text:
        raise _failure(
            migration,
            f"migration {migration.file!r} is empty",
            None,
            hint="add the statements, or delete the file if it was created by mistake",
        )
    return text


def _directives(migration: MigrationFile, sql: str) -> list[Directive]:
    directives = []
    line, counted_to = 1, 0
    for start, match in _on_own_lines(_DIRECTIVE, sql):
        line += sql.count("\n", counted_to, start)  # counted on from the last one: linear in the file
        counted_to = start
        name = match["name"]
        if name not in KNOWN_DIRECTIVES:
            raise _failure(
                migration,
                f"unknown directive '-- migrate:{name}' in {migration.file!r} on line {line}",
                line,
                hint="known directives: " + ", ".join(f"-- migrate:{d}" for d in KNOWN_DIRECTIVES),
            )
        directives.append(Directive(name=name, args=match["args"].strip(), line=line))
    return directives


def _no_transaction(directive: Directive) -> bool:
    """``-- migrate:no-transaction``, or dbmate's ``-- migrate:up transaction:false``."""
    return directive.name == "no-transaction" or (
        directive.name == "up" and "transaction:false" in directive.args.replace(" ", "")
    )


def _up_section(sql: str, directives: Iterable[Directive]) -> str:
    """Keep the up part of two-way files: dbmate's ``-- migrate:down``, goose's ``-- +goose Down`` and
    sql-migrate's ``-- +migrate Down`` start the part that is never run (forward-only)."""
    for directive in directives:
        if directive.name == "down":  # the file up to the line before it (no list of a large file's lines)
            cut = 0
            for _ in range(directive.line - 1):
                cut = sql.index("\n", cut) + 1
            return sql[:cut] or "\n"
    marker = _own_line(_DOWN_MARKER, sql)
    return sql if marker is None else sql[:marker]


def _on_own_lines(pattern: re.Pattern[str], sql: str) -> Iterator[tuple[int, re.Match[str]]]:
    """The matches of a marker ``pattern`` preceded on their line by blanks alone, with where that line starts."""
    for match in pattern.finditer(sql):
        start = sql.rfind("\n", 0, match.start()) + 1
        if not sql[start : match.start()].strip(" \t"):
            yield start, match


def _own_line(pattern: re.Pattern[str], sql: str) -> int | None:
    """Where the line of the first match of ``pattern`` alone on its line starts, if there is one."""
    return next((start for start, _ in _on_own_lines(pattern, sql)), None)


def _without_wrapping_transaction(migration: MigrationFile, statements: Sequence[Statement]) -> Sequence[Statement]:
    """Drop a BEGIN ... COMMIT that wraps the whole file; refuse any other transaction control."""
    from scrydon_migrate.analysis import matching, renumbered

    if (
        len(statements) >= 2
        and statements[0].transaction_control == "begin"
        and statements[-1].transaction_control == "commit"
    ):
        statements = renumbered(statements[1:-1])
    statement = next(matching(statements, lambda s: bool(s.transaction_control)), None)
    if statement is not None:
        raise _failure(
            migration,
            f"migration {migration.file!r} controls transactions itself ({statement.text!r} on line {statement.line})",
            statement.line,
            hint="remove BEGIN/COMMIT/ROLLBACK/SAVEPOINT: each migration runs in its own "
            "transaction, or statement by statement with '-- migrate:no-transaction'",
        )
    return statements


def _parse_hint(sql: str, line: int) -> str:
    lines = sql.split("\n")
    text = lines[line - 1].lstrip() if 0 < line <= len(lines) else ""
    if text.startswith("\\"):
        return "psql meta-commands (lines starting with a backslash) are not SQL; remove them"
    return "fix the SQL at that line; the file is checked by PostgreSQL's own parser"
