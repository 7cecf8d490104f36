"""Take over a database another migration tool migrated: which of the files it already applied.

``scrydon-migrate adopt`` reads the other tool's own tracking table, in that tool's format,
and decides which of the service's migration files it ran; the API then records those as
applied in the service's tracking table, so ``up`` continues from there without running
them again. Reading and deciding live here; writing is the API's, under the migration lock.

* golang-migrate, ``schema_migrations (version bigint, dirty boolean)``: the last version
  applied, so every file up to it; ``dirty`` means a run failed part-way (refused);
* dbmate, ``schema_migrations (version varchar)``: each version applied;
* Flyway, ``flyway_schema_history``: each successful versioned row; a ``BASELINE`` row covers
  every file up to its version;
* Diesel, ``__diesel_schema_migrations (version, run_on)``: each version applied (folder
  names without their dashes);
* Alembic, ``alembic_version (version_num)``: the head revision, so the file named after it
  and every file before it;
* goose, ``goose_db_version (version_id, is_applied, tstamp)``: a log, whose latest row per
  version says whether it is applied (version 0 is goose's own first row);
* sql-migrate, ``gorp_migrations (id, applied_at)``: each file name applied, read by its version;
* postgres-migrations, ``migrations (id, name, hash, executed_at)``: each id applied (id 0 is
  its own table's creation).

Alembic revisions are not numbers, so files are matched by name: a converted history keeps
the revision id in the slug, ``<version>_<revision>[_<slug>].sql`` (Alembic's own files are
``<revision>_<slug>.py``). Whatever cannot be mapped exactly is refused, never guessed: a
version with no file, a dirty or failed run, a dotted Flyway version, Alembic branches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from scrydon_migrate.errors import ConfigError, RefusedError
from scrydon_migrate.source import MigrationFile

if TYPE_CHECKING:
    import psycopg


class Tool(StrEnum):
    """The tools whose tracking tables ``adopt`` reads (the values are the ``--from`` names)."""

    GOLANG_MIGRATE = "golang-migrate"
    DBMATE = "dbmate"
    FLYWAY = "flyway"
    DIESEL = "diesel"
    ALEMBIC = "alembic"
    GOOSE = "goose"
    SQL_MIGRATE = "sql-migrate"
    POSTGRES_MIGRATIONS = "postgres-migrations"


DEFAULT_TABLES = {
    Tool.GOLANG_MIGRATE: "schema_migrations",
    Tool.DBMATE: "schema_migrations",
    Tool.FLYWAY: "flyway_schema_history",
    Tool.DIESEL: "__diesel_schema_migrations",
    Tool.ALEMBIC: "alembic_version",
    Tool.GOOSE: "goose_db_version",
    Tool.SQL_MIGRATE: "gorp_migrations",
    Tool.POSTGRES_MIGRATIONS: "migrations",
}


@dataclass(frozen=True, slots=True)
class History:
    """What the other tool's table says, in its own terms.

    ``versions`` are the versions it lists as applied (with when, if it recorded it);
    ``up_to`` is a high-water mark meaning "every file up to this one", exact when
    ``up_to_exact`` (golang-migrate's version, Alembic's revision), a floor otherwise
    (Flyway's baseline, which need not be a file).
    """

    tool: Tool
    table: str
    versions: tuple[tuple[str, datetime | None], ...] = ()
    up_to: str | None = None
    up_to_exact: bool = True
    up_to_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.tool.value}'s {self.table}"


def read_history(conn: psycopg.Connection, service: str, tool: Tool | None, table: str | None) -> History:
    """Find the other tool's table (``tool`` and ``table`` narrow the search) and read it."""
    candidates = [tool] if tool else list(Tool)
    found = []
    for candidate in candidates:
        name = table or DEFAULT_TABLES[candidate]
        columns = _columns(conn, name)
        if columns is not None and (tool is not None or _looks_like(candidate, columns)):
            found.append((candidate, name, columns))
    if not found:
        wanted = ", ".join(f"{t.value} ({table or DEFAULT_TABLES[t]})" for t in candidates)
        raise ConfigError(
            f"found no tracking table of {wanted} in the database of service {service!r}",
            hint="connect to the database that tool migrated (--database-url), and name its table with --table "
            "if it was renamed (e.g. golang-migrate's x-migrations-table, Flyway's flyway.table)",
            service=service,
        )
    if len(found) > 1:
        raise ConfigError(
            f"the database of service {service!r} holds the tracking tables of several tools: "
            + ", ".join(f"{t.value} ({n})" for t, n, _ in found),
            hint="say which one to adopt from with --from " + "|".join(t.value for t, _, _ in found),
            service=service,
        )
    chosen, name, columns = found[0]
    _require_columns(chosen, name, columns, service)
    return _READERS[chosen](conn, name, service)


def _columns(conn: psycopg.Connection, table: str) -> set[str] | None:
    """The column names of ``table`` (resolved on the search path), or None when it does not exist."""
    record = conn.execute("SELECT to_regclass(%s)::oid", (table,)).fetchone()
    if record is None or record[0] is None:
        return None
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (record[0],)
    ).fetchall()
    return {r[0] for r in rows}


