"""A pod SIGKILLed inside a batched DO block of a no-transaction file: the batches it committed stay,
the batch in flight rolls back, and the next pod re-runs the block from the journal's statement."""

from __future__ import annotations

import signal
import subprocess
import time

import psycopg

from tests.fixtures.cli import clean_env, command

ORDERS = (
    "CREATE TABLE orders (id int PRIMARY KEY, total int);\n"
    "INSERT INTO orders SELECT g, NULL FROM generate_series(1, 100) g;"
)
#: Four batches of 25 rows, each committed with a row in batches; it stalls after the first
#: until crash_marker exists, so the test can kill the pod with exactly one batch committed.
BATCHED = """-- migrate:no-transaction
CREATE TABLE batches (xid xid8);
DO $$
DECLARE lo int := 0;
BEGIN
  WHILE lo < 100 LOOP
    UPDATE orders SET total = id * 10 WHERE id > lo AND id <= lo + 25;
    INSERT INTO batches VALUES (pg_current_xact_id());
    COMMIT;
    PERFORM pg_sleep(CASE WHEN to_regclass('crash_marker') IS NULL THEN 60 ELSE 0 END);
    lo := lo + 25;
  END LOOP;
END $$;
"""


def _wait_for(db: psycopg.Connection, query: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.execute(query).fetchone() == (True,):
            return
        time.sleep(0.05)
    raise AssertionError(f"never true: {query}")


def test_committed_batches_stay_and_the_next_pod_reruns_the_block(migrations, db_url, db, migrate):
    migrations.write("0001_orders.sql", ORDERS)
    migrations.write("0002_fill_totals.sql", BATCHED)
    args = command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path))
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    _wait_for(db, "SELECT to_regclass('batches') IS NOT NULL")
    _wait_for(db, "SELECT count(*) = 1 FROM batches")
    _wait_for(
        db, "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND wait_event = 'PgSleep'"
    )

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    assert db.execute("SELECT count(*) FROM orders WHERE total IS NOT NULL").fetchone() == (25,)
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "running",
        1,
    )
    db.execute("CREATE TABLE crash_marker ()")
    second = migrate("up", "--lock-wait", "30")

    assert second.code == 0, second.stderr
    assert second.log_lines("MIGRATION_RESUMED") and "statement=2" in second.log_lines("MIGRATION_RESUMED")[0]
    assert db.execute("SELECT count(*) FROM orders WHERE total = id * 10").fetchone() == (100,)
    assert db.execute("SELECT count(DISTINCT xid) FROM batches").fetchone() == (1 + 4,)
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("applied",)
