"""Backfill benchmark: a batched background backfill against the same work done by one ``UPDATE``.

What it measures
----------------
A table ``events (id bigint PRIMARY KEY, payload text, amount int)`` of N rows (default
10,000,000; ``--quick``: 1,000,000) gets a new column ``amount_cents bigint NULL`` that must be
filled with ``amount * 100``. While a second process writes to the table at a steady pace
(4 autocommit connections, ~200 writes/s in total, alternating an ``INSERT`` of a new row, which
writes ``amount_cents`` itself, and an ``UPDATE events SET payload = ... WHERE id = <random
loaded id>``), the column is filled twice, each time on a fresh copy of the same loaded database:

* **single statement**: ``UPDATE events SET amount_cents = amount * 100 WHERE amount_cents IS NULL``
  in one transaction (what an operator would type into ``psql``), timed to its commit;
* **backfill**: migration ``0002`` adds the column and declares
  ``-- migrate:backfill events_amount_cents table=events key=id <LIMITS>`` with the batch statement
  ``UPDATE events SET amount_cents = amount * 100 WHERE id BETWEEN $1 AND $2 AND amount_cents IS NULL``;
  ``scrydon-migrate up`` registers it, then ``scrydon-migrate backfill run`` (the whole worker
  process, start-up included) fills it in keyed batches, each committed with its checkpoint.
  Its work is done when the backfill's ``rows_done`` reaches N (the end of that batch); if the
  worker has not exited ``--chase-s`` later, it is stopped with ``backfill pause`` and the
  report says so (it completes only when a batch finds no new key, which a steady insert load
  can prevent).

For each: rows updated per second of wall time, and the writers' p50 / p99 / max latency
during the work (plus a coordinated-omission-corrected p99). For the backfill, the wall time
is split, from ``pg_stat_statements``, the worker's own log events and a 0.2 s monitor, into
batch statements, key-range queries, commits, the worker's other SQL, the pauses between
batches, the time it held back while autovacuum worked on the table, and the client-side rest;
autovacuum runs on the table are taken from the server log (``log_autovacuum_min_duration=0``).

Why
---
The issue's target: the backfill reaches at least half the single statement's throughput
while the writers' p99 stays under 50 ms. The single statement does the work in one pass,
but it locks every row it touches until it commits: a writer updating one of them waits for
the rest of the statement, and with uniformly random updates that is nearly every writer
within seconds. The backfill holds each row lock for one batch (~``target_batch_ms``) and
leaves ``pause_ms`` between batches, which costs throughput; this benchmark says how much,
and where the backfill's time goes when the target is missed.

Caveats: the cluster lives in /dev/shm, so a commit's WAL flush costs next to nothing (on a
disk each batch pays one, the single statement one in all). Whether an autovacuum starts on
the table during a ~30 s backfill depends on the launcher's schedule (``autovacuum_naptime``
60 s); ``--server-setting autovacuum_naptime=5s`` makes it start every time. Other jobs on the
machine skew one case and not the other: each case waits for an idle machine before it starts,
and the report gives the CPU use before and during each.

Usage::

    python bench/backfill.py [--rows 10000000] [--quick] [--limits "pause_ms=20"] [--limits ''] \
        [--server-setting autovacuum_naptime=5s ...] [--chase-s 10] [--out DIR]

``--limits`` replaces the directive's limits (``''``: the tool's defaults). It starts a throwaway
durable PostgreSQL (fsync on; the project's embedded launcher) in /dev/shm, stops and deletes it
at the end, and writes ``bench/results/backfill.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from scrydon_migrate import __version__ as TOOL_VERSION
from scrydon_migrate import embedded

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVICE = "platform"
BACKFILL = "events_amount_cents"
WRITER_THREADS = 4
BASELINE_S = 3.0
TAIL_S = 3.0
MONITOR_EVERY_S = 0.2
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
WRITER_APP = "bench-writer"
SINGLE_APP = "bench-single-update"
WORKER_APP = "bench-backfill"
CASES = ("single", "backfill")
CASE_TITLE = {"single": "single UPDATE", "backfill": "scrydon-migrate backfill"}

# The per-backfill limits written into the directive (the tool's defaults: batch_size=1000,
# target_batch_ms=200, pause_ms=50, min_batch_size=10, max_batch_size=20000). LIMITS_WHY says
# why; the report repeats it. `--limits ''` measures the defaults.
LIMITS = "target_batch_ms=40 pause_ms=10 max_batch_size=100000"
LIMITS_WHY = (
    "With the defaults the batch size stops at the 20,000-row cap, where a batch of this UPDATE takes "
    "~40 ms on this machine, far below target_batch_ms=200, and each batch is followed by a 50 ms pause: "
    "on 10M rows the pauses were ~40% of the wall time and the throughput ratio ~0.44 (run with --limits ''). "
    "target_batch_ms=40: a writer that needs a row of the running batch waits for that batch's commit, at "
    "most one batch, so batches shorter than the 50 ms p99 budget keep even those writes under it, at any "
    "table size. pause_ms=10: writers queued on the batch's row locks are released by its commit, not by "
    "the pause; the pause only sets the worker's duty cycle (~80% of one backend here) and with it the "
    "throughput. max_batch_size=100000: the batch's duration, not a row cap, decides its size, so on "
    "faster hardware batches grow instead of shrinking the share of useful work."
)

SCHEMA = """\
CREATE TABLE events (
    id bigint PRIMARY KEY,
    payload text NOT NULL,
    amount integer NOT NULL
);
"""
FIRST_MIGRATION = "0001_create_events.sql"
ADD_COLUMN = "ALTER TABLE events ADD COLUMN amount_cents bigint NULL;"
BATCH_STATEMENT = "UPDATE events SET amount_cents = amount * 100\n WHERE id BETWEEN $1 AND $2 AND amount_cents IS NULL;"
SINGLE_UPDATE = "UPDATE events SET amount_cents = amount * 100 WHERE amount_cents IS NULL"
SECOND_MIGRATION = "0002_events_amount_cents.sql"


def second_migration(limits: str) -> str:
    directive = f"-- migrate:backfill {BACKFILL} table=events key=id" + (f" {limits}" if limits else "")
    return f"{ADD_COLUMN}\n\n{directive}\n{BATCH_STATEMENT}\n"


def log(message: str) -> None:
    print(f"[backfill-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- writer process


def _writer_thread(
    url: str, index: int, rate: float, rows: int, stop: Any, out: list[tuple[float, float, int, int]]
) -> None:
    """Paced writes on one connection; after a stall it resumes its pace without a catch-up burst.

    INSERTs write amount_cents themselves (the release that adds the column writes it), so the
    backfill only has the N loaded rows to fill, like the single statement.
    """
    rng = random.Random(index)
    interval = WRITER_THREADS / rate
    next_id = 1_000_000_000 + index
    with psycopg.connect(url, autocommit=True, application_name=WRITER_APP) as conn:
        slot = time.monotonic() + rng.uniform(0, interval)
        count = 0
        while not stop.is_set():
            now = time.monotonic()
            if slot > now:
                time.sleep(slot - now)
            insert = count % 2 == 0
            began = time.monotonic()
            ok = 1
            try:
                if insert:
                    amount = rng.randint(1, 100_000)
                    conn.execute(
                        "INSERT INTO events (id, payload, amount, amount_cents) VALUES (%s, 'bench write', %s, %s)",
                        (next_id, amount, amount * 100),
                    )
                    next_id += WRITER_THREADS
                else:
                    conn.execute(
                        "UPDATE events SET payload = %s WHERE id = %s",
                        (f"bench update {count}", rng.randint(1, rows)),
                    )
            except psycopg.Error:
                ok = 0
                if conn.broken:
                    out.append((began, time.monotonic() - began, int(insert), ok))
                    return
            out.append((began, time.monotonic() - began, int(insert), ok))
            count += 1
            slot = max(slot + interval, time.monotonic())


def writer_main(url: str, rate: float, rows: int, out_path: str, ready: Any, stop: Any) -> None:
    """Entry point of the writer process: WRITER_THREADS paced connections, samples to ``out_path``."""
    samples: list[list[tuple[float, float, int, int]]] = [[] for _ in range(WRITER_THREADS)]
    threads = [
        threading.Thread(target=_writer_thread, args=(url, i, rate, rows, stop, samples[i]), daemon=True)
        for i in range(WRITER_THREADS)
    ]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    flat = [(*s, i) for i, per_thread in enumerate(samples) for s in per_thread]
    flat.sort()
    Path(out_path).write_text(json.dumps(flat))


# --------------------------------------------------------------------------- monitor


_MONITOR = """
SELECT /* bench-monitor */
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = %(writer)s AND wait_event_type = 'Lock'),
       (SELECT string_agg(DISTINCT b.application_name, ',')
          FROM pg_stat_activity a
          CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS blocker(pid)
          JOIN pg_stat_activity b ON b.pid = blocker.pid
         WHERE a.datname = current_database() AND a.application_name = %(writer)s AND a.wait_event_type = 'Lock'),
       (SELECT phase FROM pg_stat_progress_vacuum WHERE relid = to_regclass('events') LIMIT 1),
       (SELECT count(*) FROM pg_stat_progress_analyze WHERE relid = to_regclass('events'))
