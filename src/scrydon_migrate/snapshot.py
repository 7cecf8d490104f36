"""The runbook's restore path: a PostgreSQL snapshot of a service's database, and its restore.

``pg_dump -Fc`` writes ``<service>.dump``; ``<service>.manifest.json`` beside it records
the service, the server version, the tracking state, the schemas, and the dump's size
and SHA-256, so a restore can refuse a snapshot of another service or a truncated file
before it touches anything. The binaries are the embedded PostgreSQL 18's (they dump
any older server) unless ``MIGRATE_PG_BIN`` points elsewhere. Passwords go to the child
process through ``PGPASSWORD``, never on its command line.

A restore brings back the exact snapshot: it drops every non-system schema of the
database (with what is in them), then replays the dump (see :func:`restore`: in one
transaction when the schema fits the server's lock table, in bounded batches when it does
not, every lock wait bounded). It runs under the service's migration lock, and the audit
events written since the snapshot (the failed upgrade's trail) are appended back after it.
It therefore refuses a database that holds another service's tracking table unless
``--force`` says that is understood.

A batched restore cannot be all-or-nothing, so it is re-runnable instead. Before anything is
dropped, the restore records itself, with the audit trail to keep, in the schema
:data:`MARKER_SCHEMA`, which no drop touches and no snapshot holds; the record goes in the same
transaction that appends the trail back once the replay succeeded. While it is there, ``up`` and
``doctor`` refuse the database as partly restored (:class:`RestoreIncomplete`, exit 6), and
running the same restore again starts over from the drop with the trail it saved.
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
from typing import TYPE_CHECKING, Any, NoReturn

from scrydon_migrate import db
from scrydon_migrate.config import redact_url
from scrydon_migrate.errors import ConfigError, MigrateError, RefusedError

if TYPE_CHECKING:
    import psycopg

FORMAT = 1
#: Where an unfinished restore records itself: never dropped by a restore, never dumped by a snapshot.
MARKER_SCHEMA = "scrydon_migrate_restore"
_USER_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', %s)"
    " AND nspname NOT LIKE 'pg\\_%%' ORDER BY nspname"
)


class SnapshotError(MigrateError):
    """pg_dump or pg_restore failed."""

    event = "SNAPSHOT_FAILED"
    exit_code = RefusedError.exit_code


class RestoreIncomplete(RefusedError):
    """A snapshot restore of the service is running or did not finish: the database is partly restored."""

    event = "SNAPSHOT_RESTORE_INCOMPLETE"


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
    upgrade_to: int | None = None

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
    rows = conn.execute(_USER_SCHEMAS, (MARKER_SCHEMA,)).fetchall()
    return [r[0] for r in rows]


def _tracking_state(conn: psycopg.Connection, tracking_table: str) -> list[dict[str, Any]]:
    from scrydon_migrate import tracking

    rows = tracking.read_rows(conn, tracking_table) or {}
    return [{"version": v, "status": r.status.value, "checksum": r.checksum} for v, r in sorted(rows.items())]


def create(
    conn: psycopg.Connection,
    service: str,
    url: str,
    tracking_table: str,
    target: Path,
    *,
    upgrade_to: int | None = None,
) -> Manifest:
    """Dump the service's database to ``target`` (a folder, or a ``.dump`` path) with its manifest.

    ``upgrade_to`` marks a pre-upgrade snapshot with the upgrade it was taken for (see :func:`taken_for`).
    """
    from scrydon_migrate import __version__

    dump, manifest_path = paths(target, service)
    try:
        dump.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"can't create the snapshot folder {str(dump.parent)!r}: {exc.strerror}") from exc
    conninfo, env = _libpq(url)
    partial = dump.with_name(dump.name + ".partial")
    _run(
        [str(_tool("pg_dump")), "-Fc", "-N", MARKER_SCHEMA, "-d", conninfo, "-f", str(partial)],
        env,
        f"dump service {service!r}",
    )
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
        upgrade_to=upgrade_to,
    )
    manifest_path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def taken_for(target: Path, service: str, upgrade_to: int) -> Manifest | None:
    """The pre-upgrade snapshot already at ``target`` for this upgrade, if a first attempt took it.

    An upgrade is identified by its service and its target: the newest migration version of the
    release being applied. A crash-looping pod retries the same upgrade, and so does a hot-patched
    file (fix forward), so neither replaces the snapshot of the state before the upgrade began; the
    next release has a new target and takes its own. The dump must be intact (size and SHA-256).
    """
    try:
        manifest, _ = read_manifest(target, service)
    except MigrateError:
        return None
    return manifest if manifest.upgrade_to == upgrade_to else None


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


def restore(
    conn: psycopg.Connection,
    service: str,
    url: str,
    dump: Path,
    *,
    lock_timeout_ms: int,
    trail: list[tuple[Any, ...]],
) -> str:
    """Replace the database's schemas with the snapshot's; returns how (``atomic`` or ``batched``).

    ``pg_restore`` writes the dump's SQL to a file and ``psql`` replays it (no pipe between
    two children that could deadlock), every lock wait bounded by ``lock_timeout_ms`` (the
    migrations' ``--lock-timeout-ms``) so a session holding a table makes the restore fail with
    its error, never hang. When the objects to drop and create fit well in the server's lock
    table, everything (the drop, the replay) runs in one transaction: a failure part-way leaves
    the database exactly as it was. A schema too large for that (thousands of tables exhaust
    ``max_locks_per_transaction`` in a single transaction) is dropped in batches and replayed
    statement by statement, stopping at the first error, which says how far it got. Either way
    the restore is first recorded with ``trail`` (see :func:`mark_started`); the caller clears the
    record with :func:`mark_finished` when it appends the trail back.
    """
    import tempfile

    conninfo, env = _libpq(url)
    env["PGOPTIONS"] = " ".join(filter(None, (env.get("PGOPTIONS"), f"-c lock_timeout={int(lock_timeout_ms)}")))
    with tempfile.TemporaryDirectory(prefix="scrydon-migrate-restore-") as scratch:
        script = Path(scratch) / "restore.sql"
        _run(
            [str(_tool("pg_restore")), "--clean", "--if-exists", "--no-owner", "-f", str(script), str(dump)],
            env,
            f"read snapshot {str(dump)!r}",
        )
        atomic = _fits_one_transaction(conn, script)
        again = saved_trail(conn, service) is not None
        mark_started(conn, service, dump, trail)
        if atomic:
            prelude = _prelude(conn)
        else:
            prelude = _public_schema(conn)
            _drop_in_batches(conn, service, dump, lock_timeout_ms)
        replay = Path(scratch) / "replay.sql"
        _filtered(script, replay, prelude, _unknown_settings(conn))
        psql = [str(_tool("psql")), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "-d", conninfo]
        done = subprocess.run(
            [*psql, *(["--single-transaction"] if atomic else []), "-f", str(replay)],
            capture_output=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            error = redact_url((done.stderr or done.stdout).decode(errors="replace").strip())
            _replay_failed(conn, service, dump, error, replay, atomic=atomic, again=again)
    return "atomic" if atomic else "batched"


def _replay_failed(
    conn: psycopg.Connection, service: str, dump: Path, error: str, replay: Path, *, atomic: bool, again: bool
) -> None:
    """Raise the failed replay's error, saying exactly what state the database is left in.

    A rolled-back re-run of an unfinished restore leaves the database as that restore left it: still unfinished.
    """
    detail = " / ".join(error.splitlines()[-3:])
    if atomic:
        _rolled_back(conn, service, detail, again=again)
    state = (
        "every schema was dropped and the replay of the snapshot stopped at "
        f"{_entry_at(replay, error)}: what the snapshot holds before it is restored, the rest is not"
    )
    _mark_failed(conn, service, f"{state} ({detail})")
    raise SnapshotError(
        f"can't restore service {service!r}: {detail}; {state}",
        hint=_rerun_hint(service, dump),
        service=service,
        state="partly restored",
    )


def _rolled_back(conn: psycopg.Connection, service: str, detail: str, *, again: bool) -> NoReturn:
    if again:
        _mark_failed(conn, service, f"a re-run in one transaction failed and was rolled back ({detail})")
    else:
        mark_finished(conn, service)
    raise SnapshotError(
        f"can't restore service {service!r}: {detail}",
        hint="the restore ran in one transaction and was rolled back: the database is as it was before"
        + (", partly restored by the attempt before it" if again else ""),
        service=service,
    )


def _rerun_hint(service: str, dump: Path) -> str:
    return (
        "the schema is too large for one transaction, so the restore is not undone: fix the cause (a lock "
        f"timeout names a session holding a table), then {_rerun(service, dump)}; until then up refuses the database"
    )


def _rerun(service: str, dump: Path | str) -> str:
    return (
        f"run the same restore again: scrydon-migrate snapshot restore --service {service} --from {dump} --yes "
        "(it starts over from the drop and keeps the audit trail it saved)"
    )


def _entry_at(replay: Path, error: str) -> str:
    """The dump entry (``TABLE DATA public.t1``) that the line psql names in ``error`` belongs to."""
    import re

    found = re.search(r":(\d+): ERROR", error)
    if found is None:
        return "an unknown statement"
    line_number, entry = int(found.group(1)), "the start of the snapshot"
    with replay.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number > line_number:
                break
            named = re.match(rb"-- (?:Data for )?Name: (.*?); Type: (.*?); Schema: (.*?);", line)
            if named:
                name, kind, schema = (part.decode(errors="replace") for part in named.groups())
                entry = f"{kind} {name if schema == '-' else f'{schema}.{name}'}"
    return f"its entry {entry} (line {line_number} of its SQL)"


_MARKER_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.incomplete (
    service    text PRIMARY KEY,
    snapshot   text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    state      text,
    trail      jsonb NOT NULL
);
REVOKE ALL ON {schema}.incomplete FROM PUBLIC
"""


def mark_started(conn: psycopg.Connection, service: str, dump: Path, trail: list[tuple[Any, ...]]) -> None:
    """Record the restore, with the audit trail to keep, before anything is dropped (committed at once).

    A second attempt keeps the first one's trail: by then the audit log may be the snapshot's.
    """
    from psycopg import sql
    from psycopg.types.json import Jsonb

    with conn.transaction():
        conn.execute(sql.SQL(_MARKER_DDL).format(schema=sql.Identifier(MARKER_SCHEMA)))
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.incomplete (service, snapshot, trail) VALUES (%s, %s, %s)"
                " ON CONFLICT (service) DO UPDATE SET snapshot = EXCLUDED.snapshot, state = NULL"
            ).format(sql.Identifier(MARKER_SCHEMA)),
            (service, str(dump), Jsonb([_jsonable(row) for row in trail])),
        )


