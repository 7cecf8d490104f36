"""The start-up check: a no-op ``up`` proven from the last full check, without reading the catalog again.

Every pod runs ``up`` on every start, and nearly always nothing is pending. The full path imports
psycopg (~65 ms) and reads the whole catalog for the desync check (~100 ms at 5,000 migrations), so
its cost grows with the history. A no-op needs neither when nothing changed since a full check found
the service healthy with nothing pending: that check stored what it saw (``<tracking>_checked``), and
this module proves, with two text queries over libpq (:mod:`scrydon_migrate.libpq`), that all of it
is still so:

* **the catalog** — the *catalog generation*, a sequence that the tool's DDL event triggers advance
  for every DDL command of every session on a non-temporary object (installed with the recording
  triggers of :mod:`scrydon_migrate.record`, enabled ``ALWAYS`` so replica-mode sessions count too).
  The generation also names the triggers' and their function's catalog rows, so a trigger disabled,
  re-created, filtered by tags or replaced by another body shows as a change. Only where the triggers
  are in place, exactly as this release installs them, is there a generation at all; elsewhere (a
  role that is not a superuser, nobody installed them) every start takes the full path.
* **no DDL in flight** — a generation is stored only when read while no DDL transaction is open:
  every DDL takes a shared transaction-level advisory lock before it advances the generation, and the
  full check reads the generation under the exclusive one (try, never wait) *before* its snapshot of
  the catalog. A DDL that committed later advanced the generation past the stored value.
* **the tracking rows** — a digest of every row's version and ``xmin`` (any write gives a new one).
* **the files** — name, size and modification time of every entry of the service's migrations folder
  (a changed file is re-read and re-hashed by the full path), with the folder, the tool's version and
  :data:`STATE_FORMAT`.

Identifiers in its two statements are quoted by libpq's ``PQescapeIdentifier``: psycopg's
``sql.Identifier`` is what the full path uses, and importing psycopg is what this path avoids.

Anything else — a change, an error, a service without a URL (embedded), the repair flag, more than
one service — falls back to the full path, which decides as always and stores a fresh state when it
finds a healthy no-op. What the generation cannot see: DDL run with event triggers switched off for
the session (``SET event_triggers = off`` on PostgreSQL 17+, single-user mode); support can force a
full check by deleting the row (``DELETE FROM <tracking>_checked``). A file edited to the same size
with its modification time kept (builders that give every file one fixed time make that possible) is
seen at the next full check.
"""

from __future__ import annotations

import _thread
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from scrydon_migrate import __version__

if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import md5, sha256

    import psycopg

    from scrydon_migrate import libpq
    from scrydon_migrate.config import ServiceSettings, Settings
    from scrydon_migrate.runner import Applied
else:
    try:  # CPython's own digests: hashlib would load OpenSSL on every pod's start for two small digests
        from _md5 import md5
        from _sha256 import sha256
    except ImportError:  # a build without them (FIPS builds may leave them out) or another Python version
        from hashlib import md5, sha256

_T = TypeVar("_T")

#: The logger of a no-op's line and of :func:`store`'s note (the full path's, :mod:`scrydon_migrate.api`).
LOGGER = "scrydon_migrate.api"
#: The line a no-op ``up`` logs: message and event name (:func:`log_up_to_date`).
UP_TO_DATE = "schema is up to date"
UP_TO_DATE_EVENT = "MIGRATIONS_UP_TO_DATE"

#: Bumped whenever the full check's logic changes what a stored state proves.
STATE_FORMAT = "1"
CHECKED_SUFFIX = "_checked"
#: Short: a database that is slow to answer is waited for by the full path (--wait-for-db), not here.
CONNECT_TIMEOUT_S = 3


@dataclass(frozen=True, slots=True)
class UpResult:
    """What ``up`` did for one service."""

    service: str
    applied: tuple[Applied, ...]
    total: int
    waited_for_lock_s: float
    took_lock: bool
    unknown_newer: tuple[str, ...]
    missing_files: tuple[str, ...]


def log_up_to_date(service: str, total: int, *, waited_s: float | None = None) -> None:
    """The line a no-op ``up`` logs (``waited_s``: it waited for another pod that applied them)."""
    import logging

    from scrydon_migrate import log

    log.event(
        logging.getLogger(LOGGER),
        logging.INFO,
        UP_TO_DATE + (" (another run applied the pending migrations)" if waited_s is not None else ""),
        UP_TO_DATE_EVENT,
        **up_to_date_fields(service, total),
        waited_s=round(waited_s, 1) if waited_s is not None else None,
    )


def up_to_date_fields(service: str, total: int) -> dict[str, object]:
    """The fields of the no-op line, in the order it shows them."""
    return {"service": service, "applied": total}