"""
_BACKFILL_ROW = (
    "SELECT /* bench-monitor */ rows_done, keys_done, batches, batch_size, state "
    f"FROM {SERVICE}_migrations_backfills WHERE name = %s"
)


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields) - idle, sum(fields)
    return 0, 0


def wait_for_quiet(max_wait_s: float, threshold: float = 0.2) -> dict[str, float]:
    """Wait (up to max_wait_s) until the machine's CPUs are mostly idle but for the writers (~5-10%):
    other jobs on the machine would skew one case and not the other."""
    began = time.monotonic()
    while True:
        first = _cpu_times()
        time.sleep(2.0)
        second = _cpu_times()
        busy = (second[0] - first[0]) / (second[1] - first[1]) if second[1] > first[1] else 0.0
        waited = time.monotonic() - began
        if busy < threshold or waited >= max_wait_s:
            return {"waited_s": round(waited, 1), "busy_pct": round(100 * busy, 1)}
        log(f"machine busy ({busy:.0%} of its CPUs, other processes); waiting for it to calm down")


@dataclass
class Sample:
    t: float
    writers_waiting: int
    blockers: str | None
    vacuum_phase: str | None
    analyzing: bool
    cpu_busy: float | None
    backfill: tuple[Any, ...] | None


class Monitor(threading.Thread):
    """Every MONITOR_EVERY_S: writers waiting on a lock (and behind whom), autovacuum on ``events``,
    machine CPU use, and (backfill case) the backfill's row: rows done, batches, batch size."""

    def __init__(self, url: str, *, backfill: bool) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.with_backfill = backfill
        self.stop = threading.Event()
        self.samples: list[Sample] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-monitor") as conn:
            last = _cpu_times()
            while not self.stop.is_set():
                now = time.monotonic()
                waiting, blockers, phase, analyzing = conn.execute(_MONITOR, {"writer": WRITER_APP}).fetchone() or (
                    0,
                    None,
                    None,
                    0,
                )
                row = None
                if self.with_backfill:
                    try:
                        row = conn.execute(_BACKFILL_ROW, (BACKFILL,)).fetchone()
                    except psycopg.Error:
                        row = None
                cpu = _cpu_times()
                busy = (cpu[0] - last[0]) / (cpu[1] - last[1]) if cpu[1] > last[1] else None
                last = cpu
                self.samples.append(Sample(now, waiting, blockers, phase, bool(analyzing), busy, row))
                self.stop.wait(MONITOR_EVERY_S)

    def vacuum_spans(self, t0: float) -> list[tuple[float, float]]:
        """(from, to) seconds since t0 while a (auto)vacuum worked on ``events``."""
        spans: list[tuple[float, float]] = []
        start = None
        for s in self.samples:
            if s.vacuum_phase and start is None:
                start = s.t
            elif not s.vacuum_phase and start is not None:
                spans.append((round(start - t0, 2), round(s.t - t0, 2)))
                start = None
        if start is not None:
            spans.append((round(start - t0, 2), round(self.samples[-1].t - t0, 2)))
        return spans


# --------------------------------------------------------------------------- one case


@dataclass
class Run:
    case: str
    t0: float = 0.0
    t1: float = 0.0
    t_exit: float = 0.0
    paused_at: float | None = None
    pause_output: str = ""
    done_row: dict[str, Any] = field(default_factory=dict)
    wall_t0: float = 0.0
    loadavg: tuple[float, ...] = ()
    quiet: dict[str, float] = field(default_factory=dict)
    server: dict[str, float] = field(default_factory=dict)
    exit_code: int = 0
    rows_updated: int = 0
    prepare_s: float = 0.0
    commit_s: float | None = None
    worker_cpu_s: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    samples: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    monitor: list[Sample] = field(default_factory=list)
    vacuum_spans: list[tuple[float, float]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    backfill_row: dict[str, Any] = field(default_factory=dict)
    final_state: dict[str, Any] = field(default_factory=dict)
    explain: dict[str, Any] = field(default_factory=dict)
    autovacuum_log: list[str] = field(default_factory=list)


def _clean_env() -> dict[str, str]:
    """The environment without MIGRATE_* / *DATABASE_URL settings that would change what the tool does."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIGRATE_", "PG")) and not k.endswith("DATABASE_URL") and k != "HOSTNAME"
    }


def _tool(url: str, migrations: Path, cwd: Path, *args: str, app: str) -> subprocess.Popen[str]:
    env = _clean_env() | {"MIGRATE_LOG_FORMAT": "json", "MIGRATE_APPLICATION_NAME": app}
    command = [sys.executable, "-m", "scrydon_migrate", *args, "--service", SERVICE]
    command += ["--database-url", url, "--migrations-dir", str(migrations), "--json"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_backfill_worker(url: str, admin_url: str, dbid: int, migrations: Path, cwd: Path, run: Run, args: Any) -> None:
    """``scrydon-migrate backfill run``; its JSON log lines are timestamped on arrival.

    The work is done when the backfill's ``rows_done`` reaches the N loaded rows: ``run.t1`` is
    the end of that batch (its ``updated_at``, written just before its commit). The worker is
    then given ``--chase-s`` to finish by itself; if it is still running (it keeps walking the
    keys the writers insert meanwhile), it is stopped with the tool's own ``backfill pause``.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = _tool(url, migrations, cwd, "backfill", "run", app=WORKER_APP)
    stderr_lines: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            at = time.monotonic()
            stderr_lines.append(line)
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                doc["t"] = round(at - run.t0, 3)
                run.events.append(doc)

    def watch() -> None:
        query = (
            "SELECT /* bench-monitor */ rows_done, keys_done, batches, batch_size, extract(epoch FROM updated_at), "
            f"last_key, state FROM {SERVICE}_migrations_backfills WHERE name = %s"
        )
        with (
            psycopg.connect(url, autocommit=True, application_name="bench-monitor") as conn,
            psycopg.connect(admin_url, autocommit=True, application_name="bench-monitor") as admin,
        ):
            while True:
                exited = proc.poll() is not None
                row = conn.execute(query, (BACKFILL,)).fetchone()
                past_end = row is not None and row[5] is not None and int(row[5]) >= args.rows
                if row is not None and (row[0] >= args.rows or past_end or exited):
                    run.t1 = run.t0 + (float(row[4]) - run.wall_t0) if row[2] else time.monotonic()
                    run.statements = _statements(admin, dbid)
                    run.done_row = dict(
                        zip(
                            ["rows_done", "keys_done", "batches", "batch_size", "updated_at", "last_key", "state"],
                            row,
                            strict=True,
                        )
                    )
                    break
                if exited:
                    run.t1 = time.monotonic()
                    run.statements = _statements(admin, dbid)
                    return
                time.sleep(0.05)
            deadline = time.monotonic() + args.chase_s
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                run.paused_at = time.monotonic()
                log(
                    f"backfill: all {args.rows:,} rows filled, worker still running after {args.chase_s:.0f} s: pausing"
                )
                control = _tool(url, migrations, cwd, "backfill", "pause", BACKFILL, app="bench-pause")
                out, err = control.communicate()
                run.pause_output = (out + err)[-2000:]

    reader = threading.Thread(target=read_stderr, daemon=True)
    watcher = threading.Thread(target=watch, daemon=True)
    reader.start()
    watcher.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait()
    run.t_exit = time.monotonic()
    reader.join()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.worker_cpu_s = round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2)
    run.exit_code = proc.returncode
    run.output = stdout + "".join(stderr_lines)


