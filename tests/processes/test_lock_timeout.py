"""A long transaction holding a table lock: `up` retries under a short lock_timeout, then fails naming it.

Writers are never queued behind the migration for longer than the lock timeout.
"""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest


@pytest.fixture
def orders(migrations, migrate, db):
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigserial PRIMARY KEY, note text);")
    assert migrate("up").code == 0


class Writer(threading.Thread):
    """Inserts rows in a loop and keeps the longest time one insert took."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.longest_s = 0.0
        self.inserts = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="app-writer") as conn:
            while not self.stop.is_set():
                began = time.monotonic()
                conn.execute("INSERT INTO orders (note) VALUES ('w')")
                self.longest_s = max(self.longest_s, time.monotonic() - began)
                self.inserts += 1
                time.sleep(0.005)


def test_blocked_ddl_retries_then_fails_naming_the_blocker_while_writers_keep_going(
    orders, migrations, migrate, db_url
):
    migrations.write("0002_column.sql", "ALTER TABLE orders ADD COLUMN region text NULL;")
    writer = Writer(db_url)
    with psycopg.connect(db_url, application_name="nightly-report") as reader:
        reader.execute("SELECT count(*) FROM orders")  # holds ACCESS SHARE until the transaction ends
        writer.start()

        run = migrate("up", "--lock-timeout-ms", "200", "--lock-retries", "2")

        writer.stop.set()
        writer.join()
        reader_pid = reader.info.backend_pid

    assert run.code == 5
    retries = run.log_lines("DDL_LOCK_TIMEOUT_RETRY")
    assert len(retries) == 2
    assert all(re.search(rf"blocking_pids={reader_pid}(\s|$)", line) and "table=orders" in line for line in retries), (
        "only the reader blocks the migration; the writers queued behind it are not named"
    )
    assert "attempt=1 max=2" in retries[0]
    fatal = run.log_lines("MIGRATION_LOCK_TIMEOUT")[0]
    assert f"pid {reader_pid} (nightly-report, idle in transaction" in fatal
    assert f"pg_terminate_backend({reader_pid})" in fatal
    assert "app-writer" not in fatal
    assert writer.inserts > 10
    assert writer.longest_s < 2.0, "writers waited at most about the 200 ms lock timeout, not for the reader"


def _end_once_the_migration_waited(url: str, reader: psycopg.Connection) -> None:
    """End the blocking transaction once the migration has been seen waiting for its lock in two attempts."""
    attempts: set[object] = set()
    with psycopg.connect(url, autocommit=True) as watcher:
        while len(attempts) < 2:
            attempts.update(
                row[0]
                for row in watcher.execute(
                    "SELECT query_start FROM pg_stat_activity WHERE application_name LIKE 'scrydon-migrate%' "
                    "AND wait_event_type = 'Lock'"
                )
            )
            time.sleep(0.02)
    reader.rollback()


def test_ddl_succeeds_once_the_blocking_transaction_ends_during_the_retries(orders, migrations, migrate, db_url):
    migrations.write("0002_column.sql", "ALTER TABLE orders ADD COLUMN region text NULL;")
    reader = psycopg.connect(db_url)
    reader.execute("SELECT count(*) FROM orders")
    release = threading.Thread(target=_end_once_the_migration_waited, args=(db_url, reader), daemon=True)
    release.start()
    try:
        run = migrate("up", "--lock-timeout-ms", "200", "--lock-retries", "8")
    finally:
        release.join()
        reader.close()

    assert run.code == 0, run.stderr
    assert run.log_lines("DDL_LOCK_TIMEOUT_RETRY")
    assert run.log_lines("MIGRATION_APPLIED")