_REQUIRED = {
    Tool.GOLANG_MIGRATE: {"version", "dirty"},
    Tool.DBMATE: {"version"},
    Tool.FLYWAY: {"version", "type", "success", "installed_on", "installed_rank"},
    Tool.DIESEL: {"version", "run_on"},
    Tool.ALEMBIC: {"version_num"},
    Tool.GOOSE: {"version_id", "is_applied", "tstamp"},
    Tool.SQL_MIGRATE: {"id", "applied_at"},
    Tool.POSTGRES_MIGRATIONS: {"id", "name", "hash", "executed_at"},
}


def _looks_like(tool: Tool, columns: set[str]) -> bool:
    """golang-migrate and dbmate share a table name: the ``dirty`` column tells them apart."""
    if tool is Tool.DBMATE:
        return "dirty" not in columns
    return _REQUIRED[tool] <= columns


def _require_columns(tool: Tool, table: str, columns: set[str], service: str) -> None:
    missing = sorted(_REQUIRED[tool] - columns)
    if missing:
        raise ConfigError(
            f"table {table!r} is not {tool.value}'s tracking table: it has no column {missing[0]!r}",
            hint="name the right table with --table, or the right tool with --from",
            service=service,
        )


def _golang_migrate(conn: psycopg.Connection, table: str, service: str) -> History:
    rows = conn.execute(_select(conn, table, "version", "dirty")).fetchall()
    if len(rows) > 1:
        raise RefusedError(
            f"golang-migrate's {table} holds {len(rows)} rows; it keeps exactly one (the current version)",
            hint="repair it with golang-migrate (migrate force <version>) first",
            service=service,
        )
    if rows and rows[0][1]:
        raise RefusedError(
            f"golang-migrate's {table} says version {rows[0][0]} is dirty: that migration failed part-way",
            hint="finish or undo that migration by hand, mark it clean with golang-migrate "
            f"(migrate force {rows[0][0]}, or the version before it), then adopt",
            service=service,
            version=rows[0][0],
        )
    return History(Tool.GOLANG_MIGRATE, table, up_to=str(rows[0][0]) if rows else None)


def _dbmate(conn: psycopg.Connection, table: str, service: str) -> History:
    rows = conn.execute(_select(conn, table, "version")).fetchall()
    return History(Tool.DBMATE, table, versions=tuple((str(r[0]), None) for r in rows))


def _flyway(conn: psycopg.Connection, table: str, service: str) -> History:
    from psycopg import sql

    query = sql.SQL(
        "SELECT version, type, success, installed_on FROM {} WHERE version IS NOT NULL ORDER BY installed_rank"
    ).format(_identifier(table))
    versions: list[tuple[str, datetime | None]] = []
    baseline: tuple[str, datetime | None] | None = None
    for version, kind, success, installed_on in conn.execute(query).fetchall():
        if not success:
            raise RefusedError(
                f"Flyway's {table} records version {version} as failed",
                hint="fix the schema and clear the failed row with Flyway (flyway repair), then adopt",
                service=service,
                version=version,
            )
        if kind == "BASELINE":
            baseline = (version, installed_on)
        elif kind.startswith("UNDO"):
            raise RefusedError(
                f"Flyway's {table} records an undo of version {version}: migrations here are forward-only",
                hint="bring the history to a state with no undone version (re-apply it with Flyway), then adopt",
                service=service,
                version=version,
            )
        elif kind != "SCHEMA":
            versions.append((version, installed_on))
    return History(
        Tool.FLYWAY,
        table,
        versions=tuple(versions),
        up_to=baseline[0] if baseline else None,
        up_to_exact=False,
        up_to_at=baseline[1] if baseline else None,
    )


def _diesel(conn: psycopg.Connection, table: str, service: str) -> History:
    rows = conn.execute(_select(conn, table, "version", "run_on")).fetchall()
    return History(Tool.DIESEL, table, versions=tuple((str(r[0]).replace("-", ""), r[1]) for r in rows))


def _alembic(conn: psycopg.Connection, table: str, service: str) -> History:
    heads = [str(r[0]) for r in conn.execute(_select(conn, table, "version_num")).fetchall()]
    if len(heads) > 1:
        raise RefusedError(
            f"Alembic's {table} has {len(heads)} heads ({', '.join(sorted(heads))}): the history branches, and "
            "migrations here are one ordered line",
            hint="merge the branches with Alembic (alembic merge, then alembic upgrade head), then adopt",
            service=service,
        )
    return History(Tool.ALEMBIC, table, up_to=heads[0] if heads else None)


def _goose(conn: psycopg.Connection, table: str, service: str) -> History:
    from psycopg import sql

    query = sql.SQL(
        "SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp FROM {}"
        " WHERE version_id <> 0 ORDER BY version_id, id DESC"
    ).format(_identifier(table))
    rows = conn.execute(query).fetchall()
    return History(Tool.GOOSE, table, versions=tuple((str(r[0]), r[2]) for r in rows if r[1]))