def run_single(url: str, run: Run) -> None:
    """The whole column in one transaction, through psycopg (what ``psql -c`` would send)."""
    with psycopg.connect(url, application_name=SINGLE_APP) as conn:
        cursor = conn.execute(SINGLE_UPDATE)
        run.rows_updated = cursor.rowcount
        committing = time.monotonic()
        conn.commit()
        run.t1 = run.t_exit = time.monotonic()
        run.commit_s = round(run.t1 - committing, 3)


def prepare(case: str, url: str, migrations: Path, work: Path, run: Run) -> None:
    """Single: add the column by hand. Backfill: ``up`` applies 0002 (adds it, registers the backfill)."""
    began = time.monotonic()
    if case == "single":
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(ADD_COLUMN)
    else:
        proc = _tool(url, migrations, work, "up", app="bench-up")
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"up failed (exit {proc.returncode}):\n{out}\n{err}")
    run.prepare_s = round(time.monotonic() - began, 2)


def measure(
    case: str, admin: psycopg.Connection, server: embedded.EmbeddedServer, work: Path, args: Any, data_dir: Path
) -> Run:
    database = f"bench_{case}"
    admin.execute(f"DROP DATABASE IF EXISTS {database}")
    admin.execute(f"CREATE DATABASE {database} TEMPLATE bench_template STRATEGY FILE_COPY")
    url = server.url(database)
    migrations = work / "migrations" / SERVICE
    run = Run(case)
    prepare(case, url, migrations, work, run)
    log(f"{case}: database cloned and prepared ({run.prepare_s:.1f} s); checkpoint")
    admin.execute("CHECKPOINT")
    dbid = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (database,)).fetchone()
    log_offset = _server_log_size(data_dir)

    monitor = Monitor(url, backfill=case == "backfill")
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    samples_path = work / f"writes-{case}.json"
    writer = ctx.Process(target=writer_main, args=(url, args.rate, args.rows, str(samples_path), ready, stop))
    writer.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the writer process did not start")
        monitor.start()
        time.sleep(BASELINE_S)
        run.quiet = wait_for_quiet(args.quiet_wait_s)
        admin.execute("SELECT pg_stat_statements_reset()")
        counters = _server_counters(admin)
        log(f"{case}: working on {args.rows:,} rows with the writers running")
        run.loadavg = tuple(round(v, 2) for v in os.getloadavg())
        run.t0 = time.monotonic()
        run.wall_t0 = time.time()
        if case == "single":
            run_single(url, run)
            run.statements = _statements(admin, dbid[0] if dbid else 0)
        else:
            run_backfill_worker(url, server.url(), dbid[0] if dbid else 0, migrations, work, run, args)
        after = _server_counters(admin)
        run.server = {k: after[k] - counters[k] for k in counters if k in after}
        log(
            f"{case}: all rows done in {run.t1 - run.t0:.1f} s, exited after {run.t_exit - run.t0:.1f} s "
            f"(exit {run.exit_code}); writer tail {TAIL_S:.0f} s"
        )
        time.sleep(TAIL_S)
    finally:
        stop.set()
        writer.join(60)
        if writer.is_alive():
            writer.terminate()
            writer.join()
        monitor.stop.set()
        if monitor.is_alive():
            monitor.join()
    if run.exit_code != 0:
        log(f"{case} failed:\n{run.output[-4000:]}")
    run.samples = [tuple(s) for s in json.loads(samples_path.read_text())]
    run.monitor = monitor.samples
    run.vacuum_spans = monitor.vacuum_spans(run.t0)
    run.autovacuum_log = _autovacuum_log(data_dir, log_offset, database)
    with psycopg.connect(url, autocommit=True) as conn:
        if case == "backfill":
            found = conn.execute(
                "SELECT rows_done, keys_done, keys_total, batches, batch_size, state, started_at, completed_at, "
                f"target_batch_ms, pause_ms, min_batch_size, max_batch_size FROM {SERVICE}_migrations_backfills "
                "WHERE name = %s",
                (BACKFILL,),
            ).fetchone()
            if found:
                keys = "rows_done keys_done keys_total batches batch_size state started_at completed_at"
                keys += " target_batch_ms pause_ms min_batch_size max_batch_size"
                run.backfill_row = dict(zip(keys.split(), found, strict=True))
                run.rows_updated = int(found[0])
            run.explain = _explain(conn, run)
        state = conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE amount_cents IS NULL),
                      count(*) FILTER (WHERE amount_cents IS DISTINCT FROM amount * 100),
                      pg_size_pretty(pg_table_size('events')),
                      (SELECT autovacuum_count FROM pg_stat_user_tables WHERE relid = 'events'::regclass),
                      (SELECT autoanalyze_count FROM pg_stat_user_tables WHERE relid = 'events'::regclass)
                 FROM events"""
        ).fetchone()
        assert state is not None
        run.final_state = {
            "rows_after": state[0],
            "amount_cents_null": state[1],
            "amount_cents_wrong": state[2],
            "table_size": state[3],
            "autovacuum_count": state[4],
            "autoanalyze_count": state[5],
        }
    admin.execute(f"DROP DATABASE {database}")
    return run


def _server_counters(admin: psycopg.Connection) -> dict[str, float]:
    """Cluster-wide WAL and checkpoint counters (PostgreSQL 17+ views; empty on older servers)."""
    found: dict[str, float] = {}
    with contextlib.suppress(psycopg.Error):
        row = admin.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        if row:
            found |= {"wal_records": int(row[0]), "wal_fpi": int(row[1]), "wal_bytes": int(row[2])}
    with contextlib.suppress(psycopg.Error):
        row = admin.execute("SELECT num_timed, num_requested, num_done FROM pg_stat_checkpointer").fetchone()
        if row:
            found |= {"checkpoints_timed": int(row[0]), "checkpoints_requested": int(row[1])}
    return found


def _statements(admin: psycopg.Connection, dbid: int) -> list[dict[str, Any]]:
    """pg_stat_statements for the case's database since the work started, biggest total time first."""
    rows = admin.execute(
        "SELECT query, calls, total_exec_time, rows, mean_exec_time, max_exec_time FROM pg_stat_statements "
        "WHERE dbid = %s ORDER BY total_exec_time DESC",
        (dbid,),
    ).fetchall()
    return [
        {
            "query": " ".join(q.split())[:1000],
            "calls": c,
            "total_ms": round(t, 1),
            "rows": r,
            "mean_ms": round(m, 3),
            "max_ms": round(x, 1),
            "kind": _kind(q),
        }
        for q, c, t, r, m, x in rows
    ]


