"""The runtime lock budget: enforced on the server, not predicted from the SQL.

The guard and the linter read a statement's parse tree; they cannot see inside a DO
block, a function, a volatile default or an ``UPDATE`` that follows an ``ADD COLUMN``
in the same transaction. While a migration runs, a :class:`Watchdog` on a second
connection asks PostgreSQL every ~100 ms which table locks the migration's backend
holds (``pg_locks``) and which sessions wait behind it (``pg_blocking_pids``), and
cancels the running statement (``pg_cancel_backend``) when

* it has held a lock that blocks writes (SHARE or stronger) on a table for longer than
  the budget while a reader or writer waits for that table, or
* it has held such a lock on a *large* table (the guard's thresholds) for longer than
  the budget, whether or not anyone waits yet, or
* a reader or writer has waited behind it (a table lock, or a row lock of an ``UPDATE``)
  for longer than the budget.

The cancel makes the statement fail, its transaction rolls back and the runner reports
the statement, the table, the lock mode, how long, and the safe alternative.

Sessions that only queue behind a statement still *waiting* for its own lock are left to
``lock_timeout`` (shorter than the budget); pods waiting for the migration's advisory lock
are never writers. Sizes come from the catalog and the statistics counters only: asking
``pg_relation_size`` would queue the watchdog itself behind the lock it watches.

:func:`decide` is pure; :class:`Watchdog` is the polling shell around it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrydon_migrate import log

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

DEFAULT_LOCK_BUDGET_MS = 5000

_BLOCK_BYTES = 8192
#: The "mode" of a trip where writers waited for rows the migration updated or deleted.
ROW_LOCKS = "ROW"
_ROW_LOCK_TARGET = "rows it wrote"
#: Table lock modes that conflict with ROW EXCLUSIVE, the lock every INSERT/UPDATE/DELETE takes.
WRITE_BLOCKING_MODES = {
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}

_HELD = """
SELECT l.relation::bigint, format('%%I.%%I', n.nspname, c.relname), l.mode, a.xact_start,
       greatest(c.reltuples, pg_stat_get_live_tuples(c.oid))::bigint, c.relpages::bigint
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.pid = %(pid)s AND l.granted AND l.locktype = 'relation' AND c.relkind IN ('r', 'p', 'm')
   AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
"""

#: Readers and writers blocked by the migration: on a table it holds a lock on, or on a row it wrote.
_WAITERS = """
SELECT w.pid, coalesce(a.application_name, ''), a.state, left(coalesce(a.query, ''), 200),
       (extract(epoch FROM clock_timestamp() - coalesce(w.waitstart, a.state_change)) * 1000)::bigint,
       w.relation::bigint
  FROM pg_locks w
  JOIN pg_stat_activity a ON a.pid = w.pid
 WHERE NOT w.granted AND w.pid NOT IN (%(pid)s, pg_backend_pid())
   AND (w.locktype IN ('transactionid', 'tuple')
        OR (w.locktype = 'relation' AND w.mode IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
            AND EXISTS (SELECT 1 FROM pg_locks m
                         WHERE m.pid = %(pid)s AND m.granted AND m.locktype = 'relation'
                           AND m.relation = w.relation)))
   AND %(pid)s = ANY(pg_blocking_pids(w.pid))
"""


@dataclass(frozen=True, slots=True)
class HeldLock:
    """A write-blocking table lock the migration's backend holds, as one poll saw it."""

    relation: int
    table: str
    mode: str
    xact_start: datetime | None
    rows: int
    pages: int

    @property
    def key(self) -> tuple[int, str, datetime | None]:
        """One lock of one transaction: a new transaction taking it again starts a new clock."""
        return (self.relation, self.mode, self.xact_start)

    @property
    def mode_name(self) -> str:
        return WRITE_BLOCKING_MODES.get(self.mode, self.mode)


@dataclass(frozen=True, slots=True)
class Waiter:
    """A session waiting behind the migration."""

    pid: int
    application_name: str
    state: str | None
    query: str
    waited_ms: int
    relation: int | None

    def describe(self) -> str:
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, waiting {self.waited_ms:,} ms: "
            f"{self.query!r})"
        )


@dataclass(frozen=True, slots=True)
class Blocker:
    """A session the migration's backend waits for: from ``pg_blocking_pids()`` of that backend."""

    pid: int
    application_name: str
    state: str | None
    since: datetime | None
    query: str
    mode: str

    def describe(self) -> str:
        since = self.since.strftime("%Y-%m-%dT%H:%M:%SZ") if self.since else "?"
        age = f", for {(datetime.now(UTC) - self.since).total_seconds():,.0f} s" if self.since else ""
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, {self.state or '?'}, "
            f"{self.mode or 'queued ahead'} held since {since}{age}: {self.query!r})"
        )


