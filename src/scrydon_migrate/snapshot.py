"""The runbook's restore path: a PostgreSQL snapshot of a service's database, and its restore.

``pg_dump -Fc`` writes ``<service>.dump``; ``<service>.manifest.json`` beside it records
the service, the server version, the tracking state, the schemas, and the dump's size
and SHA-256, so a restore can refuse a snapshot of another service or a truncated file
before it touches anything. The binaries are the embedded PostgreSQL 18's (they dump
any older server) unless ``MIGRATE_PG_BIN`` points elsewhere. Passwords go to the child
process through ``PGPASSWORD``, never on its command line.

A restore brings back the exact snapshot: it drops every non-system schema of the
database (with what is in them), then ``pg_restore --clean --if-exists`` the dump. It
therefore refuses a database that holds another service's tracking table unless
``--force`` says that is understood.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrydon_migrate import db
from scrydon_migrate.config import redact_url
from scrydon_migrate.errors import ConfigError, MigrateError, RefusedError

if TYPE_CHECKING:
    import psycopg

FORMAT = 1
_USER_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname"
)


class SnapshotError(MigrateError):
    """pg_dump or pg_restore failed."""

    event = "SNAPSHOT_FAILED"
    exit_code = RefusedError.exit_code


@dataclass(frozen=True, slots=True)
class Manifest:
    format: int
    service: str
    database: str
    server_version: str
    created_at: str
    tool_version: str
    dump_file: str
    dump_bytes: int
    dump_sha256: str
    schemas: list[str]
    tracking: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paths(target: Path, service: str) -> tuple[Path, Path]:
    """``(dump, manifest)`` for a target that is a ``.dump`` file or a folder."""
    if target.suffix == ".dump":
        return target, target.with_name(target.stem + ".manifest.json")
    if target.name.endswith(".manifest.json"):
        return target.with_name(target.name.removesuffix(".manifest.json") + ".dump"), target
    return target / f"{service}.dump", target / f"{service}.manifest.json"


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it.

    The user's libpq environment is kept (``PGPASSWORD``, ``PGSSLMODE`` and the other
    ``PGSSL*``, ``PGSERVICE``, ``PGPASSFILE``...): pg_dump and pg_restore then connect exactly
    as the tool's own connection does, where the URL's parameters win over the environment.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    env["PGAPPNAME"] = "scrydon-migrate-snapshot"
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def _tool(name: str) -> Path:
    from scrydon_migrate import embedded

    return embedded.bin_dir() / name


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise SnapshotError(f"can't {what}: {exc}") from exc
    if done.returncode != 0:
        detail = redact_url((done.stderr or done.stdout).strip()).splitlines()[-3:]
        raise SnapshotError(
            f"can't {what}: " + " / ".join(detail),
            hint="check the database URL and the role's privileges; nothing was changed by the tool itself",
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _schemas(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(_USER_SCHEMAS).fetchall()
    return [r[0] for r in rows]


def _tracking_state(conn: psycopg.Connection, tracking_table: str) -> list[dict[str, Any]]:
    from scrydon_migrate import tracking

    rows = tracking.read_rows(conn, tracking_table) or {}
    return [{"version": v, "status": r.status.value, "checksum": r.checksum} for v, r in sorted(rows.items())]


def create(conn: psycopg.Connection, service: str, url: str, tracking_table: str, target: Path) -> Manifest:
    """Dump the service's database to ``target`` (a folder, or a ``.dump`` path) with its manifest."""
    from scrydon_migrate import __version__

    dump, manifest_path = paths(target, service)
    try:
        dump.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"can't create the snapshot folder {str(dump.parent)!r}: {exc.strerror}") from exc
    conninfo, env = _libpq(url)
    partial = dump.with_name(dump.name + ".partial")
    _run([str(_tool("pg_dump")), "-Fc", "-d", conninfo, "-f", str(partial)], env, f"dump service {service!r}")
    partial.replace(dump)
    manifest = Manifest(
        format=FORMAT,
        service=service,
        database=db.describe(url),
        server_version=str(conn.info.server_version),
        created_at=datetime.now(UTC).isoformat(),
        tool_version=__version__,
        dump_file=dump.name,
        dump_bytes=dump.stat().st_size,
        dump_sha256=_sha256(dump),
        schemas=_schemas(conn),
        tracking=_tracking_state(conn, tracking_table),
    )
    manifest_path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def read_manifest(source: Path, service: str) -> tuple[Manifest, Path]:
    """The snapshot's manifest and dump path, verified: right service, complete, unchanged."""
    dump, manifest_path = paths(source, service)
    try:
        document = json.loads(manifest_path.read_text())
        manifest = Manifest(**document)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no snapshot manifest for service {service!r} at {str(manifest_path)!r}",
            hint="point --from at the folder given to 'snapshot create --to', or at the .dump file",
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"snapshot manifest {str(manifest_path)!r} is unreadable: {exc}") from exc
    if manifest.service != service:
        raise RefusedError(
            f"snapshot {str(manifest_path)!r} is of service {manifest.service!r}, not {service!r}",
            hint=f"restore it with --service {manifest.service}, or pick the snapshot of {service!r}",
            service=service,
        )
    if not dump.is_file() or dump.stat().st_size != manifest.dump_bytes or _sha256(dump) != manifest.dump_sha256:
        raise RefusedError(
            f"snapshot dump {str(dump)!r} is missing, truncated or changed since it was taken "
            "(its size or SHA-256 does not match the manifest)",
            hint="use an intact copy of the snapshot; nothing was restored",
            service=service,
        )
    return manifest, dump


