"""Writer-stall benchmark: how long do application writes wait while a migration runs?

What it measures
----------------
A table ``orders`` of N rows (default 5,000,000; ``--quick``: 500,000) sits under a steady
write load from a second process (4 connections, ~200 writes/s in total, alternating an
``INSERT`` and an ``UPDATE`` of a random existing row, each autocommitted). While a
long-running reader transaction holds ``ACCESS SHARE`` on ``orders`` (it ran
``SELECT count(*) FROM orders WHERE id < 1000`` and stays open for 8 s after the migration
starts), four migrations run:

* ``0002_add_column.sql``  ``ALTER TABLE orders ADD COLUMN region text NULL`` (ACCESS EXCLUSIVE, instant)
* ``0003_index.sql``       ``CREATE INDEX CONCURRENTLY`` (SHARE UPDATE EXCLUSIVE, long, writers pass)
* ``0004_fk.sql``          ``ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID`` (SHARE ROW EXCLUSIVE, instant)
* ``0005_validate.sql``    ``VALIDATE CONSTRAINT`` (SHARE UPDATE EXCLUSIVE, scans, writers pass)

once through ``scrydon-migrate up`` and once through plain ``psql -f`` (what an operator
would type), each on a fresh clone of the same loaded database. Every write's start time
and latency is recorded; the report gives p50 / p99 / max write latency during the
migration window for both, side by side, and plots latency over time.

Why
---
The dangerous moment of an "online" migration is not the long step but the instant one
that needs a strong lock: ``ADD COLUMN`` queues for ACCESS EXCLUSIVE behind the reader,
and every writer queues behind *it*. With ``psql`` that stall lasts as long as the reader
does. ``up`` sets ``lock_timeout`` (default 2000 ms), rolls the statement back when it
expires, lets the queued writers through, and retries with backoff. The target: the
longest write under ``up`` waits no more than the lock timeout plus 250 ms.

A lock monitor samples ``pg_stat_activity`` / ``pg_blocking_pids()`` every 50 ms, so the
report can say which statement each writer stall queued behind.

With ``--cases`` it runs issue 15's lock-safety cases instead (``CASES``: ADD COLUMN then UPDATE, a
large UPDATE, a volatile function default, inline REFERENCES with a default, EXCLUDE, a search_path that
hides the table, an index inside a DO block, a stale row estimate), each on a fresh clone, under the same
writers and no reader: `up` (its guard and its lock-budget watchdog) against `psql -f`, the longest write
of each, and the target that no write waits longer than the lock budget + 250 ms under `up`.

Usage::

    python bench/writer_stall.py [--rows 5000000] [--quick]
    python bench/writer_stall.py --cases --rows 2500000 [--only large_update]

It starts a throwaway durable PostgreSQL (the project's embedded launcher) in /dev/shm,
stops it and deletes it at the end, and writes ``bench/results/writer_stall.{json,md,png}``
(``writer_stall_cases.{json,md}`` with ``--cases``).
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
import shutil
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
CUSTOMERS = 10_000
WRITER_THREADS = 4
BASELINE_S = 3.0
TAIL_S = 3.0
MONITOR_EVERY_S = 0.05
TARGET_SLACK_MS = 250
WRITER_APP = "bench-writer"
READER_APP = "bench-reader"
MIGRATION_APP = {"up": "bench-up", "psql": "bench-psql"}

SCHEMA = """\
CREATE TABLE customers (
    id bigint PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount numeric NOT NULL,
    note text
);
"""

MIGRATIONS = {
    "0002_add_column.sql": "ALTER TABLE orders ADD COLUMN region text NULL;\n",
    "0003_index.sql": "CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);\n",
    "0004_fk.sql": (
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
        "    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n"
    ),
    "0005_validate.sql": "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n",
}
FIRST_MIGRATION = "0001_create_tables.sql"


@dataclass(frozen=True)
class Case:
    """One of issue 15's lock-safety cases: a migration the static rules alone used to miss or misjudge."""

    what: str
    migration: str
    setup: str = ""
    writer_search_path: str = ""