def _jsonable(row: tuple[Any, ...]) -> list[Any]:
    return [value.isoformat() if isinstance(value, datetime) else value for value in row]


def _mark_failed(conn: psycopg.Connection, service: str, state: str) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("UPDATE {}.incomplete SET state = %s WHERE service = %s").format(sql.Identifier(MARKER_SCHEMA)),
        (state, service),
    )


def mark_finished(conn: psycopg.Connection, service: str) -> None:
    """Clear the service's record (and the marker schema once no service has one): the restore is done."""
    from psycopg import sql

    marker = sql.Identifier(MARKER_SCHEMA)
    if not _has_marker(conn):
        return
    conn.execute(sql.SQL("DELETE FROM {}.incomplete WHERE service = %s").format(marker), (service,))
    if conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {}.incomplete)").format(marker)).fetchone() == (True,):
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(marker))


def _has_marker(conn: psycopg.Connection) -> bool:
    """Whether a restore record exists that this role may read (another service's role restoring its own may not)."""
    record = conn.execute(
        "SELECT CASE WHEN to_regclass(%(t)s) IS NULL THEN false ELSE has_table_privilege(%(t)s, 'SELECT') END",
        {"t": f"{MARKER_SCHEMA}.incomplete"},
    ).fetchone()
    return bool(record and record[0])