def _kind(query: str) -> str:
    """Who sent a statement, from its text: the writers, the bench's monitor, or the tool's worker."""
    text = " ".join(query.split())
    if "bench-monitor" in text or "pg_stat_statements" in text:
        return "monitor"
    if text.startswith(("INSERT INTO events", "UPDATE events SET payload")):
        return "writer"
    if text.startswith("UPDATE events SET amount_cents"):
        return "batch"
    if text.startswith("WITH batch AS"):
        return "key range"
    if text.upper() == "COMMIT":
        return "commit"
    if text.upper() == "BEGIN":
        return "begin"
    if text.startswith("SELECT count(*) FROM"):
        return "count"
    return "other"


def _explain(conn: psycopg.Connection, run: Run) -> dict[str, Any]:
    """Plans of what the worker ran per batch, from pg_stat_statements' text of it.

    Generic plans (pg_stat_statements shows constants as parameters too): they show whether a
    batch's queries are bounded by the key index or scan the table.
    """
    found: dict[str, Any] = {}
    for kind in ("batch", "key range"):
        entry = next((s for s in run.statements if s["kind"] == kind), None)
        if entry is None:
            continue
        text = entry["query"]
        with contextlib.suppress(psycopg.Error):
            plan = conn.execute(f"EXPLAIN (GENERIC_PLAN) {text}").fetchall()
            found[f"{kind}: generic plan"] = [r[0] for r in plan]
    return found


def _server_log_size(data_dir: Path) -> int:
    with contextlib.suppress(OSError):
        return (data_dir / "server.log").stat().st_size
    return 0


def _autovacuum_log(data_dir: Path, offset: int, database: str) -> list[str]:
    """The server's autovacuum / autoanalyze reports on ``events`` written during the case (one line each)."""
    with contextlib.suppress(OSError):
        with (data_dir / "server.log").open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
        found = []
        for block in re.split(r"\n(?=\S)", text):
            if re.search(rf'automatic (vacuum|analyze) of table "{database}\.public\.events"', block):
                found.append(" ".join(block.split()))
        return found
    return []