#: Each runs on a fresh clone of the loaded template, under the same writers, once through `up` (guard and
#: lock-budget watchdog) and once through `psql -f`; no reader transaction, so any stall is the migration's own.
CASES = {
    "add_column_then_update": Case(
        "ADD COLUMN, then an UPDATE of the table in the same migration",
        "ALTER TABLE orders ADD COLUMN region text NULL;\nUPDATE orders SET region = 'eu' WHERE id > 0;\n",
    ),
    "large_update": Case(
        "a large UPDATE (row locks on half the table)",
        "UPDATE orders SET amount = amount + 1 WHERE id % 2 = 0;\n",
    ),
    "volatile_function_default": Case(
        "a volatile user-defined function as a column default (table rewrite)",
        "ALTER TABLE orders ADD COLUMN code integer DEFAULT order_code();\n",
        setup="CREATE FUNCTION order_code() RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT (random() * 1000)::int'",
    ),
    "inline_references": Case(
        "inline ADD COLUMN ... REFERENCES with a DEFAULT (validates every row)",
        "ALTER TABLE orders ADD COLUMN customer2_id bigint NOT NULL DEFAULT 1 REFERENCES customers (id);\n",
    ),
    "exclude_constraint": Case(
        "an EXCLUDE constraint added to the table",
        "ALTER TABLE orders ADD CONSTRAINT orders_one_per_id EXCLUDE USING btree (id WITH =);\n",
    ),
    "search_path_hides_table": Case(
        "a SET search_path earlier in the file that hides the table, then CREATE INDEX",
        "SET search_path = shop, public;\nCREATE INDEX orders_note_idx ON orders (note);\n",
        setup="CREATE SCHEMA shop; ALTER TABLE orders SET SCHEMA shop; CREATE TABLE public.orders (LIKE shop.orders)",
        writer_search_path="shop,public",
    ),
    "index_in_do_block": Case(
        "an index built inside a DO block",
        "DO $$ BEGIN CREATE INDEX orders_note_idx ON orders (note); END $$;\n",
    ),
    "stale_row_estimate": Case(
        "a stale row estimate (ANALYZE saw 1,000 rows) hiding the live rows, then CREATE INDEX",
        "CREATE INDEX orders_note_idx ON orders (note);\n",
        setup="UPDATE pg_class SET reltuples = 1000, relpages = 6 WHERE oid = 'orders'::regclass",
    ),
}


def log(message: str) -> None:
    print(f"[writer-stall {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- writer process


def _writer_thread(
    url: str, index: int, rate: float, rows: int, stop: Any, out: list[tuple[float, float, int, int]]
) -> None:
    """Paced writes on one connection; after a stall it resumes its pace without a catch-up burst."""
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
                    conn.execute(
                        "INSERT INTO orders (id, customer_id, amount, note) VALUES (%s, %s, %s, 'bench write')",
                        (next_id, rng.randint(1, CUSTOMERS), rng.randint(1, 10_000) / 100),
                    )
                    next_id += WRITER_THREADS
                else:
                    conn.execute("UPDATE orders SET amount = amount + 1 WHERE id = %s", (rng.randint(1, rows),))
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


# --------------------------------------------------------------------------- lock monitor


_ACTIVITY = """
SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 160),
       CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


class LockMonitor(threading.Thread):
    """Samples who waits on a heavyweight lock, and behind whom, every MONITOR_EVERY_S."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.samples: list[tuple[float, list[tuple[Any, ...]]]] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-monitor") as conn:
            while not self.stop.is_set():
                now = time.monotonic()
                self.samples.append((now, conn.execute(_ACTIVITY).fetchall()))
                self.stop.wait(MONITOR_EVERY_S)

    def episodes(self, t0: float) -> list[dict[str, Any]]:
        """Runs of consecutive samples where sessions of one application waited behind the same blockers."""
        open_runs: dict[tuple[str, str], dict[str, Any]] = {}
        done: list[dict[str, Any]] = []
        for at, rows in self.samples:
            by_pid = {r[0]: r for r in rows}
            seen: set[tuple[str, str]] = set()
            for pid, app, _state, wtype, wevent, query, blockers in rows:
                if wtype != "Lock" or not blockers:
                    continue
                who = []
                for b in blockers:
                    row = by_pid.get(b)
                    who.append(f"{row[1] or '?'} [{row[2]}]: {row[5].strip()}" if row else f"pid {b}")
                key = (app, " | ".join(sorted(set(who))))
                seen.add(key)
                run = open_runs.get(key)
                if run is None:
                    open_runs[key] = {
                        "waiter": app,
                        "waiting_for": wevent,
                        "waiter_query": query.strip() if app != WRITER_APP else None,
                        "blocked_by": key[1],
                        "from_s": round(at - t0, 3),
                        "to_s": round(at - t0, 3),
                        "pids": {pid},
                    }
                else:
                    run["to_s"] = round(at - t0, 3)
                    run["pids"].add(pid)
            for key in list(open_runs):
                if key not in seen:
                    done.append(open_runs.pop(key))
        done.extend(open_runs.values())
        for run in done:
            run["sessions"] = len(run.pop("pids"))
            run["seen_for_s"] = round(run["to_s"] - run["from_s"] + MONITOR_EVERY_S, 2)
        return sorted(done, key=lambda r: r["from_s"])


