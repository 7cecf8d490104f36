"""Crash at every step, lose nothing: a fault at each statement boundary, then `up` again.

For a set mixing transactional, journaled (CREATE INDEX CONCURRENTLY) and mixed migrations,
an enum change and a backfill declaration, the `up` process is SIGKILLed at every statement
boundary in turn (before and after each statement, and right after each commit), or has its
backend terminated. After each fault the next `up` must end with every migration applied exactly
once, the desync check passing, no INVALID index and no lost row of pre-existing data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures.cli import clean_env, run_cli

LEGACY_ROWS = 500
MIGRATIONS = {
    "0001_base.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY, note text);\n"
    "CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint, kind text);",
    "0002_indexes.sql": "CREATE INDEX CONCURRENTLY accounts_note_idx ON accounts (note);\n"
    "CREATE INDEX CONCURRENTLY events_account_idx ON events (account_id);",
    "0003_mixed.sql": "ALTER TABLE legacy ADD COLUMN flag boolean NULL;\n"
    "CREATE INDEX CONCURRENTLY legacy_flag_idx ON legacy (flag);\n"
    "UPDATE legacy SET flag = false WHERE id < 0;",
    "0004_types.sql": "CREATE TYPE event_kind AS ENUM ('created', 'closed');\n"
    "ALTER TABLE events ADD COLUMN k event_kind NULL;",
    "0005_backfill.sql": "ALTER TABLE legacy ADD COLUMN doubled int NULL;\n"
    "-- migrate:backfill legacy_doubled table=legacy key=id\n"
    "UPDATE legacy SET doubled = v * 2 WHERE id BETWEEN $1 AND $2;",
}
REPORT = Path(__file__).resolve().parents[2] / "bench" / "results" / "fault_points.json"


@pytest.fixture
def fresh(pg_cluster, tmp_path):
    """A factory of fresh databases, each with a pre-existing ``legacy`` table of data."""
    made = []

    def make(name: str) -> str:
        database = f"fault_{name}_{len(made)}_{tmp_path.name[-12:]}".replace("-", "_").lower()[:60]
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        made.append(database)
        url = pg_cluster.url(database)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE legacy (id bigint PRIMARY KEY, v int NOT NULL)")
            conn.execute("INSERT INTO legacy SELECT g, g FROM generate_series(1, %s) g", (LEGACY_ROWS,))
        return url

    yield make
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        for database in made:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "migrations" / "platform"
    path.mkdir(parents=True)
    for name, text in MIGRATIONS.items():
        (path / name).write_text(text)
    return path


def _up_args(url, folder):
    return ["up", "--service", "platform", "--database-url", url, "--migrations-dir", str(folder)]


def _faulty(mode, n, url, folder):
    args = [sys.executable, "-m", "tests.processes.fault_up", mode, str(n), "--", *_up_args(url, folder)]
    return subprocess.run(args, capture_output=True, text=True, env=clean_env(), timeout=120, check=False)


def _whole(url, folder):
    """After recovery: what an operator would check, as a list of problems (empty = whole)."""
    problems = []
    with psycopg.connect(url, autocommit=True) as conn:
        statuses = dict(conn.execute("SELECT version, status FROM platform_migrations").fetchall())
        if statuses != {v: "applied" for v in (1, 2, 3, 4, 5)}:
            problems.append(f"tracking {statuses}")
        applied = dict(
            conn.execute(
                "SELECT version, count(*) FROM platform_migrations_audit WHERE event = 'MIGRATION_APPLIED'"
                " GROUP BY version"
            ).fetchall()
        )
        if applied != {v: 1 for v in (1, 2, 3, 4, 5)}:
            problems.append(f"MIGRATION_APPLIED audit rows {applied}")
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0]
        if invalid:
            problems.append(f"{invalid} INVALID index(es)")
        rows = conn.execute("SELECT count(*), sum(v) FROM legacy").fetchone()
        if rows != (LEGACY_ROWS, LEGACY_ROWS * (LEGACY_ROWS + 1) // 2):
            problems.append(f"legacy rows {rows}")
        backfills = conn.execute("SELECT count(*) FROM platform_migrations_backfills").fetchone()[0]
        if backfills != 1:
            problems.append(f"{backfills} backfill registrations")
    verified = run_cli("verify", "--service", "platform", "--database-url", url, "--migrations-dir", str(folder))
    if verified.code != 0:
        problems.append("desync check failed: " + verified.stdout[-300:])
    return problems


def _counts(fresh, folder):
    done = _faulty("count", 0, fresh("count"), folder)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("COUNTS"))
    return {k: int(v) for k, v in (part.split("=") for part in line.split()[1:])}


def _run_points(fresh, folder, points):
    outcomes = []
    for mode, n in points:
        url = fresh(f"{mode}{n}")
        fault = _faulty(mode, n, url, folder)
        recovery = run_cli(*_up_args(url, folder))
        problems = [] if recovery.code == 0 else [f"recovery exit {recovery.code}: {recovery.stderr[-400:]}"]
        problems += _whole(url, folder)
        resumed = [line for line in recovery.stderr.splitlines() if "MIGRATION_RESUMED" in line]
        outcomes.append(
            {
                "mode": mode,
                "point": n,
                "fault_exit": fault.returncode,
                "recovery_exit": recovery.code,
                "resumed": len(resumed),
                "ok": not problems,
                "problems": problems,
            }
        )
    return outcomes


def _report(outcomes, name):
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    existing[name] = {"tried": len(outcomes), "ok": sum(o["ok"] for o in outcomes), "outcomes": outcomes}
    REPORT.write_text(json.dumps(existing, indent=2) + "\n")


def test_sigkill_after_every_statement_then_up_recovers_whole(fresh, folder):
    counts = _counts(fresh, folder)
    points = [("after", n) for n in range(1, counts["statements"] + 1)]

    outcomes = _run_points(fresh, folder, points)
    _report(outcomes, "sigkill-after-statement")

    assert counts["statements"] >= 10
    assert [o for o in outcomes if not o["ok"]] == []
    assert all(o["fault_exit"] == -9 for o in outcomes)
    assert sum(o["resumed"] for o in outcomes) > 0, "killed journaled migrations were resumed, and said so"


@pytest.mark.slow
def test_sigkill_before_every_statement_and_after_every_commit_then_up_recovers_whole(fresh, folder):
    counts = _counts(fresh, folder)
    points = [("before", n) for n in range(1, counts["statements"] + 1)]
    points += [("commit", n) for n in range(1, counts["commits"] + 1)]

    outcomes = _run_points(fresh, folder, points)
    _report(outcomes, "sigkill-before-statement-and-after-commit")

    assert [o for o in outcomes if not o["ok"]] == []


@pytest.mark.slow
def test_backend_terminated_at_every_statement_then_up_recovers_whole(fresh, folder):
    counts = _counts(fresh, folder)
    points = [("terminate", n) for n in range(1, counts["statements"] + 1)]

    outcomes = _run_points(fresh, folder, points)
    _report(outcomes, "pg-terminate-backend")

    assert [o for o in outcomes if not o["ok"]] == []
    assert all(o["fault_exit"] in (4, 5) for o in outcomes), [o["fault_exit"] for o in outcomes]