# --------------------------------------------------------------------------- statistics and report


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _held_back(latencies_ms: list[float], interval_ms: float) -> list[float]:
    """Coordinated-omission correction: the writes a paced client did not issue while one write was stuck.

    A connection blocked for L ms skipped the writes due every ``interval_ms`` meanwhile; had they
    been issued (by other clients) they would have waited L - interval, L - 2 x interval, ...
    """
    extra = []
    for latency in latencies_ms:
        missed = int(latency // interval_ms)
        extra.extend(latency - k * interval_ms for k in range(1, missed + 1))
    return extra


def _vacuum_report(line: str) -> dict[str, Any]:
    """The figures of one autovacuum log report: how long, how much CPU, how many tuples and pages."""

    def number(pattern: str) -> float | None:
        found = re.search(pattern, line)
        return float(found.group(1)) if found else None

    user, system = number(r"CPU: user: ([\d.]+) s"), number(r"system: ([\d.]+) s")
    return {
        "elapsed_s": number(r"elapsed: ([\d.]+) s"),
        "cpu_s": round(user + system, 2) if user is not None and system is not None else None,
        "tuples_removed": number(r"tuples: (\d+) removed"),
        "pages_scanned": number(r"(\d+) scanned"),
        "pages_dirtied": number(r"(\d+) dirtied"),
        "wal_mb": round(wal / 2**20) if (wal := number(r"full page images, (\d+) bytes")) else None,
    }


def _cpu_mean(run: Run, *, baseline: bool = False) -> float | None:
    """Mean busy share of the machine's CPUs (everything running on it, not only this benchmark)."""
    busy = [
        s.cpu_busy
        for s in run.monitor
        if s.cpu_busy is not None and ((s.t < run.t0) if baseline else (run.t0 <= s.t <= run.t1))
    ]
    return round(100 * sum(busy) / len(busy), 1) if busy else None


def summarize(run: Run, rate: float) -> dict[str, Any]:
    """Throughput, and latency figures for writes overlapping the work window (and the baseline before it)."""
    wall = run.t1 - run.t0
    window = [s for s in run.samples if s[0] <= run.t1 and s[0] + s[1] >= run.t0]
    baseline = [s for s in run.samples if s[0] + s[1] < run.t0]
    lat = [s[1] * 1000 for s in window]
    corrected = lat + _held_back(lat, WRITER_THREADS / rate * 1000)
    base = [s[1] * 1000 for s in baseline]
    ends = sorted([run.t0] + [s[0] + s[1] for s in window if run.t0 <= s[0] + s[1] <= run.t1] + [run.t1])
    gap = max((b - a for a, b in itertools.pairwise(ends)), default=0.0)
    worst = max(window, key=lambda s: s[1]) if window else None
    base_span = (max(s[0] for s in baseline) - min(s[0] for s in baseline)) if len(baseline) > 1 else 0
    lock_waits = [s for s in run.monitor if run.t0 <= s.t <= run.t1 and s.writers_waiting]
    in_window = [s for s in run.monitor if run.t0 <= s.t <= run.t1]
    return {
        "wall_s": round(wall, 2),
        "exit_code": run.exit_code,
        "rows_updated": run.rows_updated,
        "rows_per_s": round(run.rows_updated / wall) if wall > 0 else None,
        "commit_s": run.commit_s,
        "prepare_s": run.prepare_s,
        "worker_cpu_s": run.worker_cpu_s,
        "machine_cpu_busy_pct": _cpu_mean(run),
        "machine_cpu_busy_baseline_pct": _cpu_mean(run, baseline=True),
        "loadavg_at_start": run.loadavg,
        "machine_before_case": run.quiet,
        "server_during_work": run.server
        | (
            {
                "wal_mb": round(run.server["wal_bytes"] / 2**20),
                "wal_bytes_per_row": round(run.server["wal_bytes"] / run.rows_updated),
            }
            if run.server.get("wal_bytes") and run.rows_updated
            else {}
        ),
        "writes_in_window": len(window),
        "failed_writes": sum(1 for s in window if not s[3]),
        "writes_per_s": round(len(window) / wall, 1) if wall > 0 else None,
        "p50_ms": round(_percentile(lat, 50), 2),
        "p99_ms": round(_percentile(lat, 99), 1),
        "max_ms": round(max(lat, default=float("nan")), 1),
        "update_p99_ms": round(_percentile([s[1] * 1000 for s in window if not s[2]], 99), 1),
        "insert_p99_ms": round(_percentile([s[1] * 1000 for s in window if s[2]], 99), 1),
        "longest_no_write_gap_ms": round(gap * 1000, 1),
        "co_corrected_p50_ms": round(_percentile(corrected, 50), 2),
        "co_corrected_p99_ms": round(_percentile(corrected, 99), 1),
        "writes_over_50ms": sum(1 for v in lat if v > TARGET_P99_MS),
        "writes_over_1s": sum(1 for v in lat if v > 1000),
        "monitor_samples_with_writers_on_a_lock_pct": round(100 * len(lock_waits) / len(in_window), 1)
        if in_window
        else None,
        "writers_blocked_by": sorted({b for s in lock_waits for b in (s.blockers or "").split(",") if b}),
        "worst_write": None
        if worst is None
        else {
            "kind": "INSERT" if worst[2] else "UPDATE",
            "start_s": round(worst[0] - run.t0, 3),
            "latency_ms": round(worst[1] * 1000, 1),
        },
        "baseline": {
            "writes": len(base),
            "writes_per_s": round(len(base) / base_span, 1) if base_span else None,
            "p50_ms": round(_percentile(base, 50), 2),
            "p99_ms": round(_percentile(base, 99), 2),
            "max_ms": round(max(base, default=float("nan")), 2),
        },
        "vacuum_spans_s": run.vacuum_spans,
        "autovacuum_runs": [_vacuum_report(line) for line in run.autovacuum_log if "automatic vacuum" in line],
        "final_state": run.final_state,
        "worker_exit_s": round(run.t_exit - run.t0, 2),
    } | (_chase(run) if run.case == "backfill" else {})


def _chase(run: Run) -> dict[str, Any]:
    """What the worker did after every loaded row was filled, until it exited (or was paused)."""
    done, final = run.done_row, run.backfill_row
    return {
        "finished_by_itself": run.paused_at is None and final.get("state") == "completed",
        "paused_after_s": None if run.paused_at is None else round(run.paused_at - run.t0, 2),
        "final_backfill_state": final.get("state"),
        "batches_after_all_rows_done": (final.get("batches") or 0) - (done.get("batches") or 0),
        "keys_after_all_rows_done": (final.get("keys_done") or 0) - (done.get("keys_done") or 0),
        "rows_after_all_rows_done": (final.get("rows_done") or 0) - (done.get("rows_done") or 0),
        "throttled_after_all_rows_done": sum(
            1 for e in run.events if e.get("event") == "MIGRATION_BACKFILL_THROTTLED" and e["t"] > run.t1 - run.t0
        ),
        "pause_output": run.pause_output.strip()[-500:] or None,
    }


def breakdown(run: Run) -> dict[str, Any]:
    """Where the backfill worker's wall time went, measured: server time per kind of statement (from
    pg_stat_statements), the pauses it sleeps, the time it was held back, and the client-side rest."""
    wall = run.t1 - run.t0
    row = run.backfill_row
    batches = int((run.done_row or row).get("batches") or 0)
    by_kind: dict[str, dict[str, float]] = {}
    for s in run.statements:
        if s["kind"] in ("writer", "monitor"):
            continue
        entry = by_kind.setdefault(s["kind"], {"calls": 0, "total_ms": 0.0, "rows": 0})
        entry["calls"] += s["calls"]
        entry["total_ms"] += s["total_ms"]
        entry["rows"] += s["rows"]
    started = next((e["t"] for e in run.events if e.get("event") == "MIGRATION_BACKFILL_STARTED"), None)
    during = [e for e in run.events if e["t"] <= wall]
    throttled = [e for e in during if e.get("event") == "MIGRATION_BACKFILL_THROTTLED"]
    lock_timeouts = [e for e in during if e.get("event") == "MIGRATION_BACKFILL_LOCK_TIMEOUT"]
    splits = [e for e in during if e.get("event") == "MIGRATION_BACKFILL_BATCH_SPLIT"]
    pause_ms = int(row.get("pause_ms") or 0)
    startup = started if started is not None else 0.0
    count_ms = by_kind.get("count", {}).get("total_ms", 0.0)
    parts = {
        "start-up (process start to first batch)": max(0.0, startup - count_ms / 1000),
        "count(*) of the table at start": count_ms / 1000,
        "batch statements": by_kind.get("batch", {}).get("total_ms", 0.0) / 1000,
        "key-range queries": by_kind.get("key range", {}).get("total_ms", 0.0) / 1000,
        "commits": by_kind.get("commit", {}).get("total_ms", 0.0) / 1000,
        "other worker SQL (claim, pressure check, checkpoint, audit, BEGIN)": sum(
            v["total_ms"] for k, v in by_kind.items() if k in ("other", "begin")
        )
        / 1000,
        "pauses between batches (batches × pause_ms)": batches * pause_ms / 1000,
        "held back: autovacuum on events (1 s per check)": len(throttled) * 1.0,
        "lock timeouts (1 s each)": len(lock_timeouts) * 1.0,
    }
    parts["client side and round trips (rest)"] = wall - sum(parts.values())
    worker_calls = sum(v["calls"] for k, v in by_kind.items() if k != "count")
    batch = by_kind.get("batch", {})
    return {
        "wall_s": round(wall, 2),
        "parts_s": {k: round(v, 2) for k, v in parts.items()},
        "parts_pct": {k: round(100 * v / wall, 1) if wall else None for k, v in parts.items()},
        "batches": batches,
        "rows_per_batch": round(run.rows_updated / batches) if batches else None,
        "final_batch_size": row.get("batch_size"),
        "max_batch_size_seen": max((s.backfill[3] for s in run.monitor if s.backfill and s.t <= run.t1), default=None),
        "batch_statement_mean_ms": round(batch["total_ms"] / batch["calls"], 1) if batch.get("calls") else None,
        "statements_per_batch": round(worker_calls / batches, 1) if batches else None,
        "throttled_checks": len(throttled),
        "lock_timeouts": len(lock_timeouts),
        "batch_splits": len(splits),
        "first_batch_at_s": started,
        "rows_per_s_inside_batch_statements": round(run.rows_updated / (batch["total_ms"] / 1000))
        if batch.get("total_ms")
        else None,
        "by_kind": {k: {kk: round(vv, 1) for kk, vv in v.items()} for k, v in by_kind.items()},
    }


def revision() -> dict[str, Any]:
    """The commit the tool ran from, and whether src/ had uncommitted changes (an editable install)."""
    root = BENCH_DIR.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
    }