def _sql_migrate(conn: psycopg.Connection, table: str, service: str) -> History:
    rows = conn.execute(_select(conn, table, "id", "applied_at")).fetchall()
    return History(Tool.SQL_MIGRATE, table, versions=tuple((_leading_digits(str(r[0])), r[1]) for r in rows))


def _leading_digits(name: str) -> str:
    """sql-migrate records file names (``1_init.sql``) and orders them by their leading number."""
    digits = len(name) - len(name.lstrip("0123456789"))
    return name[:digits] if digits else name


def _postgres_migrations(conn: psycopg.Connection, table: str, service: str) -> History:
    from psycopg import sql

    query = sql.SQL("SELECT id, executed_at FROM {} WHERE NOT (id = 0 AND name = 'create-migrations-table')").format(
        _identifier(table)
    )
    rows = conn.execute(query).fetchall()
    return History(Tool.POSTGRES_MIGRATIONS, table, versions=tuple((str(r[0]), r[1]) for r in rows))


_READERS = {
    Tool.GOLANG_MIGRATE: _golang_migrate,
    Tool.DBMATE: _dbmate,
    Tool.FLYWAY: _flyway,
    Tool.DIESEL: _diesel,
    Tool.ALEMBIC: _alembic,
    Tool.GOOSE: _goose,
    Tool.SQL_MIGRATE: _sql_migrate,
    Tool.POSTGRES_MIGRATIONS: _postgres_migrations,
}


def _identifier(table: str) -> psycopg.sql.Identifier:
    from scrydon_migrate.tracking import table_identifier

    return table_identifier(table)


def _select(conn: psycopg.Connection, table: str, *columns: str) -> bytes:
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)), _identifier(table))
    return query.as_bytes(conn)


def decide(
    history: History, files: Sequence[MigrationFile], service: str
) -> list[tuple[MigrationFile, datetime | None]]:
    """The files the other tool applied, with when it applied them if it said. Pure.

    Raises RefusedError when its history names something the files can't account for.
    """
    by_version = {f.version: f for f in files}
    chosen: dict[int, datetime | None] = {}
    missing = []
    for text, at in history.versions:
        version = _number(history, text, service)
        if version in by_version:
            chosen[version] = at
        else:
            missing.append(text)
    if missing:
        raise RefusedError(
            f"{history.label} records version{'s' if len(missing) > 1 else ''} {', '.join(missing[:10])} as applied, "
            f"but service {service!r} has no file for {'them' if len(missing) > 1 else 'it'}",
            hint="point --migrations-dir at the folder those migrations came from (converted to SQL files with "
            "the same versions); adopting now would leave them untracked",
            service=service,
        )
    if history.up_to is not None:
        mark = _mark(history, files, service)
        for f in files:
            if f.version <= mark:
                chosen.setdefault(f.version, history.up_to_at)
    return [(by_version[v], chosen[v]) for v in sorted(chosen)]


def _number(history: History, text: str, service: str) -> int:
    if not text.isdigit():
        raise RefusedError(
            f"{history.label} records version {text!r}, which is not a whole number, so it can't name a file here",
            hint="Flyway's dotted versions (1.1) must have been renumbered when the files were converted; "
            "record the history by hand with mark-applied --reason, one version at a time",
            service=service,
            version=text,
        )
    return int(text)


def _mark(history: History, files: Sequence[MigrationFile], service: str) -> int:
    """The last version the high-water mark covers."""
    assert history.up_to is not None
    if history.tool is Tool.ALEMBIC:
        return _revision_file(history, files, service).version
    mark = _number(history, history.up_to, service)
    if history.up_to_exact and mark not in {f.version for f in files}:
        raise RefusedError(
            f"{history.label} is at version {history.up_to}, but service {service!r} has no file with that version",
            hint="point --migrations-dir at the folder that history came from; adopting now would guess",
            service=service,
            version=history.up_to,
        )
    return mark


def _revision_file(history: History, files: Iterable[MigrationFile], service: str) -> MigrationFile:
    """The file named after an Alembic revision: ``<version>_<revision>[_<slug>].sql``."""
    revision = history.up_to or ""
    named = [f for f in files if _names_revision(f.name, revision)]
    if len(named) != 1:
        raise RefusedError(
            f"Alembic's {history.table} is at revision {revision!r}, and "
            + (
                f"no migration file of service {service!r} is named after it"
                if not named
                else f"{len(named)} files are named after it ({', '.join(f.file for f in named)})"
            ),
            hint="keep each Alembic revision id in its converted file's name, e.g. "
            f"0003_{revision}_add_accounts.sql, one file per revision in the same order",
            service=service,
        )
    return named[0]


def _names_revision(slug: str, revision: str) -> bool:
    return slug == revision or slug.startswith(revision + "_")