# --------------------------------------------------------------------------- running one tool


@dataclass
class Run:
    tool: str
    t0: float = 0.0
    t1: float = 0.0
    reader_commit: float = 0.0
    exit_code: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    samples: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    lock_episodes: list[dict[str, Any]] = field(default_factory=list)
    tracking: list[dict[str, Any]] = field(default_factory=list)
    final_state: dict[str, Any] = field(default_factory=dict)


def _clean_env() -> dict[str, str]:
    """The environment without MIGRATE_* / *DATABASE_URL settings that would change what `up` does."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIGRATE_", "PG")) and not k.endswith("DATABASE_URL") and k != "HOSTNAME"
    }


def run_up(url: str, migrations: Path, cwd: Path, run: Run, extra: tuple[str, ...] = ()) -> None:
    env = _clean_env() | {"MIGRATE_LOG_FORMAT": "json", "MIGRATE_APPLICATION_NAME": MIGRATION_APP["up"]}
    command = [sys.executable, "-m", "scrydon_migrate", "up", "--service", SERVICE]
    command += ["--database-url", url, "--migrations-dir", str(migrations), "--json", *extra]
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait()
    reader.join()
    run.exit_code = proc.returncode
    run.output = stdout + "".join(stderr_lines)
    for event in run.events:
        if event.get("event") == "MIGRATION_APPLIED":
            run.steps.append(
                {
                    "step": event.get("file"),
                    "end_s": event["t"],
                    "duration_ms": event.get("duration_ms"),
                    "lock_held_ms": event.get("lock_held_ms"),
                }
            )


def run_psql(url: str, migrations: Path, cwd: Path, run: Run, names: tuple[str, ...] = tuple(MIGRATIONS)) -> None:
    psql = embedded.bin_dir() / "psql"
    env = _clean_env() | {"PGAPPNAME": MIGRATION_APP["psql"]}
    outputs = []
    for name in names:
        began = time.monotonic()
        done = subprocess.run(
            [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(migrations / name)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        ended = time.monotonic()
        outputs.append(done.stdout + done.stderr)
        run.steps.append(
            {
                "step": name,
                "start_s": round(began - run.t0, 3),
                "end_s": round(ended - run.t0, 3),
                "duration_ms": round((ended - began) * 1000),
            }
        )
        if done.returncode != 0:
            run.exit_code = done.returncode
            break
    run.output = "".join(outputs)


def measure(tool: str, admin: psycopg.Connection, server: embedded.EmbeddedServer, work: Path, args: Any) -> Run:
    database = f"bench_{tool}"
    admin.execute(f"DROP DATABASE IF EXISTS {database}")
    admin.execute(f"CREATE DATABASE {database} TEMPLATE bench_template STRATEGY FILE_COPY")
    admin.execute("CHECKPOINT")
    url = server.url(database)
    run = Run(tool)

    monitor = LockMonitor(url)
    monitor.start()
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    samples_path = work / f"writes-{tool}.json"
    writer = ctx.Process(target=writer_main, args=(url, args.rate, args.rows, str(samples_path), ready, stop))
    writer.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the writer process did not start")
        time.sleep(BASELINE_S)
        reader = psycopg.connect(url, application_name=READER_APP)
        count = reader.execute("SELECT count(*) FROM orders WHERE id < 1000").fetchone()
        log(f"{tool}: reader holds ACCESS SHARE on orders (counted {count[0] if count else '?'} rows)")

        def release() -> None:
            reader.commit()
            run.reader_commit = time.monotonic()

        run.t0 = time.monotonic()
        timer = threading.Timer(args.reader_hold_s, release)
        timer.start()
        log(f"{tool}: migrating")
        (run_up if tool == "up" else run_psql)(url, work / "migrations" / SERVICE, work, run)
        run.t1 = time.monotonic()
        timer.join()
        reader.close()
        log(f"{tool}: done in {run.t1 - run.t0:.1f} s (exit {run.exit_code}); writer tail {TAIL_S:.0f} s")
        time.sleep(TAIL_S)
    finally:
        stop.set()
        writer.join(60)
        if writer.is_alive():
            writer.terminate()
            writer.join()
        monitor.stop.set()
        monitor.join()
    if run.exit_code != 0:
        log(f"{tool} failed:\n{run.output}")
    run.samples = [tuple(s) for s in json.loads(samples_path.read_text())]
    run.lock_episodes = monitor.episodes(run.t0)
    with psycopg.connect(url, autocommit=True) as conn:
        if tool == "up":
            run.tracking = [
                {"version": v, "file": f, "status": s, "duration_ms": d, "lock_held_ms": h}
                for v, f, s, d, h in conn.execute(
                    "SELECT version, file, status, duration_ms, lock_held_ms "
                    f"FROM {SERVICE}_migrations ORDER BY version"
                ).fetchall()
            ]
        state = conn.execute(
            """SELECT
                 EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'region'
                         AND NOT attisdropped),
                 (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('orders_customer_idx')),
                 (SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_fk'),
                 (SELECT count(*) FROM orders)"""
        ).fetchone()
        assert state is not None
        run.final_state = {
            "region_column": state[0],
            "index_valid": state[1],
            "fk_validated": state[2],
            "orders_rows_after": state[3],
        }
    admin.execute(f"DROP DATABASE {database}")
    return run


def measure_case(
    name: str, case: Case, tool: str, admin: psycopg.Connection, server: embedded.EmbeddedServer, work: Path, args: Any
) -> Run:
    """One issue case on a fresh clone: writers, a baseline, the migration, a tail; the writes' latencies."""
    database = f"bench_case_{tool}"
    admin.execute(f"DROP DATABASE IF EXISTS {database}")
    admin.execute(f"CREATE DATABASE {database} TEMPLATE bench_template STRATEGY FILE_COPY")
    url = server.url(database)
    if case.setup:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(case.setup)
    folder = work / "cases" / name / tool / SERVICE
    folder.mkdir(parents=True)
    (folder / FIRST_MIGRATION).write_text(SCHEMA)
    (folder / f"0002_{name}.sql").write_text(case.migration)
    run = Run(tool)
    writer_url = url + (f"?options=-csearch_path%3D{case.writer_search_path}" if case.writer_search_path else "")
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    samples_path = work / f"writes-{name}-{tool}.json"
    writer = ctx.Process(target=writer_main, args=(writer_url, args.rate, args.rows, str(samples_path), ready, stop))
    writer.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the writer process did not start")
        time.sleep(BASELINE_S)
        run.t0 = time.monotonic()
        if tool == "up":
            run_up(url, folder, work, run, extra=("--large-table-rows", str(args.large_table_rows)))
        else:
            run_psql(url, folder, work, run, names=(f"0002_{name}.sql",))
        run.t1 = time.monotonic()
        time.sleep(TAIL_S)
    finally:
        stop.set()
        writer.join(60)
        if writer.is_alive():
            writer.terminate()
            writer.join()
    run.samples = [tuple(s) for s in json.loads(samples_path.read_text())]
    admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
    return run


def case_outcome(run: Run) -> str:
    """What `up` did: applied, refused by the guard, or cancelled by the lock budget (from its events)."""
    events = {e.get("event") for e in run.events}
    if run.tool == "psql":
        return "applied" if run.exit_code == 0 else f"failed (exit {run.exit_code})"
    if "MIGRATION_UNSAFE_REFUSED" in events:
        return "refused by the guard (exit 6)"
    if "MIGRATION_LOCK_BUDGET_EXCEEDED" in events:
        return "cancelled by the lock budget (exit 5)"
    return "applied" if run.exit_code == 0 else f"failed (exit {run.exit_code})"


def cases_markdown(report: dict[str, Any]) -> str:
    budget = report["lock_budget_ms"]
    target = budget + TARGET_SLACK_MS
    lines = [
        f"Lock-safety cases, {report['rows']:,} rows in `orders` (large: `--large-table-rows "
        f"{report['large_table_rows']:,}`), ~{report['write_rate']:.0f} writes/s from {WRITER_THREADS} connections, "
        f"no reader transaction; `up` lock budget {budget:,} ms. PostgreSQL {report['postgres_version']}.",
        "",
        "| case | `up` | longest write under `up` (ms) | `psql` | longest write under `psql` (ms) |",
        "|---|---|---:|---|---:|",
    ]
    for name, result in report["cases"].items():
        up, ps = result["up"], result["psql"]
        lines.append(
            f"| {CASES[name].what} | {up['outcome']} | {up['max_ms']:,.0f} | {ps['outcome']} | {ps['max_ms']:,.0f} |"
        )
    worst = max((r["up"]["max_ms"] for r in report["cases"].values()), default=0.0)
    lines += [
        "",
        f"Target: no write waits longer than the lock budget + {TARGET_SLACK_MS} ms = {target:,} ms in any case → "
        f"**{'met' if worst <= target else 'NOT met'}** (longest write under `up` in any case: {worst:,.0f} ms).",
    ]
    return "\n".join(lines) + "\n"


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


def summarize(run: Run, rate: float) -> dict[str, Any]:
    """Latency figures for writes overlapping the migration window, and for the baseline before it."""
    window = [s for s in run.samples if s[0] <= run.t1 and s[0] + s[1] >= run.t0]
    baseline = [s for s in run.samples if s[0] + s[1] < run.t0]
    lat = [s[1] * 1000 for s in window]
    corrected = lat + _held_back(lat, WRITER_THREADS / rate * 1000)
    base = [s[1] * 1000 for s in baseline]
    ends = sorted([run.t0] + [s[0] + s[1] for s in window if run.t0 <= s[0] + s[1] <= run.t1] + [run.t1])
    gap = max((b - a for a, b in itertools.pairwise(ends)), default=0.0)
    worst = max(window, key=lambda s: s[1]) if window else None
    return {
        "migration_wall_s": round(run.t1 - run.t0, 2),
        "exit_code": run.exit_code,
        "writes_in_window": len(window),
        "failed_writes": sum(1 for s in window if not s[3]),
        "writes_per_s": round(len(window) / (run.t1 - run.t0), 1) if run.t1 > run.t0 else None,
        "p50_ms": round(_percentile(lat, 50), 2),
        "p99_ms": round(_percentile(lat, 99), 1),
        "max_ms": round(max(lat, default=float("nan")), 1),
        "longest_no_write_gap_ms": round(gap * 1000, 1),
        "co_corrected_p50_ms": round(_percentile(corrected, 50), 2),
        "co_corrected_p99_ms": round(_percentile(corrected, 99), 1),
        "worst_write": None
        if worst is None
        else {
            "kind": "INSERT" if worst[2] else "UPDATE",
            "start_s": round(worst[0] - run.t0, 3),
            "latency_ms": round(worst[1] * 1000, 1),
        },
        "writes_over_1s": sum(1 for v in lat if v > 1000),
        "baseline": {
            "writes": len(base),
            "p50_ms": round(_percentile(base, 50), 2),
            "p99_ms": round(_percentile(base, 99), 2),
            "max_ms": round(max(base, default=float("nan")), 2),
        },
        "reader_commit_s": round(run.reader_commit - run.t0, 2),
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


def markdown(report: dict[str, Any]) -> str:
    up, ps = report["results"]["up"], report["results"]["psql"]
    timeout = report["lock_timeout_ms"]
    target = timeout + TARGET_SLACK_MS

    def row(label: str, key: str, fmt: str = "{}") -> str:
        return f"| {label} | {fmt.format(up[key])} | {fmt.format(ps[key])} |"

    lines = [
        f"Writer stall, {report['rows']:,} rows in `orders`, ~{report['write_rate']:.0f} writes/s from "
        f"{WRITER_THREADS} connections, reader transaction open for {report['reader_hold_s']:.0f} s after the "
        f"migration starts; `up` lock_timeout {timeout} ms, {report['lock_retries']} retries. "
        f"PostgreSQL {report['postgres_version']}, {report['machine']['nproc']} × {report['machine']['cpu_model']}.",
        "",
        "| writes during the migration | `up` | `psql` |",
        "|---|---:|---:|",
        row("migration wall time (s)", "migration_wall_s", "{:.1f}"),
        row("writes (overlapping the window)", "writes_in_window"),
        row("p50 latency (ms)", "p50_ms", "{:.2f}"),
        row("p99 latency (ms)", "p99_ms", "{:.1f}"),
        row("max latency (ms)", "max_ms", "{:.1f}"),
        row("longest gap with no write completing (ms)", "longest_no_write_gap_ms", "{:.1f}"),
        row("writes slower than 1 s", "writes_over_1s"),
        row("completed writes per second", "writes_per_s", "{:.0f}"),
        row("p50 incl. writes held back by stalls (ms)¹", "co_corrected_p50_ms", "{:.2f}"),
        row("p99 incl. writes held back by stalls (ms)¹", "co_corrected_p99_ms", "{:.1f}"),
        f"| baseline p50 / p99 / max before the migration (ms) | {_base(up)} | {_base(ps)} |",
        "",
        f"Target: max write stall under `up` ≤ lock_timeout + {TARGET_SLACK_MS} ms = {target} ms → "
        f"**{'met' if report['target_met'] else 'NOT met'}** ({up['max_ms']:.0f} ms; `psql`: {ps['max_ms']:.0f} ms).",
        "",
        "¹ A blocked connection issues no further writes, so raw percentiles under-count a stall "
        "(coordinated omission). These add, for each write that took L ms, the writes its connection "
        f"would have issued meanwhile at its pace ({report['write_rate'] / WRITER_THREADS:.0f}/s), "
        "waiting L - 20 ms, L - 40 ms, ...",
    ]
    return "\n".join(lines) + "\n"


def _base(summary: dict[str, Any]) -> str:
    b = summary["baseline"]
    return f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} / {b['max_ms']:.1f}"


def plot(report: dict[str, Any], runs: dict[str, Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeout = report["lock_timeout_ms"]
    fig, axes = plt.subplots(2, 1, figsize=(13, 8.5), sharex=True, sharey=True)
    right = max(r.t1 - r.t0 for r in runs.values()) + TAIL_S
    for ax, (tool, run) in zip(axes, runs.items(), strict=True):
        summary = report["results"][tool]
        ax.axvspan(0, run.t1 - run.t0, color="0.92", zorder=0, label="migration window")
        for kind, colour, label in ((1, "tab:blue", "INSERT"), (0, "tab:orange", "UPDATE")):
            mine = [s for s in run.samples if s[2] == kind]
            xs = [s[0] - run.t0 for s in mine]
            ys = [max(s[1] * 1000, 0.05) for s in mine]
            ax.scatter(xs, ys, s=5, c=colour, label=label, alpha=0.6, linewidths=0, zorder=2)
            slow = [(x, y) for x, y in zip(xs, ys, strict=True) if y >= 100]
            if slow:
                ax.scatter(*zip(*slow, strict=True), s=30, c=colour, edgecolors="black", linewidths=0.6, zorder=3)
                ax.hlines(
                    [y for _, y in slow],
                    [x for x, _ in slow],
                    [x + y / 1000 for x, y in slow],
                    colors=colour,
                    lw=1.5,
                    zorder=2,
                )
        worst = summary["worst_write"]
        if worst:
            ax.annotate(
                f"longest write: {worst['latency_ms']:.0f} ms",
                (worst["start_s"], worst["latency_ms"]),
                xytext=(12, 6),
                textcoords="offset points",
                fontsize=8,
            )
        ax.axvline(run.reader_commit - run.t0, color="tab:green", ls="--", lw=1, label="reader commits")
        ax.axhline(timeout, color="tab:red", ls=":", lw=1, label=f"lock_timeout {timeout} ms")
        ax.axhline(timeout + TARGET_SLACK_MS, color="tab:red", ls="-", lw=0.8, label="target (+250 ms)")
        for index, step in enumerate(run.steps):
            ax.axvline(step["end_s"], color="0.4", lw=0.6)
            label = str(step["step"]).split("_")[0] + " done"
            ax.text(
                step["end_s"],
                8 * 2.5**index,
                label,
                fontsize=7,
                ha="right",
                va="center",
                color="0.2",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
        retries = [e["t"] for e in run.events if e.get("event") == "DDL_LOCK_TIMEOUT_RETRY"]
        if retries:
            marks = [timeout * 4.5] * len(retries)
            ax.scatter(retries, marks, marker="v", c="tab:red", s=30, label="up: lock timeout, rolled back, retry")
        ax.set_yscale("log")
        ax.set_ylim(0.05, max(20_000, summary["max_ms"] * 2))
        ax.set_xlim(-BASELINE_S - 0.5, right)
        ax.set_ylabel("write latency (ms, log)")
        ax.set_title(
            f"{'scrydon-migrate up' if tool == 'up' else 'psql -f'}: p50 {summary['p50_ms']:.2f} ms, "
            f"p99 {summary['p99_ms']:.0f} ms, max {summary['max_ms']:.0f} ms, "
            f"migration {summary['migration_wall_s']:.1f} s",
            fontsize=10,
        )
        ax.grid(True, which="major", alpha=0.3)
    axes[-1].set_xlabel(
        "seconds since the migration started (each write plotted at its start; ringed: ≥ 100 ms, line: until it ended)"
    )
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=7, fontsize=8, markerscale=2)
    fig.suptitle(
        f"Write latency during ADD COLUMN / CREATE INDEX CONCURRENTLY / FK NOT VALID / VALIDATE on "
        f"{report['rows']:,} rows, with an {report['reader_hold_s']:.0f} s reader transaction open",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- set-up


def load_template(server: embedded.EmbeddedServer, admin: psycopg.Connection, work: Path, rows: int) -> None:
    """bench_template: 0001 applied through `up`, then customers and orders loaded, vacuumed, analysed."""
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
        conn.execute("INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, %s) g", (CUSTOMERS,))
        step = 1_000_000
        for low in range(1, rows + 1, step):
            high = min(rows, low + step - 1)
            conn.execute(
                "INSERT INTO orders (id, customer_id, amount, note) "
                "SELECT g, 1 + (g::bigint * 7919) %% %s, (g %% 100000) / 100.0, 'order ' || md5(g::text) "
                "FROM generate_series(%s, %s) g",
                (CUSTOMERS, low, high),
            )
            log(f"loaded {high:,} / {rows:,} rows ({time.monotonic() - began:.0f} s)")
        conn.execute("VACUUM (ANALYZE) customers")
        conn.execute("VACUUM (ANALYZE) orders")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('orders'))").fetchone()
    log(f"template ready: orders {size[0] if size else '?'} in {time.monotonic() - began:.0f} s")


def lock_settings(url: str, work: Path) -> tuple[int, int]:
    """The lock timeout and retries `up` will use, as its own `config` command reports them."""
    done = subprocess.run(
        [sys.executable, "-m", "scrydon_migrate", "config", "--service", SERVICE, "--database-url", url, "--json"],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(done.stdout)
    return int(doc["lock_timeout_ms"]), int(doc["lock_retries"])


def run_cases(
    admin: psycopg.Connection, server: embedded.EmbeddedServer, work: Path, args: Any, postgres_version: str
) -> int:
    """Every selected case through `up` and through `psql`; writes writer_stall_cases.{json,md}."""
    from scrydon_migrate.config import DEFAULT_LOCK_BUDGET_MS

    results: dict[str, dict[str, Any]] = {}
    for name in args.only or CASES:
        results[name] = {}
        for tool in ("up", "psql"):
            log(f"case {name}: {tool}")
            run = measure_case(name, CASES[name], tool, admin, server, work, args)
            summary = summarize(run, args.rate)
            summary["outcome"] = case_outcome(run)
            summary["events"] = sorted({str(e.get("event")) for e in run.events if e.get("event")})
            summary["output"] = run.output[-2000:]
            results[name][tool] = summary
            log(f"case {name}: {tool} {summary['outcome']}, longest write {summary['max_ms']:.0f} ms")
    report = {
        "benchmark": "writer_stall_cases",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool_version": TOOL_VERSION,
        "tool_revision": revision(),
        "rows": args.rows,
        "large_table_rows": args.large_table_rows,
        "write_rate": args.rate,
        "lock_budget_ms": DEFAULT_LOCK_BUDGET_MS,
        "postgres_version": postgres_version,
        "machine": machine(),
        "migrations": {name: CASES[name].migration for name in results},
        "cases": results,
    }
    (args.out / "writer_stall_cases.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    table = cases_markdown(report)
    (args.out / "writer_stall_cases.md").write_text(table)
    print(table)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in orders (default 5,000,000)")
    parser.add_argument("--quick", action="store_true", help="500,000 rows, for a fast check")
    parser.add_argument("--rate", type=float, default=200.0, help="target writes per second (default 200)")
    parser.add_argument("--reader-hold-s", type=float, default=8.0, help="reader stays open this long (default 8)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder (default bench/results)")
    parser.add_argument(
        "--cases", action="store_true", help="run issue 15's lock-safety cases (writer_stall_cases.{json,md}) instead"
    )
    parser.add_argument("--only", action="append", choices=sorted(CASES), help="with --cases: just this case")
    parser.add_argument(
        "--large-table-rows", type=int, default=1_000_000, help="with --cases: up's large-table threshold"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows = 500_000
    args.out.mkdir(parents=True, exist_ok=True)

    folder = Path(tempfile.mkdtemp(prefix="scrydon-writer-stall-", dir="/dev/shm"))
    who = embedded.run_as()
    if who is not None:
        os.chown(folder, who.uid, who.gid)
    work = Path(tempfile.mkdtemp(prefix="scrydon-writer-stall-work-"))
    data = folder / "data"
    started = False
    try:
        log(f"starting PostgreSQL in {data}")
        server = embedded.start(data, fast=False, settings=("max_wal_size=4GB", "shared_buffers=512MB"))
        started = True
        migrations = work / "migrations" / SERVICE
        migrations.mkdir(parents=True)
        (migrations / FIRST_MIGRATION).write_text(SCHEMA)
        for name, text in MIGRATIONS.items():
            (migrations / name).write_text(text)
        with psycopg.connect(server.url(), autocommit=True) as admin:
            version = admin.execute("SHOW server_version").fetchone()
            settings = dict(
                admin.execute(
                    "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)",
                    (["shared_buffers", "max_wal_size", "fsync", "synchronous_commit", "autovacuum"],),
                ).fetchall()
            )
            lock_timeout_ms, lock_retries = lock_settings(server.url("postgres"), work)
            load_template(server, admin, work, args.rows)
            if args.cases:
                return run_cases(admin, server, work, args, version[0] if version else "?")
            runs = {tool: measure(tool, admin, server, work, args) for tool in ("up", "psql")}

        results = {tool: summarize(run, args.rate) for tool, run in runs.items()}
        report: dict[str, Any] = {
            "benchmark": "writer_stall",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "tool_version": TOOL_VERSION,
            "tool_revision": revision(),
            "rows": args.rows,
            "customers": CUSTOMERS,
            "write_rate": args.rate,
            "writer_connections": WRITER_THREADS,
            "reader_hold_s": args.reader_hold_s,
            "lock_timeout_ms": lock_timeout_ms,
            "lock_retries": lock_retries,
            "target_ms": lock_timeout_ms + TARGET_SLACK_MS,
            "postgres_version": version[0] if version else "?",
            "postgres_settings": settings,
            "machine": machine(),
            "migrations": {FIRST_MIGRATION: "applied before the measurement (template)", **MIGRATIONS},
            "results": results,
            "details": {
                tool: {
                    "steps": run.steps,
                    "up_events": [
                        {k: v for k, v in e.items() if k not in ("ts", "component")}
                        for e in run.events
                        if e.get("event") not in (None, "MIGRATION_APPLIED")
                    ],
                    "tracking_rows": run.tracking,
                    "lock_waits": run.lock_episodes,
                    "final_state": run.final_state,
                    "output": run.output[-4000:],
                }
                for tool, run in runs.items()
            },
        }
        report["target_met"] = bool(results["up"]["max_ms"] <= report["target_ms"])
        (args.out / "writer_stall.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        table = markdown(report)
        (args.out / "writer_stall.md").write_text(table)
        plot(report, runs, args.out / "writer_stall.png")
        print(table)
        for tool, run in runs.items():
            print(f"{tool}: final state {run.final_state}")
            for episode in run.lock_episodes:
                print(
                    f"  {episode['from_s']:7.2f}-{episode['to_s']:7.2f}s  {episode['sessions']} x {episode['waiter']} "
                    f"waits for {episode['waiting_for']} behind {episode['blocked_by'][:150]}"
                )
        print(f"results: {args.out / 'writer_stall.json'}, {args.out / 'writer_stall.png'}")
        failed = [tool for tool, run in runs.items() if run.exit_code != 0]
        return 1 if failed else 0
    finally:
        if started:
            with contextlib.suppress(Exception):
                embedded.stop(data)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