def other_services_in(conn: psycopg.Connection, service: str, tracking_tables: Mapping[str, str]) -> list[str]:
    """Other services (name -> tracking table) whose table is in this database (a restore would wipe them too)."""
    owners = {table.rsplit(".", 1)[-1]: name for name, table in tracking_tables.items() if name != service}
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname = ANY(%s)", (list(owners),)
    ).fetchall()
    return sorted(owners[r[0]] for r in rows)


def restore(conn: psycopg.Connection, service: str, url: str, dump: Path) -> None:
    """Replace the database's schemas with the snapshot's, in one transaction: all or nothing.

    The schemas are dropped and the dump replayed by ``psql --single-transaction`` from
    ``pg_restore``'s SQL, so a failure part-way leaves the database exactly as it was.
    Settings a newer ``pg_dump`` writes that an older server does not know are left out.
    """
    prelude = _prelude(conn)
    skipped = _unknown_settings(conn)
    conninfo, env = _libpq(url)
    restore_sql = subprocess.Popen(
        [str(_tool("pg_restore")), "--clean", "--if-exists", "--no-owner", "-f", "-", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    replay = subprocess.Popen(
        [
            str(_tool("psql")),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set",
            "ON_ERROR_STOP=1",
            "-d",
            conninfo,
            "-f",
            "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert restore_sql.stdout is not None and replay.stdin is not None
    try:
        replay.stdin.write(prelude.encode())
        for line in restore_sql.stdout:
            if not any(line.startswith(setting) for setting in skipped):
                replay.stdin.write(line)
        replay.stdin.close()
    except BrokenPipeError:
        pass
    assert restore_sql.stderr is not None and replay.stderr is not None
    dump_error = restore_sql.stderr.read()
    replay_error = replay.stderr.read()
    restore_sql.wait()
    replay.wait()
    if restore_sql.returncode != 0 or replay.returncode != 0:
        detail = redact_url((replay_error or dump_error).decode(errors="replace").strip()).splitlines()[-3:]
        raise SnapshotError(
            f"can't restore service {service!r}: " + " / ".join(detail),
            hint="the restore ran in one transaction and was rolled back: the database is as it was before",
            service=service,
        )


def _unknown_settings(conn: psycopg.Connection) -> tuple[bytes, ...]:
    """``SET`` lines of a PostgreSQL 18 dump that an older server would refuse."""
    return (b"SET transaction_timeout",) if conn.info.server_version < 170000 else ()


def _prelude(conn: psycopg.Connection) -> str:
    """SQL that empties the database's schemas and recreates ``public`` as it was (owner, comment, grants)."""
    from psycopg import sql

    public = conn.execute(
        "SELECT nspowner::regrole::text, pg_has_role(nspowner, 'MEMBER'), obj_description(oid, 'pg_namespace'),"
        " ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)"
        "              || ' ' || a.privilege_type FROM aclexplode(nspacl) a WHERE a.grantee <> nspowner)"
        " FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    parts: list[sql.Composable] = [sql.SQL("DROP SCHEMA {} CASCADE;").format(sql.Identifier(s)) for s in _schemas(conn)]
    parts.append(sql.SQL("CREATE SCHEMA public;"))
    if public is not None:
        owner, may_own, comment, grants = public
        if may_own:
            parts.append(sql.SQL("ALTER SCHEMA public OWNER TO {};").format(sql.Identifier(owner.strip('"'))))
        if comment is not None:
            parts.append(sql.SQL("COMMENT ON SCHEMA public IS {};").format(sql.Literal(comment)))
        for grant in grants:
            grantee, _, privilege = grant.rpartition(" ")
            target = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee.strip('"'))
            parts.append(sql.SQL("GRANT {} ON SCHEMA public TO {};").format(sql.SQL(privilege), target))
    return "\n".join(part.as_string(conn) for part in parts) + "\n"