def verdict(report: dict[str, Any]) -> list[str]:
    """Whether the target is met; if not, by how much, and where the backfill's time went."""
    single, back = report["results"]["single"], report["results"]["backfill"]
    ratio = report["throughput_ratio"]
    p99 = back["p99_ms"]
    throughput = "met" if report["throughput_met"] else f"short by {TARGET_RATIO - ratio:.0%} points"
    latency = "met" if report["latency_met"] else f"over by {p99 - TARGET_P99_MS:.1f} ms"
    lines = [
        f"Target: backfill ≥ {TARGET_RATIO:.0%} of the single statement's rows/s and writers' p99 < "
        f"{TARGET_P99_MS:.0f} ms during the backfill → **{'met' if report['target_met'] else 'NOT met'}**: "
        f"throughput {ratio:.0%} ({back['rows_per_s']:,} vs {single['rows_per_s']:,} rows/s; {throughput}), "
        f"writers' p99 {p99:.1f} ms ({latency}; "
        f"coordinated-omission-corrected {back['co_corrected_p99_ms']:.1f} ms). "
        f"During the single statement the writers' p99 was {single['p99_ms']:,.0f} ms "
        f"(corrected {single['co_corrected_p99_ms']:,.0f} ms).",
    ]
    split = report["backfill_breakdown"]
    if not report["throughput_met"]:
        others = sorted(
            ((k, v) for k, v in split["parts_pct"].items() if k != "batch statements" and v),
            key=lambda kv: -kv[1],
        )
        lines.append(
            f"Why: the batch statements were {split['parts_pct']['batch statements']:.0f}% of the backfill's wall "
            "time; the rest went to "
            + ", ".join(f"{k} {v:.0f}%" for k, v in others[:4])
            + ". Inside its batch statements the backfill updated "
            f"{split['rows_per_s_inside_batch_statements'] or 0:,} rows/s, against {single['rows_per_s']:,} rows/s "
            "for the single statement."
        )
    vacuums = back.get("autovacuum_runs") or []
    if not vacuums and not split["throttled_checks"]:
        lines.append(
            "No autovacuum started on `events` during this backfill. Whether one does is down to the autovacuum "
            f"launcher's schedule (each database once per autovacuum_naptime, "
            f"{report['postgres_settings'].get('autovacuum_naptime')}, against a backfill this long); the worker "
            "stops while one runs, so when one starts the throughput drops: `--server-setting "
            "autovacuum_naptime=5s` makes it happen on every run, as it would on a backfill that runs for "
            "several minutes."
        )
    if vacuums or split["throttled_checks"]:
        lines.append(
            f"The worker held back for {split['throttled_checks']} s while autovacuum worked on `events` (it waits "
            "while any vacuum runs on the table). Autovacuum was seen on `events` at "
            + (", ".join(f"{a:.1f}–{b:.1f} s" for a, b in back["vacuum_spans_s"]) or "—")
            + "; the server logged "
            + (
                "; ".join(
                    f"{v['elapsed_s']} s elapsed for {v['cpu_s']} s of CPU, "
                    f"{v['tuples_removed'] or 0:,.0f} dead tuples removed, "
                    f"{v['pages_dirtied'] or 0:,.0f} pages dirtied, {v['wal_mb']} MB of WAL"
                    for v in vacuums
                )
                or "nothing"
            )
            + " (autovacuum_vacuum_cost_delay "
            + str(report["postgres_settings"].get("autovacuum_vacuum_cost_delay"))
            + ": elapsed far above CPU means it was throttled by its cost limit, not short of CPU)."
        )
    if not back.get("finished_by_itself"):
        lines.append(
            "The worker did not finish by itself: " + _finished(back).removeprefix("**no**: ") + ". It completes only "
            "when a batch finds no key after its checkpoint: while the writers insert a new key at least once per "
            "batch cycle (pause_ms + a few ms), it never does."
        )
    return lines


def _wal(summary: dict[str, Any]) -> str:
    server = summary.get("server_during_work") or {}
    if "wal_mb" not in server:
        return "—"
    checkpoints = server.get("checkpoints_timed", 0) + server.get("checkpoints_requested", 0)
    return f"{server['wal_mb']:,}; {server.get('wal_fpi', 0):,}; {checkpoints}"


def _finished(summary: dict[str, Any]) -> str:
    if summary.get("finished_by_itself"):
        return "yes"
    return (
        f"**no**: still running after the last loaded row ({summary['batches_after_all_rows_done']:,} more batches "
        f"over {summary['keys_after_all_rows_done']:,} keys the writers inserted, "
        f"{summary['rows_after_all_rows_done']:,} rows updated, {summary['throttled_after_all_rows_done']} s held "
        f"back); stopped with `backfill pause` at {summary['paused_after_s']} s"
    )


