"""Backfill benchmark: a background backfill under a rolling update, against one ``UPDATE``.

What it measures
----------------
A table ``events (id <key> PRIMARY KEY, payload text, amount int)`` of N rows (default
1,000,000; ``--quick``: 200,000), once keyed on ``bigint`` and once on ``uuid``, gets a new
column ``amount_cents bigint NULL`` that must end up equal to ``amount * 100`` on every row.
While it is filled, pods of both releases write (``--rate`` writes/s in total, paced, on 4
autocommit connections):

* **previous release** (2 connections): ``INSERT`` of a new row and ``UPDATE ... SET amount =``
  on a random loaded row, knowing nothing of ``amount_cents``;
* **new release** (2 connections): the same writes, keeping ``amount_cents`` right themselves.

Cases, each on a fresh copy of the loaded database:

* **single UPDATE**: ``ALTER TABLE ... ADD COLUMN``, then ``UPDATE events SET amount_cents =
  amount * 100 WHERE amount_cents IS NULL`` in one transaction, as an operator would in psql;
* **backfill × W** (W = 1, 2, 4 workers on bigint; 1 on uuid): ``scrydon-migrate up`` applies
  migration 0002 (the column and ``-- migrate:backfill``, which installs the adoption trigger),
  then W ``scrydon-migrate backfill run`` processes share the key range until it completes.

Then the pods of the previous release stop (the rolling update is over), release 3
(``-- migrate:requires-backfill`` and a ``NOT VALID`` check) is applied with ``up`` for the
backfill cases, the new release's pods stop, and the **wrong rows** are counted:
``amount_cents IS DISTINCT FROM amount * 100`` (must be 0 for the backfill).

Reported per case: rows filled per second of wall time (N / time from the start of the work to
its end: the UPDATE's commit, or the last worker's exit), the writers' p50 / p99 / max latency
during the work, writes that failed, wrong rows at the end, and whether release 3 applied.

Usage::

    python bench/backfill.py [--rows 1000000] [--quick] [--rate 200] [--out DIR]

It starts a throwaway PostgreSQL (the project's embedded launcher, fsync on) in /dev/shm,
stops and deletes it at the end, and writes ``backfill.{json,md}`` to ``--out``
(default ``bench/results``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from scrydon_migrate import __version__ as TOOL_VERSION
from scrydon_migrate import embedded

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVICE = "platform"
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
TAIL_S = 2.0
LIMITS = "target_batch_ms=40 pause_ms=10 max_batch_size=100000 slices=8"
KEY_COLUMN = {"bigint": "bigint PRIMARY KEY", "uuid": "uuid PRIMARY KEY DEFAULT gen_random_uuid()"}
CASES = (("bigint", 0), ("bigint", 1), ("bigint", 2), ("bigint", 4), ("uuid", 0), ("uuid", 1))
ADD_COLUMN = "ALTER TABLE events ADD COLUMN amount_cents bigint NULL;"
BACKFILL = (
    f"-- migrate:backfill events_amount_cents table=events key=id {LIMITS}\n"
    "UPDATE events SET amount_cents = amount * 100 WHERE id BETWEEN $1 AND $2 AND amount_cents IS NULL;\n"
)
REQUIRE = (
    "-- migrate:requires-backfill events_amount_cents\n"
    "ALTER TABLE events ADD CONSTRAINT events_amount_cents_set CHECK (amount_cents IS NOT NULL) NOT VALID;\n"
)
SINGLE_UPDATE = "UPDATE events SET amount_cents = amount * 100 WHERE amount_cents IS NULL"
WRONG = "SELECT count(*) FROM events WHERE amount_cents IS DISTINCT FROM amount * 100"


def log(message: str) -> None:
    print(f"[backfill-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- writers


def _writer(url: str, index: int, new_release: bool, key: str, rate: float, stop: Any, out: list[Any]) -> None:
    """Paced writes on one connection: (start, seconds, ok) per write; no catch-up burst after a stall."""
    rng = random.Random(index)
    interval = 4 / rate
    ids = _loaded_ids(url)
    next_id = 2_000_000_000 + index
    with psycopg.connect(url, autocommit=True, application_name="bench-writer") as conn:
        slot, count = time.monotonic() + rng.uniform(0, interval), 0
        while not stop.is_set():
            time.sleep(max(0.0, slot - time.monotonic()))
            amount = rng.randint(1, 100_000)
            began, ok = time.monotonic(), True
            try:
                conn.execute(*_write(count, new_release, key, next_id, amount, rng.choice(ids)))
            except psycopg.Error:
                ok = False
                if conn.broken:
                    return
            out.append((began, time.monotonic() - began, ok))
            next_id += 4
            count += 1
            slot = max(slot + interval, time.monotonic())


def _loaded_ids(url: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events TABLESAMPLE SYSTEM (1) LIMIT 5000")]


def _write(count: int, new_release: bool, key: str, next_id: int, amount: int, row: Any) -> tuple[str, tuple[Any, ...]]:
    new_key = next_id if key == "bigint" else uuid.uuid4()
    if count % 2 == 0:
        if new_release:
            return (
                "INSERT INTO events (id, payload, amount, amount_cents) VALUES (%s, 'new pod', %s, %s)",
                (new_key, amount, amount * 100),
            )
        return "INSERT INTO events (id, payload, amount) VALUES (%s, 'old pod', %s)", (new_key, amount)
    if new_release:
        return "UPDATE events SET amount = %s, amount_cents = %s WHERE id = %s", (amount, amount * 100, row)
    return "UPDATE events SET amount = %s WHERE id = %s", (amount, row)


def writers_main(url: str, key: str, rate: float, out_path: str, ready: Any, stop_old: Any, stop_new: Any) -> None:
    """The pods: 2 connections of the previous release, 2 of the new one. Samples go to ``out_path``."""
    samples: list[list[Any]] = [[] for _ in range(4)]
    threads = [
        threading.Thread(target=_writer, args=(url, i, i >= 2, key, rate, stop_new if i >= 2 else stop_old, samples[i]))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    Path(out_path).write_text(json.dumps([s for per in samples for s in per]))


# --------------------------------------------------------------------------- one case


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("MIGRATE_", "PG")) and not k.endswith("DATABASE_URL")
    }


def _tool(url: str, migrations: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "scrydon_migrate", *args, "--service", SERVICE]
    command += ["--database-url", url, "--migrations-dir", str(migrations)]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _up(url: str, migrations: Path) -> tuple[int, str]:
    process = _tool(url, migrations, "up")
    _, err = process.communicate(timeout=600)
    return process.returncode, err


def measure(server: embedded.EmbeddedServer, work: Path, key: str, workers: int, args: Any) -> dict[str, Any]:
    name = f"{key}_{'single' if workers == 0 else f'backfill_{workers}'}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template_{key}")
    url = server.url(name)
    migrations = work / name / SERVICE
    shutil.copytree(work / f"template_{key}" / SERVICE, migrations)
    samples = work / f"{name}.json"
    ready, stop_old, stop_new = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Event()
    pods = multiprocessing.Process(
        target=writers_main, args=(url, key, args.rate, str(samples), ready, stop_old, stop_new)
    )
    pods.start()
    ready.wait()
    time.sleep(1.0)
    result: dict[str, Any] = {"case": name, "key": key, "workers": workers, "rows": args.rows}
    if workers == 0:
        with psycopg.connect(url) as conn:
            conn.execute(ADD_COLUMN)
            conn.commit()
            began = time.monotonic()
            conn.execute(SINGLE_UPDATE)
            conn.commit()
            ended = time.monotonic()
    else:
        (migrations / "0002_events_amount_cents.sql").write_text(ADD_COLUMN + "\n\n" + BACKFILL)
        code, err = _up(url, migrations)
        if code != 0:
            raise SystemExit(f"up of 0002 failed ({code}): {err}")
        began = time.monotonic()
        running = [_tool(url, migrations, "backfill", "run") for _ in range(workers)]
        codes = [(p.wait(timeout=3600), p.communicate()) for p in running]
        ended = time.monotonic()
        result["worker_exit_codes"] = [c for c, _ in codes]
    time.sleep(TAIL_S)
    stop_old.set()
    if workers:
        (migrations / "0003_require_events_amount_cents.sql").write_text(REQUIRE)
        code, err = _up(url, migrations)
        result["release_3_exit_code"] = code
        if code != 0:
            result["release_3_error"] = err.strip().splitlines()[-1][:300]
    time.sleep(TAIL_S)
    stop_new.set()
    pods.join()
    with psycopg.connect(url) as conn:
        wrong = conn.execute(WRONG).fetchone()
        status = (
            conn.execute(
                "SELECT state, (SELECT count(DISTINCT worker) FROM platform_migrations_backfill_slices)"
                " FROM platform_migrations_backfills"
            ).fetchone()
            if workers
            else None
        )
    during = [s for s in json.loads(samples.read_text()) if began <= s[0] <= ended]
    latencies = sorted(s[1] * 1000 for s in during)
    result |= {
        "wall_s": round(ended - began, 2),
        "rows_per_s": round(args.rows / (ended - began)),
        "writes": len(during),
        "failed_writes": sum(1 for s in during if not s[2]),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1] if latencies else 0.0, 1),
        "wrong_rows": wrong[0] if wrong else None,
    }
    if status:
        result |= {"backfill_state": status[0], "workers_seen": status[1]}
    log(f"{name}: {json.dumps(result)}")
    return result


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def load_template(server: embedded.EmbeddedServer, work: Path, key: str, rows: int) -> None:
    """template_<key>: 0001 applied with ``up``, then the rows loaded, vacuumed and analysed."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE template_{key}")
    url = server.url(f"template_{key}")
    migrations = work / f"template_{key}" / SERVICE
    migrations.mkdir(parents=True)
    (migrations / "0001_create_events.sql").write_text(
        f"CREATE TABLE events (id {KEY_COLUMN[key]}, payload text NOT NULL, amount integer NOT NULL);\n"
    )
    code, err = _up(url, migrations)
    if code != 0:
        raise SystemExit(f"up of 0001 failed: {err}")
    ids = "g" if key == "bigint" else "gen_random_uuid()"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO events (id, payload, amount) SELECT {ids}, 'event ' || md5(g::text),"
            " ((g::bigint * 7919) %% 100000)::int FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("VACUUM (ANALYZE) events")
    log(f"template_{key}: {rows:,} rows")


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {"cpus": os.cpu_count(), "cpu": cpu, "load_before": os.getloadavg()[0], "python": platform.python_version()}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Backfill under a rolling update: {report['rows']:,} rows in `events`, `amount_cents = amount * 100`, "
        f"~{report['write_rate']:.0f} writes/s from pods of the previous release (2 connections: INSERT without "
        "the column, UPDATE of `amount`) and of the new one (2 connections, keeping the column right). "
        f"PostgreSQL {report['server_version']} (fsync on, data in /dev/shm), {report['machine']['cpus']} × "
        f"{report['machine']['cpu']}, load {report['machine']['load_before']:.1f} before the run "
        "(the machine is shared). Directive limits: `" + LIMITS + "`.",
        "",
        "| key | case | rows/s | × one UPDATE | wall (s) | writers p50 / p99 / max (ms) | failed writes "
        "| wrong rows at end | release 3 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["cases"]:
        single = next(s for s in report["cases"] if s["key"] == r["key"] and s["workers"] == 0)
        case = "one UPDATE" if r["workers"] == 0 else f"backfill, {r['workers']} worker(s)"
        release = "—" if r["workers"] == 0 else ("applied" if r.get("release_3_exit_code") == 0 else "refused")
        lines.append(
            f"| {r['key']} | {case} | {r['rows_per_s']:,} | {r['rows_per_s'] / single['rows_per_s']:.2f} | "
            f"{r['wall_s']} | {r['p50_ms']} / {r['p99_ms']} / {r['max_ms']:,} | {r['failed_writes']} | "
            f"{r['wrong_rows']:,} | {release} |"
        )
    lines += ["", *report["verdict"]]
    return "\n".join(lines) + "\n"