#: The event trigger function's body (:mod:`scrydon_migrate.record` installs it): it advances the catalog
#: generation (sequence ``scrydon_migrate_catalog_generation``) under the shared DDL lock 1551699583 for
#: any DDL on a non-temporary object, then notes the objects of a session whose migration is recorded.
FUNCTION_BODY = """
BEGIN
    IF TG_EVENT = 'sql_drop' THEN
        IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects() WHERE NOT is_temporary) THEN
            PERFORM pg_advisory_xact_lock_shared(1551699583);
            PERFORM nextval('scrydon_migrate_catalog_generation');
        END IF;
    ELSIF EXISTS (SELECT FROM pg_event_trigger_ddl_commands()
                   WHERE schema_name IS NULL OR schema_name NOT LIKE 'pg\\_temp%') THEN
        PERFORM pg_advisory_xact_lock_shared(1551699583);
        PERFORM nextval('scrydon_migrate_catalog_generation');
    END IF;
    IF current_setting('scrydon_migrate.recording', true) IS DISTINCT FROM 'on' THEN
        RETURN;
    END IF;
    IF to_regclass('pg_temp.scrydon_migrate_events') IS NULL THEN
        PERFORM set_config('scrydon_migrate.recording', 'lost', false);
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        INSERT INTO pg_temp.scrydon_migrate_events (classid, objid, objsubid, dropped)
        SELECT classid, objid, objsubid, true FROM pg_event_trigger_dropped_objects() WHERE classid IS NOT NULL;
    ELSE
        INSERT INTO pg_temp.scrydon_migrate_events (classid, objid, objsubid, dropped)
        SELECT classid, objid, objsubid, false FROM pg_event_trigger_ddl_commands() WHERE classid IS NOT NULL;
    END IF;
END
"""
FUNCTION_BODY_MD5 = md5(FUNCTION_BODY.encode(), usedforsecurity=False).hexdigest()

#: The catalog generation as one text (no row where the event triggers are not as installed): the
#: sequence's value and row, and the triggers' and their function's rows (with the body this release installs).
_GENERATION = (
    """
trig AS (
    SELECT e.evtname, e.evtenabled, e.evttags, e.xmin::text AS exmin, p.xmin::text AS pxmin,
           md5(p.prosrc) AS src, p.pronamespace
      FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
     WHERE e.evtname IN ('scrydon_migrate_record_ddl', 'scrydon_migrate_record_drop')
), placed AS (
    SELECT min(pronamespace) AS nsp, string_agg(evtname || ':' || exmin || ':' || pxmin, ',' ORDER BY evtname) AS sig
      FROM trig
    HAVING count(*) = 2 AND count(DISTINCT pronamespace) = 1
       AND bool_and(evtenabled = 'A' AND evttags IS NULL AND src = '"""
    + FUNCTION_BODY_MD5
    + """')
), generation AS (
    SELECT coalesce(pg_sequence_last_value(c.oid), 0) || '/' || s.xmin::text || '/' || placed.sig AS value
      FROM placed JOIN pg_class c ON c.relnamespace = placed.nsp AND c.relname = 'scrydon_migrate_catalog_generation'
                                 AND c.relkind = 'S'
      JOIN pg_sequence s ON s.seqrelid = c.oid
)"""
)

#: Every tracking row's version and ``xmin``, digested (``t`` is the tracking table).
ROWS_DIGEST = "md5(coalesce(string_agg(t.version::text || ':' || t.xmin::text, ',' ORDER BY t.version), ''))"

#: Full path: the generation, read only when no DDL transaction holds the shared lock.
SETTLED_GENERATION = "WITH " + _GENERATION + " SELECT value FROM generation WHERE pg_try_advisory_xact_lock(1551699583)"

#: Start-up: the stored state beside the current one (``{checked}``, ``{tracking}``: quoted by libpq). The
#: stored files key is compared by the client, which computes its own while the statement runs.
_STATE = (
    "WITH "
    + _GENERATION
    + " SELECT k.generation = g.value, k.rows_digest = (SELECT "
    + ROWS_DIGEST
    + " FROM {tracking} AS t), k.files_key, k.applied FROM {checked} AS k JOIN generation g ON true"
)

CHECKED_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation text NOT NULL,
    rows_digest text NOT NULL,
    files_key text NOT NULL,
    applied integer NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
)"""

_STORE = """
INSERT INTO {table} AS k (generation, rows_digest, files_key, applied) VALUES (%s, %s, %s, %s)
ON CONFLICT (only_row) DO UPDATE
   SET generation = excluded.generation, rows_digest = excluded.rows_digest, files_key = excluded.files_key,
       applied = excluded.applied, checked_at = now()
