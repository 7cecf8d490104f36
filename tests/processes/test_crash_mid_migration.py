"""A pod SIGKILLed mid-migration: its transaction rolls back, its lock is freed, the next pod takes over."""

from __future__ import annotations

import signal
import subprocess
import time

import psycopg

from tests.fixtures.cli import clean_env, command

SLOW_UNLESS_MARKED = """CREATE TABLE half_a (id int);
SELECT pg_sleep(CASE WHEN to_regclass('crash_marker') IS NULL THEN 60 ELSE 0 END);
CREATE TABLE half_b (id int);
"""


def _wait_for_query(db: psycopg.Connection, fragment: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        ).fetchone()
        if found and found[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"no session ran {fragment!r}")


def test_sigkilled_holder_leaves_nothing_half_applied_and_the_next_pod_applies(migrations, db_url, db, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_two_tables.sql", SLOW_UNLESS_MARKED)
    args = command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path))
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    _wait_for_query(db, "pg_sleep(CASE")

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    assert db.execute("SELECT to_regclass('half_a')").fetchone() == (None,), "the killed transaction rolled back"
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE version = 2").fetchone() == (0,)
    db.execute("CREATE TABLE crash_marker ()")
    started = time.monotonic()
    second = migrate("up", "--lock-wait", "30")

    assert second.code == 0, second.stderr
    assert time.monotonic() - started < 20, "the dead pod's lock was freed without waiting for its statement"
    assert db.execute("SELECT to_regclass('half_a'), to_regclass('half_b')").fetchone() == ("half_a", "half_b")
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("applied",)