_BLOCKED_BY = """
SELECT b.pid, coalesce(b.application_name, ''), b.state, coalesce(b.xact_start, b.query_start),
       left(coalesce(b.query, ''), 200),
       coalesce((SELECT string_agg(DISTINCT h.mode, ',') FROM pg_locks h
                  JOIN pg_locks w ON w.relation = h.relation AND w.pid = %(pid)s AND NOT w.granted
                 WHERE h.pid = b.pid AND h.granted), '')
  FROM pg_stat_activity b
 WHERE b.pid = ANY(pg_blocking_pids(%(pid)s))
 ORDER BY coalesce(b.xact_start, b.query_start)
 LIMIT 5
"""


PROGRESS_EVERY_S = 5.0
_PROGRESS = """
SELECT p.command, p.phase, p.relid::regclass::text, nullif(p.index_relid, 0)::regclass::text,
       p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,
       p.lockers_done, p.lockers_total, nullif(p.current_locker_pid, 0)
  FROM pg_stat_progress_create_index p
 WHERE p.pid = %(pid)s
"""


@dataclass(frozen=True, slots=True)
class Trip:
    """Why the watchdog cancelled a statement: which lock, on what, for how long, who waited."""

    table: str
    mode: str
    held_ms: int
    reason: str
    waiters: tuple[Waiter, ...] = ()

    def describe(self) -> str:
        if self.mode == ROW_LOCKS:
            return f"held row locks on rows it wrote {self.reason}"
        article = "an" if self.mode[0] in "AEIOU" else "a"
        return f"held {article} {self.mode} lock on {self.table!r} for {self.held_ms:,} ms {self.reason}"


@dataclass(frozen=True, slots=True)
class Limits:
    """The budget and what makes a table large (the guard's thresholds)."""

    budget_ms: int
    large_rows: int
    large_bytes: int

    def is_large(self, lock: HeldLock) -> bool:
        return lock.rows >= self.large_rows or lock.pages * _BLOCK_BYTES >= self.large_bytes


def decide(
    held: Sequence[HeldLock],
    waiters: Sequence[Waiter],
    first_seen: Mapping[tuple[int, str, datetime | None], float],
    now: float,
    limits: Limits,
) -> Trip | None:
    """Whether the statement must be cancelled now, and why. Pure: polls in, a verdict out."""
    budget = limits.budget_ms
    for lock in sorted(held, key=lambda h: first_seen.get(h.key, now)):
        held_ms = int((now - first_seen.get(lock.key, now)) * 1000)
        if held_ms <= budget:
            continue
        blocked = tuple(w for w in waiters if w.relation in (lock.relation, None))
        if blocked:
            return Trip(lock.table, lock.mode_name, held_ms, f"while {_sessions(blocked)} waited", blocked)
        if limits.is_large(lock):
            return Trip(lock.table, lock.mode_name, held_ms, f"on a large table (~{lock.rows:,} rows)")
    late = [w for w in waiters if w.waited_ms > budget]
    if not late:
        return None
    longest = max(late, key=lambda w: w.waited_ms)
    reason = f"while {_sessions(late)} waited behind it"
    table_lock = next((h for h in held if h.relation == longest.relation), None)
    if table_lock is None:
        return Trip(_ROW_LOCK_TARGET, ROW_LOCKS, longest.waited_ms, reason, tuple(late))
    held_ms = int((now - first_seen.get(table_lock.key, now)) * 1000)
    return Trip(table_lock.table, table_lock.mode_name, held_ms, reason, tuple(late))


def _sessions(waiters: Sequence[Waiter]) -> str:
    longest = max(w.waited_ms for w in waiters)
    count = f"{len(waiters)} session{'s' if len(waiters) > 1 else ''}"
    return f"{count} (longest {longest:,} ms)"


def poll_interval_s(budget_ms: int) -> float:
    """Often enough that a cancel lands well inside budget + 250 ms, rarely enough to cost nothing."""
    return min(0.1, max(0.02, budget_ms / 20_000))