def saved_trail(conn: psycopg.Connection, service: str) -> list[tuple[Any, ...]] | None:
    """The audit trail an unfinished restore of the service saved, if there is one."""
    from psycopg import sql

    if not _has_marker(conn):
        return None
    record = conn.execute(
        sql.SQL("SELECT trail FROM {}.incomplete WHERE service = %s").format(sql.Identifier(MARKER_SCHEMA)),
        (service,),
    ).fetchone()
    return [tuple(row) for row in record[0]] if record else None


def refuse_incomplete(conn: psycopg.Connection, service: str) -> None:
    """Refuse (exit 6) a database whose restore is running or did not finish: nothing may migrate it."""
    from psycopg import sql

    if not _has_marker(conn):
        return
    record = conn.execute(
        sql.SQL("SELECT snapshot, started_at, state FROM {}.incomplete WHERE service = %s").format(
            sql.Identifier(MARKER_SCHEMA)
        ),
        (service,),
    ).fetchone()
    if record is None:
        return
    snapshot, started_at, state = record
    raise RestoreIncomplete(
        f"a snapshot restore of service {service!r} from {snapshot} (started "
        f"{started_at.isoformat(timespec='seconds')}) is running or did not finish"
        + (f": {state}" if state else "")
        + "; the database is partly restored, nothing was done",
        hint=f"if no restore is running (doctor shows no MIGRATION_LOCK_HELD), {_rerun(service, snapshot)}",
        service=service,
        snapshot=snapshot,
    )


#: Objects dropped per transaction when a schema is too large to restore in one.
DROP_BATCH = 200


def _fits_one_transaction(conn: psycopg.Connection, script: Path) -> bool:
    """Whether dropping today's objects and creating the dump's fits in half the server's lock table.

    Each relation takes a lock when dropped or created, with its row type, TOAST table, indexes and
    constraints; four locks per relation, and one per statement of the dump, is a generous estimate.
    """
    record = conn.execute(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'),"
        " current_setting('max_locks_per_transaction')::int"
        " * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int)"
    ).fetchone()
    relations, capacity = (int(record[0]), int(record[1])) if record else (0, 0)
    with script.open("rb") as fh:
        statements = sum(1 for line in fh if line.rstrip().endswith(b";"))
    return 4 * relations + statements <= capacity // 2


