"""Connections: opened with a recognisable application_name, waiting for a database that is not up yet.

psycopg costs ~120 ms to import, so it is imported here, by the commands that touch a
database, never at package import.

Connection poolers: psycopg never prepares statements server-side here
(``prepare_threshold=None``), so two clients a pooler puts on one server session can't
collide on a statement name. The migration lock is a session-level advisory lock, so a
pooler in transaction or statement mode (PgBouncer ``pool_mode = transaction``), which gives
each transaction whichever server session is free, would let a waiting pod "take" the lock on
the holder's session: :func:`refuse_transaction_pooling` detects it before the lock is taken.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scrydon_migrate import log
from scrydon_migrate.config import redact_url
from scrydon_migrate.errors import DatabaseUnavailable, PrivilegeMissing, TransactionPooling

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10


def describe(url: str) -> str:
    """``user@host:port/database`` for messages, as libpq reads ``url`` (a URL or key=value): never the password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return redact_url(url)
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return redact_url(f"{user}{params.get('host') or 'localhost'}{port}/{params.get('dbname') or ''}")


def connect(url: str, *, application_name: str, service: str, wait_for_db_s: float = 0.0) -> psycopg.Connection:
    """An autocommit connection to ``url``; retries with backoff for up to ``wait_for_db_s``."""
    import psycopg

    deadline = time.monotonic() + wait_for_db_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return psycopg.connect(
                url,
                autocommit=True,
                application_name=application_name,
                connect_timeout=CONNECT_TIMEOUT_S,
                prepare_threshold=None,
            )
        except psycopg.Error as exc:
            reason = _first_line(exc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseUnavailable(
                    f"can't connect to the database of service {service!r} at {describe(url)}: {reason}",
                    hint="check that the database is up and the URL is right; "
                    "--wait-for-db SECONDS (MIGRATE_WAIT_FOR_DB) waits for a database that is starting",
                    service=service,
                    database=describe(url),
                    attempts=attempt,
                ) from None
            sleep_s = min(remaining, min(5.0, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))
            log.event(
                logger,
                logging.INFO,
                "waiting for the database",
                "DATABASE_WAITING",
                service=service,
                database=describe(url),
                attempt=attempt,
                sleep_ms=int(sleep_s * 1000),
                reason=reason,
            )
            time.sleep(sleep_s)


#: Rounds of the pooler probe; one usually shows it, more catch a pool that rotates its sessions.
POOLER_PROBE_ROUNDS = 3


def refuse_transaction_pooling(conn: psycopg.Connection, service: str) -> None:
    """Refuse (exit 3) a connection that does not own its server session, before the lock is taken.

    PostgreSQL pins a client connection to one backend for its life; a direct or
    session-pooled URL therefore keeps one ``pg_backend_pid()`` across transactions, and two
    connections open at once never share one. A second, probe connection to the same
    database asks in turn with ``conn``, and once more while holding a transaction open
    (a transaction pooler then must move ``conn`` to another session; a statement pooler
    refuses the transaction). Any shared or changing pid means transaction pooling.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo

    params = {k: v for k, v in conn.info.get_parameters().items() if k != "application_name"}
    try:
        probe = psycopg.connect(
            make_conninfo(**params, password=conn.info.password),
            autocommit=True,
            application_name="scrydon-migrate pooler check",
            connect_timeout=CONNECT_TIMEOUT_S,
            prepare_threshold=None,
        )
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            f"can't open a second connection to the database of service {service!r} to check for a "
            f"connection pooler: {_first_line(exc)}",
            hint="the migration run needs two connections for a moment; check max_connections and the pooler's "
            "limits, then restart",
            service=service,
        ) from None
    with probe:
        try:
            evidence = _pooling_evidence(conn, probe)
        except psycopg.Error as exc:
            evidence = f"a transaction through it failed: {_first_line(exc)}"
    if evidence is not None:
        raise TransactionPooling(
            f"the database URL of service {service!r} goes through a connection pooler in transaction or "
            f"statement mode ({evidence}): the migration lock is a session lock, which such a pooler "
            "shares between clients, so two pods could apply the same migration; nothing was done",
            hint="give the migrations a direct or session-pooled URL (PgBouncer pool_mode = session): "
            "<SERVICE>_MIGRATION_URL or MIGRATE_MIGRATION_URL (migration_url in scrydon-migrate.toml; "
            "<key>.database.migrationSecretKey in the chart), and keep the pooled URL for the application",
            service=service,
        )


def _backend_pid(conn: psycopg.Connection) -> int:
    record = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert record is not None
    return int(record[0])


def _pooling_evidence(conn: psycopg.Connection, probe: psycopg.Connection) -> str | None:
    """What shows that ``conn`` does not own a server session, or ``None`` when nothing does."""
    first = _backend_pid(conn)
    for _ in range(POOLER_PROBE_ROUNDS):
        other = _backend_pid(probe)
        if other == first:
            return f"two connections shared server pid {first}"
        again = _backend_pid(conn)
        if again != first:
            return f"the server pid changed from {first} to {again} between transactions"
    with probe.transaction():
        other = _backend_pid(probe)
        again = _backend_pid(conn)
    if again != first or other == first:
        return f"the server pid changed from {first} to {again} while another client held pid {other}"
    return None


def _session_settings(conn: psycopg.Connection, lock_timeout_ms: int) -> bytes:
    """A short lock_timeout, and (PostgreSQL 14+) noticing a dead client during a long statement.

    Without the second, the backend of a SIGKILLed pod runs its statement to the end while
    still holding the migration lock; with it, the statement is cancelled within a second,
    the transaction rolls back and the next pod takes over.
    """
    settings = b"SET lock_timeout = %d" % lock_timeout_ms
    if conn.info.server_version >= 140000:
        settings += b"; SET client_connection_check_interval = 1000"
    return settings


@contextlib.contextmanager
def transaction_sent_with_statements(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction whose ``BEGIN`` the block sends with its first statements, and, if it can, its
    ``COMMIT`` with its last: a round trip saved at each end. A block that fails is rolled back, as
    ``conn.transaction()`` would; one that did not commit is committed after it.
    """
    import psycopg
    from psycopg import pq

    try:
        yield
    except BaseException:
        if not conn.closed and conn.info.transaction_status is not pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
        raise
    if conn.info.transaction_status is not pq.TransactionStatus.IDLE:
        conn.execute(b"COMMIT")


def quoted(conn: psycopg.Connection, query: str | bytes, params: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """``query`` with ``params`` quoted into it by libpq, to send with other statements in one round trip."""
    from psycopg import ClientCursor

    with ClientCursor(conn) as cursor:
        return cursor.mogrify(query, params).encode()


def prepare_session(conn: psycopg.Connection, lock_timeout_ms: int) -> None:
    """Session settings for applying migrations, in one round trip."""
    conn.execute(_session_settings(conn, lock_timeout_ms))


def reset_session(conn: psycopg.Connection, lock_timeout_ms: int) -> None:
    """Undo what a migration SET for the session (search_path, role, timeouts) before the next one.

    A plain ``SET`` inside a migration outlives its transaction; pg_dump-style files
    even empty the search_path. Advisory locks are not touched by this. One round trip.
    """
    conn.execute(reset_statements(conn, lock_timeout_ms))


def reset_statements(conn: psycopg.Connection, lock_timeout_ms: int) -> bytes:
    """The statements of :func:`reset_session`, to send after others in the same round trip."""
    return b"RESET ALL; RESET ROLE; RESET SESSION AUTHORIZATION; " + _session_settings(conn, lock_timeout_ms)


def privilege_missing(conn: psycopg.Connection | None, service: str | None, exc: BaseException) -> PrivilegeMissing:
    """The clear error for a role that may not create or read the tool's own tables (exit 3)."""
    role = conn.info.user if conn is not None else None
    who = f"the database role {role!r}" if role else "the database role"
    return PrivilegeMissing(
        f"{who}{f' of service {service!r}' if service else ''} lacks a privilege the migration "
        f"bookkeeping needs: {_first_line(exc)}; nothing was applied",
        hint="run the migrations as the role that owns the service's schema (its tracking and audit tables "
        "included), or grant it CREATE on the schema; a second service sharing this database under another "
        "role needs its own tracking_table (or schema)",
        service=service,
        role=role,
    )


def known_error(exc: BaseException) -> PrivilegeMissing | None:
    """A database error any command may meet that is the user's to fix, not a bug: its clear form."""
    import sys

    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return privilege_missing(None, None, exc)
    return None


def _first_line(exc: BaseException) -> str:
    text = redact_url(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_connection_lost(conn: psycopg.Connection, exc: BaseException) -> bool:
    """Whether ``exc`` means the session is gone (terminated backend, server restart, network)."""
    import psycopg

    if conn.closed or conn.broken:
        return True
    sqlstate = getattr(getattr(exc, "diag", None), "sqlstate", None)
    return isinstance(exc, psycopg.OperationalError) and (sqlstate is None or sqlstate.startswith(("57P", "08")))