"""


def files_key(folder: Path) -> str | None:
    """The migrations folder as the start-up check knows it: every file's name, size and mtime.

    ``None`` when an entry is not a regular file (a migration folder, a broken link): the full path
    reads those every time. Hidden folders are passed over, as the scan does: a ConfigMap mount keeps
    its ``..data`` link and timestamped folder there (the files' links follow them, so an update of the
    ConfigMap changes the files' own sizes and times).

    One ``stat`` per entry, so that an edit in place is never missed, each looked up relative to the
    open folder (``dir_fd``) rather than along the whole path again: at 5,000 files this listing is
    most of what a no-op's time grows with.
    """
    try:
        where = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    lines = [f"{STATE_FORMAT}\0{__version__}\0{os.path.abspath(folder)}"]
    try:
        for name in sorted(os.listdir(where)):
            info = os.stat(name, dir_fd=where)
            if stat.S_ISREG(info.st_mode):
                lines.append(f"{name}\0{info.st_size}\0{info.st_mtime_ns}")
            elif not name.startswith("."):
                return None
    except OSError:
        return None
    finally:
        os.close(where)
    return sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def proven_up_to_date(settings: Settings) -> list[UpResult] | None:
    """The results of a no-op ``up``, logged, when the stored state proves it; else ``None`` (take the full path)."""
    results = proven(settings)
    if results is not None:
        log_up_to_date(results[0].service, results[0].total)
    return results


def proven(settings: Settings) -> list[UpResult] | None:
    """:func:`proven_up_to_date` without its line, which the command writes itself (:mod:`scrydon_migrate.cli`).

    The folder is listed while the database answers: the statement runs in a thread (libpq waits with
    the interpreter's lock released) and the files key it returns is compared here, so a large folder's
    ``stat`` calls and the server's work overlap instead of adding up. A folder that the stat cannot
    vouch for (a migration folder inside) still waits for that answer before it takes the full path.
    """
    if len(settings.services) != 1 or settings.repair_tracking:
        return None
    svc = settings.services[0]
    if svc.database_url is None:
        return None
    stored = _meanwhile(lambda: stored_state(settings, svc))
    key = files_key(svc.migrations_dir)
    state = stored()
    if key is None or state is None or state[0] != key:
        return None
    return [UpResult(svc.name, (), state[1], 0.0, False, (), ())]


def _meanwhile(work: Callable[[], _T]) -> Callable[[], _T]:
    """``work`` started in a thread; the function returned waits for its result (or raises its error)."""
    outcome: list[_T] = []
    failed: list[BaseException] = []
    finished = _thread.allocate_lock()
    finished.acquire()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - raised again where the result is awaited
            failed.append(exc)
        finally:
            finished.release()

    def result() -> _T:
        with finished:
            if failed:
                raise failed[0]
            return outcome[0]

    _thread.start_new_thread(run, ())
    return result


def stored_total(settings: Settings, svc: ServiceSettings, key: str) -> int | None:
    """How many migrations are applied, when generation, rows and files (``key``) are those of the stored check
    (the proof step by step, as the benchmark times it)."""
    state = stored_state(settings, svc)
    return state[1] if state is not None and state[0] == key else None


def stored_state(settings: Settings, svc: ServiceSettings) -> tuple[str, int] | None:
    """The stored files key and applied count, when the catalog generation and the tracking rows are
    still those of the stored check; ``None`` when anything differs or cannot be read."""
    from scrydon_migrate import libpq

    assert svc.database_url is not None
    try:
        with libpq.Connection(
            svc.database_url, application_name=settings.application_name, connect_timeout_s=CONNECT_TIMEOUT_S
        ) as conn:
            located = _located(conn, svc.tracking_table)
            if located is None:
                return None
            schema, table = (conn.quote_identifier(n) for n in located)
            checked = conn.quote_identifier(located[1] + CHECKED_SUFFIX)
            rows = conn.query(_STATE.format(tracking=f"{schema}.{table}", checked=f"{schema}.{checked}"))
    except libpq.LibpqError:
        return None
    if len(rows) != 1 or rows[0][:2] != ("t", "t") or rows[0][2] is None or rows[0][3] is None:
        return None
    return rows[0][2], int(rows[0][3])


def _located(conn: libpq.Connection, configured: str) -> tuple[str, str] | None:
    """The tracking table's schema and name, when ``tracking.resolve``'s first rule finds it (the table
    first on the search path); its other rules are the full path's."""
    parts = configured.split(".")
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    if len(parts) != 1 or not parts[0]:
        return None
    from scrydon_migrate import catalog

    found = conn.query(catalog.TRACKING_TABLES.format(name="$1"), [configured])
    return (str(found[0][0]), configured) if found and found[0][1] == "t" else None


def settled_generation(conn: psycopg.Connection) -> str | None:
    """The catalog generation now, if no DDL transaction is open (read it before the catalog snapshot)."""
    import psycopg

    try:
        record = conn.execute(SETTLED_GENERATION).fetchone()
    except psycopg.Error:
        return None
    return str(record[0]) if record else None


def store(conn: psycopg.Connection, table: str, *, generation: str, rows_digest: str, key: str, total: int) -> None:
    """Remember a healthy no-op check, for the next start (a role that may not write it just goes without)."""
    import psycopg
    from psycopg import sql

    schema, _, name = table.rpartition(".")
    checked = sql.Identifier(*filter(None, (schema, name + CHECKED_SUFFIX)))
    try:
        conn.execute(sql.SQL(_STORE).format(table=checked), (generation, rows_digest, key, total))
    except psycopg.Error as exc:
        import logging

        logging.getLogger(LOGGER).debug("start-up state not stored for %s: %s", table, exc)