class Watchdog:
    """Watches one backend from a second connection and cancels its statement past the budget.

    The runner arms it around each migration statement (:meth:`watch`); between statements
    (tracking writes, commit) it never cancels. The verdict is read with :attr:`tripped`.
    """

    def __init__(self, conn: psycopg.Connection, backend_pid: int, limits: Limits, *, service: str) -> None:
        self.conn = conn
        self.pid = backend_pid
        self.limits = limits
        self.service = service
        self._mutex = threading.Lock()
        self._armed = False
        self._allowed = False
        self._tripped: Trip | None = None
        self._blockers: list[Blocker] = []
        self._progress: dict[str, str] | None = None
        self._progress_at = 0.0
        self._first_seen: dict[tuple[int, str, datetime | None], float] = {}
        self._last_seen: dict[tuple[int, str, datetime | None], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scrydon-migrate-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self.conn.execute("SET statement_timeout = 2000; SET lock_timeout = 1000")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def tripped(self) -> Trip | None:
        return self._tripped

    @contextlib.contextmanager
    def watch(self, *, allowed: bool, progress: dict[str, str] | None = None) -> Iterator[None]:
        """Arm around one statement; an allowed one runs unbudgeted and its locks' clocks restart after it.

        With ``progress`` (the log fields naming a concurrent index build), the build's progress is
        logged every few seconds while it runs.
        """
        with self._mutex:
            self._tripped = None
            self._blockers = []
            self._progress = progress
            self._progress_at = time.monotonic()
            self._armed = True
            self._allowed = allowed
        try:
            yield
        finally:
            with self._mutex:
                self._armed = False
                if allowed:
                    restart = time.monotonic()
                    self._first_seen = dict.fromkeys(self._first_seen, restart)

    def blockers(self) -> list[Blocker] | None:
        """Who the statement last waited for, seen while it waited; ``None`` if it was never seen waiting."""
        with self._mutex:
            return list(self._blockers) or None

    def held_ms(self) -> int | None:
        """The longest write-blocking table lock seen held since :meth:`reset_held` (sampled)."""
        with self._mutex:
            spans = [self._last_seen[k] - start for k, start in self._first_seen.items() if k in self._last_seen]
        return int(max(spans) * 1000) if spans else None

    def reset_held(self) -> None:
        with self._mutex:
            self._first_seen.clear()
            self._last_seen.clear()

    def _run(self) -> None:
        import psycopg

        interval = poll_interval_s(self.limits.budget_ms)
        while not self._stop.wait(interval):
            try:
                self._poll()
            except psycopg.Error as exc:  # the watchdog must never take the migration down with it
                log.event(
                    logger,
                    logging.WARNING,
                    "the lock-budget watchdog lost its connection; the rest of this run is not budgeted",
                    "LOCK_WATCHDOG_LOST",
                    service=self.service,
                    reason=str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
                return

    def _log_progress(self, where: dict[str, str]) -> None:
        """One CONCURRENT_INDEX_PROGRESS line from pg_stat_progress_create_index."""
        row = self.conn.execute(_PROGRESS, {"pid": self.pid}).fetchone()
        if row is None:
            return
        command, phase, table, index, blocks, blocks_total, tuples, tuples_total, lockers, lockers_total, locker = row
        log.event(
            logger,
            logging.INFO,
            "concurrent index build in progress",
            "CONCURRENT_INDEX_PROGRESS",
            **where,
            command=command,
            phase=phase,
            table=table,
            index=index,
            blocks=f"{blocks}/{blocks_total}",
            tuples=f"{tuples}/{tuples_total}",
            waiting_for_pid=locker,
            lockers=f"{lockers}/{lockers_total}",
        )

    def _poll(self) -> None:
        held = [HeldLock(*r) for r in self.conn.execute(_HELD, {"pid": self.pid}).fetchall()]
        now = time.monotonic()
        with self._mutex:
            for lock in held:
                self._first_seen.setdefault(lock.key, now)
                self._last_seen[lock.key] = now
            if not self._armed:
                return
            progress = self._progress if now - self._progress_at >= PROGRESS_EVERY_S else None
        if progress is not None:
            self._log_progress(progress)
            self._progress_at = now
        blockers = [Blocker(*r) for r in self.conn.execute(_BLOCKED_BY, {"pid": self.pid}).fetchall()]
        with self._mutex:
            if blockers and self._armed:
                self._blockers = blockers
            if not self._armed or self._allowed or self._tripped is not None:
                return
        waiters = [Waiter(*r) for r in self.conn.execute(_WAITERS, {"pid": self.pid}).fetchall()]
        with self._mutex:
            trip = decide(held, waiters, self._first_seen, now, self.limits)
            if trip is None or not self._armed:
                return
            self._tripped = trip
            self.conn.execute("SELECT pg_cancel_backend(%s)", (self.pid,))


_SAME_SERVER = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND datname = current_database()"


@contextlib.contextmanager
def watching(
    url: str, migration_conn: psycopg.Connection, limits: Limits, *, service: str, application_name: str
) -> Iterator[Watchdog | None]:
    """A started watchdog on its own connection for one ``up`` of a service; ``None`` when the budget is 0.

    The backend pid is asked of the server (behind a session pooler the protocol's pid is the pooler's),
    and the watchdog only starts if its own connection sees that backend: never cancel someone else's.
    """
    if limits.budget_ms == 0:
        yield None
        return
    from scrydon_migrate import db

    record = migration_conn.execute("SELECT pg_backend_pid()").fetchone()
    conn = db.connect(url, application_name=f"{application_name}-watchdog", service=service)
    with conn:
        seen = conn.execute(_SAME_SERVER, (record[0] if record else 0,)).fetchone()
        if record is None or seen is None or seen[0] != 1:
            log.event(
                logger,
                logging.WARNING,
                "the lock-budget watchdog can't see the migration's backend (a pooler between them?); "
                "this run is not budgeted",
                "LOCK_WATCHDOG_LOST",
                service=service,
            )
            yield None
            return
        watchdog = Watchdog(conn, int(record[0]), limits, service=service).start()
        try:
            yield watchdog
        finally:
            watchdog.stop()