def _drop_in_batches(conn: psycopg.Connection, service: str, dump: Path, lock_timeout_ms: int) -> None:
    """Drop the database's tables a batch per transaction, then its schemas (with what is left in them).

    Run on the caller's connection before the replay, each batch committed on its own so no
    transaction holds more than :data:`DROP_BATCH` tables' locks. A failure says how many are gone.
    """
    import psycopg
    from psycopg import sql

    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout_ms)}ms")))
    dropped = 0
    try:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> %s"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
            " ORDER BY c.oid",
            (MARKER_SCHEMA,),
        ).fetchall()
        for start in range(0, len(tables), DROP_BATCH):
            with conn.transaction():
                for schema, name in tables[start : start + DROP_BATCH]:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(schema, name)))
            dropped = min(start + DROP_BATCH, len(tables))
        for schema in _schemas(conn):
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    except psycopg.Error as exc:
        state = (
            f"{dropped} of its {len(tables)} tables were dropped before the drop failed; "
            "the other tables, and every schema with what else is in it, are as they were"
        )
        _mark_failed(conn, service, state)
        raise SnapshotError(
            f"can't restore service {service!r}: dropping the current schema failed: {str(exc).strip()}; {state}",
            hint=_rerun_hint(service, dump),
            service=service,
            state="partly dropped",
        ) from exc
    finally:
        conn.execute("RESET lock_timeout")


def _filtered(script: Path, replay: Path, prelude: str, skipped: tuple[bytes, ...]) -> None:
    """Write ``prelude`` then ``script`` without the settings the server would refuse."""
    with script.open("rb") as source, replay.open("wb") as target:
        target.write(prelude.encode())
        for line in source:
            if not any(line.startswith(setting) for setting in skipped):
                target.write(line)


_AUDIT_COLUMNS = ("id", "at", "service", "event", "version", "actor", "reason", "details")


def read_audit(conn: psycopg.Connection, tracking_table: str) -> list[tuple[Any, ...]]:
    """Every event of the service's audit log, oldest first (none when it has no audit table yet)."""
    import psycopg
    from psycopg import sql

    from scrydon_migrate import audit
    from scrydon_migrate.tracking import table_identifier

    query = sql.SQL("SELECT {} FROM {} ORDER BY id").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in _AUDIT_COLUMNS),
        table_identifier(audit.table_for(tracking_table)),
    )
    try:
        return conn.execute(query).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


def append_audit(conn: psycopg.Connection, tracking_table: str, trail: list[tuple[Any, ...]]) -> int:
    """Append back the events newer than the restored audit log's last one, as they were; returns how many.

    The audit log is append-only and its ids only grow, so the restored log is a prefix of ``trail``:
    what follows its last id happened after the snapshot (the failed upgrade), and is kept.
    """
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from scrydon_migrate import audit
    from scrydon_migrate.tracking import table_identifier

    table = table_identifier(audit.table_for(tracking_table))
    record = conn.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(table)).fetchone()
    last = int(record[0]) if record else 0
    newer = [(*row[:-1], Jsonb(row[-1])) for row in trail if row[0] > last]
    if not newer:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                table,
                sql.SQL(", ").join(sql.Identifier(c) for c in _AUDIT_COLUMNS),
                sql.SQL(", ").join(sql.Placeholder() for _ in _AUDIT_COLUMNS),
            ),
            newer,
        )
    conn.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), (SELECT max(id) FROM {}))").format(
            sql.Literal(table.as_string(conn)), table
        )
    )
    return len(newer)


def _unknown_settings(conn: psycopg.Connection) -> tuple[bytes, ...]:
    """``SET`` lines of a PostgreSQL 18 dump that an older server would refuse."""
    return (b"SET transaction_timeout",) if conn.info.server_version < 170000 else ()


def _prelude(conn: psycopg.Connection) -> str:
    """SQL that empties the database's schemas and recreates ``public`` as it was (owner, comment, grants)."""
    from psycopg import sql

    drops = [sql.SQL("DROP SCHEMA {} CASCADE;").format(sql.Identifier(s)).as_string(conn) for s in _schemas(conn)]
    return "\n".join(drops) + "\n" + _public_schema(conn)


def _public_schema(conn: psycopg.Connection) -> str:
    """SQL that recreates ``public`` as it is now (owner, comment, grants), once the schemas are dropped."""
    from psycopg import sql

    public = conn.execute(
        "SELECT nspowner::regrole::text, pg_has_role(nspowner, 'MEMBER'), obj_description(oid, 'pg_namespace'),"
        " ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)"
        "              || ' ' || a.privilege_type FROM aclexplode(nspacl) a WHERE a.grantee <> nspowner)"
        " FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    parts: list[sql.Composable] = [sql.SQL("CREATE SCHEMA public;")]
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