def verdict(cases: list[dict[str, Any]]) -> tuple[list[str], bool]:
    lines, met = [], True
    for key in ("bigint", "uuid"):
        single = next(c for c in cases if c["key"] == key and c["workers"] == 0)
        one = next(c for c in cases if c["key"] == key and c["workers"] == 1)
        ratio = one["rows_per_s"] / single["rows_per_s"]
        ok = ratio >= TARGET_RATIO and one["p99_ms"] < TARGET_P99_MS and one["wrong_rows"] == 0
        met = met and ok
        lines.append(
            f"- {key}: one worker {ratio:.3f}× one UPDATE's rows/s (target ≥ {TARGET_RATIO}), writers' p99 "
            f"{one['p99_ms']} ms (target < {TARGET_P99_MS:.0f}; one UPDATE: {single['p99_ms']:,} ms), wrong rows "
            f"{one['wrong_rows']} (one UPDATE leaves {single['wrong_rows']:,}) → **{'met' if ok else 'missed'}**."
        )
    many = sorted((c for c in cases if c["key"] == "bigint" and c["workers"]), key=lambda c: c["workers"])
    lines.append(
        "- workers sharing the key range (bigint): "
        + ", ".join(f"{c['workers']}: {c['rows_per_s']:,} rows/s" for c in many)
        + ". On this 2-core machine shared with other jobs the database has little headroom, so this is the "
        "figure to read, not a promise."
    )
    return lines, met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in events (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="200,000 rows, for a fast check")
    parser.add_argument("--rate", type=float, default=200.0, help="writes per second, all pods (default 200)")
    parser.add_argument("--data-parent", type=Path, default=Path("/dev/shm"), help="where the cluster lives")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder (default bench/results)")
    args = parser.parse_args()
    if args.quick:
        args.rows = 200_000
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="scrydon-backfill-", dir=args.data_parent))
    who = embedded.run_as()
    if who is not None:
        os.chown(folder, who.uid, who.gid)
    work = Path(tempfile.mkdtemp(prefix="scrydon-backfill-work-"))
    data = folder / "data"
    started = False
    about = machine()
    try:
        server = embedded.start(data, fast=False, settings=("max_wal_size=4GB", "shared_buffers=512MB"))
        started = True
        with psycopg.connect(server.url()) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        for key in KEY_COLUMN:
            load_template(server, work, key, args.rows)
        cases = [measure(server, work, key, workers, args) for key, workers in CASES]
    finally:
        if started:
            embedded.stop(data)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    lines, met = verdict(cases)
    headline = next(c for c in cases if c["key"] == "bigint" and c["workers"] == 1)
    single = next(c for c in cases if c["key"] == "bigint" and c["workers"] == 0)
    report = {
        "benchmark": "backfill",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool_version": TOOL_VERSION,
        "rows": args.rows,
        "write_rate": args.rate,
        "server_version": version[0] if version else "?",
        "machine": about,
        "cases": cases,
        "verdict": lines,
        "results": {"single": single, "backfill": headline},
        "throughput_ratio": headline["rows_per_s"] / single["rows_per_s"],
        "throughput_met": headline["rows_per_s"] / single["rows_per_s"] >= TARGET_RATIO,
        "latency_met": headline["p99_ms"] < TARGET_P99_MS,
        "target_met": met,
    }
    (args.out / "backfill.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "backfill.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