def markdown(report: dict[str, Any]) -> str:
    single, back = report["results"]["single"], report["results"]["backfill"]
    split = report["backfill_breakdown"]

    def row(label: str, key: str, fmt: str = "{}") -> str:
        def show(summary: dict[str, Any]) -> str:
            value = summary.get(key)
            return "—" if value is None else fmt.format(value)

        return f"| {label} | {show(single)} | {show(back)} |"

    def base(summary: dict[str, Any]) -> str:
        b = summary["baseline"]
        return f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} / {b['max_ms']:.1f}"

    m = report["machine"]
    lines = [
        f"Backfill vs one UPDATE, {report['rows']:,} rows in `events`, `amount_cents = amount * 100`, "
        f"~{report['write_rate']:.0f} writes/s from {WRITER_THREADS} connections (INSERT / UPDATE of a random row). "
        f"PostgreSQL {report['postgres_version']} (fsync on, data in {report['data_parent']}"
        + "".join(f", {s}" for s in report["extra_server_settings"])
        + "), "
        f"{m['nproc']} × {m['cpu_model']}, {m['memory_gib']} GiB. Directive: "
        f"`{second_migration(report['limits']).splitlines()[2]}`.",
        "",
        f"| | {CASE_TITLE['single']} | {CASE_TITLE['backfill']} |",
        "|---|---:|---:|",
        row("rows updated", "rows_updated", "{:,}"),
        row("wall time (s)", "wall_s", "{:.1f}"),
        row("**rows/s**", "rows_per_s", "**{:,}**"),
        row("writes overlapping the work", "writes_in_window", "{:,}"),
        row("completed writes per second", "writes_per_s", "{:.0f}"),
        row("writer p50 latency (ms)", "p50_ms", "{:.2f}"),
        row("**writer p99 latency (ms)**", "p99_ms", "**{:,.1f}**"),
        row("writer max latency (ms)", "max_ms", "{:,.1f}"),
        f"| writer p99: UPDATEs / INSERTs (ms) | {single['update_p99_ms']:,.1f} / {single['insert_p99_ms']:,.1f} "
        f"| {back['update_p99_ms']:,.1f} / {back['insert_p99_ms']:,.1f} |",
        row("writer p99 incl. writes held back by stalls (ms)¹", "co_corrected_p99_ms", "{:,.1f}"),
        row("writes slower than 50 ms", "writes_over_50ms", "{:,}"),
        row("writes slower than 1 s", "writes_over_1s", "{:,}"),
        row("longest gap with no write completing (ms)", "longest_no_write_gap_ms", "{:,.1f}"),
        row("work ended (s): single commits / backfill's last loaded row committed", "wall_s", "{:.1f}"),
        row("worker process exited after (s)", "worker_exit_s", "{:.1f}"),
        f"| worker finished by itself | — | {_finished(back)} |",
        row("monitor samples with a writer waiting on a lock (%)", "monitor_samples_with_writers_on_a_lock_pct"),
        f"| WAL written during the work (MB; full-page images; checkpoints) | {_wal(single)} | {_wal(back)} |",
        row("machine CPU busy during the work (%)", "machine_cpu_busy_pct", "{:.0f}"),
        row("machine CPU busy before the work, writers only (%)", "machine_cpu_busy_baseline_pct", "{:.0f}"),
        f"| writer baseline p50 / p99 / max before the work (ms) | {base(single)} | {base(back)} |",
        "",
        f"Backfill throughput / single statement: **{report['throughput_ratio']:.2f}**.",
        "",
        *itertools.chain.from_iterable((line, "") for line in verdict(report)),
        f"Where the backfill's {split['wall_s']:.1f} s went ({split['batches']:,} batches, "
        f"{split['rows_per_batch'] or 0:,} rows per batch on average, batch size reached "
        f"{split['max_batch_size_seen'] or 0:,}, mean batch statement {split['batch_statement_mean_ms']} ms, "
        f"{split['statements_per_batch']} worker statements per batch; inside the batch statements alone "
        f"{split['rows_per_s_inside_batch_statements'] or 0:,} rows/s):",
        "",
        "| part | s | % |",
        "|---|---:|---:|",
        *(f"| {k} | {v:.2f} | {split['parts_pct'][k]:.1f} |" for k, v in split["parts_s"].items()),
        "",
        f"Limits: {report['limits_why']}",
        "",
        "¹ A blocked connection issues no further writes, so raw percentiles under-count a stall "
        "(coordinated omission). This adds, for each write that took L ms, the writes its connection "
        f"would have issued meanwhile at its pace ({report['write_rate'] / WRITER_THREADS:.0f}/s), "
        f"waiting L - {WRITER_THREADS / report['write_rate'] * 1000:.0f} ms, "
        f"L - {2 * WRITER_THREADS / report['write_rate'] * 1000:.0f} ms, ...",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plot


def plot(report: dict[str, Any], runs: dict[str, Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        3, 1, figsize=(13, 11), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2.2]}, constrained_layout=True
    )
    right = max(r.t_exit - r.t0 for r in runs.values()) + TAIL_S
    top = max(20_000.0, max(report["results"][c]["max_ms"] for c in runs) * 2)
    for ax, (case, run) in zip(axes[:2], runs.items(), strict=True):
        summary = report["results"][case]
        ax.axvspan(0, run.t1 - run.t0, color="0.92", zorder=0, label="work window")
        for start, end in run.vacuum_spans:
            ax.axvspan(start, end, color="tab:purple", alpha=0.12, zorder=0, label="autovacuum on events")
        for kind, colour, label in ((1, "tab:blue", "INSERT"), (0, "tab:orange", "UPDATE of a random row")):
            mine = [s for s in run.samples if s[2] == kind]
            xs = [s[0] - run.t0 for s in mine]
            ys = [max(s[1] * 1000, 0.05) for s in mine]
            ax.scatter(xs, ys, s=4, c=colour, label=label, alpha=0.55, linewidths=0, zorder=2)
            slow = [(x, y) for x, y in zip(xs, ys, strict=True) if y >= 1000]
            if slow:
                ax.hlines(
                    [y for _, y in slow],
                    [x for x, _ in slow],
                    [x + y / 1000 for x, y in slow],
                    colors=colour,
                    lw=1.0,
                    alpha=0.6,
                    zorder=2,
                )
        if run.t_exit > run.t1 + 0.5:
            ax.axvline(run.t_exit - run.t0, color="0.3", ls="--", lw=0.8, label="worker exits")
        if run.paused_at is not None:
            ax.axvline(run.paused_at - run.t0, color="tab:red", ls="--", lw=0.8, label="bench: backfill pause")
        ax.axhline(TARGET_P99_MS, color="tab:red", ls="-", lw=0.8, label=f"target p99 {TARGET_P99_MS:.0f} ms")
        ax.axhline(summary["p99_ms"], color="black", ls=":", lw=1, label="p99 during the work")
        ax.set_yscale("log")
        ax.set_ylim(0.05, top)
        ax.set_ylabel("write latency (ms, log)")
        ax.set_title(
            f"{CASE_TITLE[case]}: {summary['rows_per_s']:,} rows/s, {summary['wall_s']:.1f} s; writers p50 "
            f"{summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:,.1f} ms, max {summary['max_ms']:,.0f} ms",
            fontsize=10,
        )
        ax.grid(True, which="major", alpha=0.3)

    ax = axes[2]
    back = runs["backfill"]
    single = runs["single"]
    xs = [s.t - back.t0 for s in back.monitor if s.backfill]
    done = [s.backfill[0] / 1e6 for s in back.monitor if s.backfill]
    sizes = [s.backfill[3] for s in back.monitor if s.backfill]
    ax.plot(xs, done, color="tab:green", lw=1.6, label="backfill: rows committed")
    end = single.t1 - single.t0
    ax.step(
        [-BASELINE_S, end, right],
        [0, single.rows_updated / 1e6, single.rows_updated / 1e6],
        where="post",
        color="tab:gray",
        ls="--",
        lw=1.2,
        label="single UPDATE: rows committed",
    )
    for start, stop in back.vacuum_spans:
        ax.axvspan(start, stop, color="tab:purple", alpha=0.12, zorder=0)
    throttled = [e["t"] for e in back.events if e.get("event") == "MIGRATION_BACKFILL_THROTTLED"]
    if throttled:
        ax.scatter(
            throttled, [0.02 * report["rows"] / 1e6] * len(throttled), marker="|", c="tab:purple", s=60,
            label="worker held back (autovacuum)",
        )  # fmt: skip
    chase = report["results"]["backfill"]
    if not chase.get("finished_by_itself"):
        ax.annotate(
            f"all rows filled at {back.t1 - back.t0:.1f} s; the worker does not finish\n"
            f"({chase['batches_after_all_rows_done']:,} more batches over {chase['keys_after_all_rows_done']:,} new "
            f"keys, {chase['throttled_after_all_rows_done']} s held back) until the bench pauses it",
            (back.t1 - back.t0, back.rows_updated / 1e6),
            xytext=(-10, -30),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            arrowprops={"arrowstyle": "->", "lw": 0.8},
        )
    ax.set_ylabel("rows committed (millions)")
    ax.set_ylim(0, report["rows"] / 1e6 * 1.05)
    ax.grid(True, alpha=0.3)
    twin = ax.twinx()
    twin.step(xs, sizes, where="post", color="tab:brown", lw=0.7, alpha=0.6, label="backfill: batch size (right)")
    twin.set_ylabel("batch size (rows)")
    twin.set_ylim(0, max(sizes, default=1) * 1.15)
    ax.set_xlim(-BASELINE_S - 0.5, right)
    ax.set_xlabel(
        "seconds since the work started (each write plotted at its start; line: writes ≥ 1 s until they ended)"
    )
    ax.set_title("progress", fontsize=10)

    handles: dict[str, Any] = {}
    for a in (*axes, twin):
        for handle, label in zip(*a.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=5, fontsize=8, markerscale=2)
    fig.suptitle(
        f"Filling amount_cents on {report['rows']:,} rows under ~{report['write_rate']:.0f} writes/s: one UPDATE vs "
        f"scrydon-migrate backfill; throughput ratio {report['throughput_ratio']:.2f}\n"
        f"directive: {second_migration(report['limits']).splitlines()[2]}",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- set-up


def load_template(server: embedded.EmbeddedServer, admin: psycopg.Connection, work: Path, rows: int) -> None:
    """bench_template: 0001 applied through `up`, then events loaded, vacuumed, analysed."""
    admin.execute("CREATE DATABASE bench_template")
    url = server.url("bench_template")
    first = work / "first" / SERVICE
    first.mkdir(parents=True)
    (first / FIRST_MIGRATION).write_text(SCHEMA)
    command = [sys.executable, "-m", "scrydon_migrate", "-q", "up", "--service", SERVICE]
    command += ["--database-url", url, "--migrations-dir", str(first)]
    subprocess.run(command, cwd=work, env=_clean_env(), check=True, capture_output=True)
    began = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        step = 1_000_000
        for low in range(1, rows + 1, step):
            high = min(rows, low + step - 1)
            conn.execute(
                "INSERT INTO events (id, payload, amount) "
                "SELECT g, 'event ' || md5(g::text), ((g::bigint * 7919) %% 100000)::int "
                "FROM generate_series(%s, %s) g",
                (low, high),
            )
            log(f"loaded {high:,} / {rows:,} rows ({time.monotonic() - began:.0f} s)")
        conn.execute("VACUUM (ANALYZE) events")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('events'))").fetchone()
    log(f"template ready: events {size[0] if size else '?'} in {time.monotonic() - began:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in events (default 10,000,000)")
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows, for a fast check")
    parser.add_argument("--rate", type=float, default=200.0, help="target writes per second (default 200)")
    parser.add_argument(
        "--limits", default=LIMITS, help=f"per-backfill limits for the directive (default {LIMITS!r}; '' = defaults)"
    )
    parser.add_argument(
        "--chase-s", type=float, default=10.0, help="after every row is filled, wait this long for the worker to exit"
    )
    parser.add_argument(
        "--quiet-wait-s", type=float, default=600.0, help="wait up to this long for an idle machine before each case"
    )
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra PostgreSQL setting, repeatable (e.g. autovacuum_naptime=5s)",
    )
    parser.add_argument("--data-parent", type=Path, default=Path("/dev/shm"), help="where the cluster lives")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder (default bench/results)")
    args = parser.parse_args()
    if args.quick:
        args.rows = 1_000_000
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops and deletes the cluster

    folder = Path(tempfile.mkdtemp(prefix="scrydon-backfill-", dir=args.data_parent))
    who = embedded.run_as()
    if who is not None:
        os.chown(folder, who.uid, who.gid)
    work = Path(tempfile.mkdtemp(prefix="scrydon-backfill-work-"))
    data = folder / "data"
    started = False
    began = time.monotonic()
    try:
        log(f"starting PostgreSQL in {data}")
        server = embedded.start(
            data,
            fast=False,
            settings=(
                "max_wal_size=4GB",
                "shared_buffers=512MB",
                "shared_preload_libraries=pg_stat_statements",
                "log_autovacuum_min_duration=0",
                *args.server_setting,
            ),
        )
        started = True
        migrations = work / "migrations" / SERVICE
        migrations.mkdir(parents=True)
        (migrations / FIRST_MIGRATION).write_text(SCHEMA)
        (migrations / SECOND_MIGRATION).write_text(second_migration(args.limits))
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            version = admin.execute("SHOW server_version").fetchone()
            settings = dict(
                admin.execute(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                    (
                        [
                            "shared_buffers",
                            "max_wal_size",
                            "fsync",
                            "synchronous_commit",
                            "full_page_writes",
                            "autovacuum",
                            "autovacuum_vacuum_scale_factor",
                            "autovacuum_vacuum_cost_delay",
                            "autovacuum_vacuum_cost_limit",
                            "checkpoint_timeout",
                            "plan_cache_mode",
                            "autovacuum_naptime",
                        ],
                    ),
                ).fetchall()
            )
            load_template(server, admin, work, args.rows)
            runs = {case: measure(case, admin, server, work, args, data) for case in CASES}

        results = {case: summarize(run, args.rate) for case, run in runs.items()}
        single_rate = results["single"]["rows_per_s"] or 0
        ratio = (results["backfill"]["rows_per_s"] or 0) / single_rate if single_rate else 0.0
        report: dict[str, Any] = {
            "benchmark": "backfill",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "tool_version": TOOL_VERSION,
            "tool_revision": revision(),
            "rows": args.rows,
            "write_rate": args.rate,
            "writer_connections": WRITER_THREADS,
            "limits": args.limits,
            "limits_why": LIMITS_WHY if args.limits == LIMITS else "set on the command line (--limits)",
            "postgres_version": version[0] if version else "?",
            "postgres_settings": settings,
            "extra_server_settings": args.server_setting,
            "data_parent": str(args.data_parent),
            "machine": machine(),
            "migrations": {
                FIRST_MIGRATION: "applied before the measurement (template), then the rows loaded",
                SECOND_MIGRATION: second_migration(args.limits),
            },
            "single_statement": SINGLE_UPDATE,
            "results": results,
            "throughput_ratio": round(ratio, 3),
            "backfill_breakdown": breakdown(runs["backfill"]),
            "details": {
                case: {
                    "statements": run.statements[:15],
                    "worker_events": [
                        {k: v for k, v in e.items() if k not in ("ts", "component")}
                        for e in run.events
                        if e.get("event") != "MIGRATION_BACKFILL_THROTTLED"
                    ],
                    "throttled_at_s": [e["t"] for e in run.events if e.get("event") == "MIGRATION_BACKFILL_THROTTLED"],
                    "backfill_row": run.backfill_row,
                    "explain": run.explain,
                    "autovacuum_log": run.autovacuum_log,
                    "output": run.output[-3000:],
                }
                for case, run in runs.items()
            },
            "bench_duration_s": round(time.monotonic() - began),
        }
        report["throughput_met"] = bool(ratio >= TARGET_RATIO)
        report["latency_met"] = bool(results["backfill"]["p99_ms"] < TARGET_P99_MS)
        report["target_met"] = report["throughput_met"] and report["latency_met"]
        (args.out / "backfill.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        table = markdown(report)
        (args.out / "backfill.md").write_text(table)
        plot(report, runs, args.out / "backfill.png")
        print(table)
        for case, run in runs.items():
            print(f"{case}: final state {run.final_state}; autovacuum spans {run.vacuum_spans}")
            for line in run.autovacuum_log:
                print(f"  {line[:400]}")
            for name, plan in run.explain.items():
                print(f"  {name}:")
                for line in plan:
                    print(f"    {line}")
        print(f"results: {args.out / 'backfill.md'}, {args.out / 'backfill.json'}, {args.out / 'backfill.png'}")
        failed = [case for case, run in runs.items() if run.exit_code != 0]
        wrong = [case for case, run in runs.items() if run.final_state.get("amount_cents_null")]
        if wrong:
            log(f"rows left unfilled in: {wrong}")
        return 1 if failed or wrong else 0
    finally:
        if started:
            with contextlib.suppress(Exception):
                embedded.stop(data)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
