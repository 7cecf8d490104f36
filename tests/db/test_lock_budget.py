"""The runtime lock budget: a statement holding a write-blocking lock past the budget is cancelled.

The watchdog asks PostgreSQL (pg_locks, pg_blocking_pids) what the migration holds and who
waits; these tests use a budget of 500 ms and a "large" threshold of 1,000 rows.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg
import pytest

BUDGET = ("--lock-budget-ms", "500")
LARGE = ("--large-table-rows", "1000")


@pytest.fixture
def orders(migrations, migrate, db):
    """An analysed table of 5,000 rows: large by the lowered threshold, small by the default one."""
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, note text);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE orders")


@contextlib.contextmanager
def writers(db_url: str, statement: str) -> Iterator[None]:
    """An application writing in a loop on its own connection while the block runs."""
    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(db_url, autocommit=True, application_name="app-writer") as conn:
            while not stop.is_set():
                conn.execute(statement)
                stop.wait(0.01)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def test_add_column_then_a_long_update_is_cancelled_while_writers_wait(orders, migrations, migrate, db, db_url):
    migrations.write(
        "0002_add_and_fill.sql",
        "ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu' FROM (SELECT pg_sleep(5)) s;",
    )

    with writers(db_url, "INSERT INTO orders (id, note) VALUES ((random() * 1e12)::bigint + 10000, 'app')"):
        run = migrate("up", *BUDGET, "--json")

    assert run.code == 5, run.stderr
    assert run.log_lines("MIGRATION_LOCK_BUDGET_EXCEEDED")
    error = run.json()
    assert "the statement at line 2 held an ACCESS EXCLUSIVE lock on 'public.orders'" in error["message"]
    assert "while 1 session (longest" in error["message"]
    assert error["message"].endswith("past the lock budget of 500 ms; it was cancelled")
    assert (error["table"], error["lock_mode"], error["line"]) == ("public.orders", "ACCESS EXCLUSIVE", 2)
    assert error["hint"].startswith("the migration's transaction was rolled back: nothing of it is applied")
    assert "Instead, use: declare a background backfill: -- migrate:backfill" in error["hint"]
    assert '-- migrate:allow lock-budget reason="..."' in error["hint"]
    columns = db.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'region'")
    assert columns.fetchone() == (0,)
    assert db.execute("SELECT status, failed_line FROM platform_migrations WHERE version = 2").fetchone() == (
        "failed",
        2,
    )
    assert db.execute(
        "SELECT count(*) FROM platform_migrations_audit WHERE event = 'MIGRATION_LOCK_BUDGET_EXCEEDED'"
    ).fetchone() == (1,)


def test_an_index_built_inside_a_do_block_on_a_large_table_is_cancelled(orders, migrations, migrate, db):
    migrations.write(
        "0002_hidden_index.sql",
        "DO $$\nBEGIN\n  CREATE INDEX orders_note_idx ON orders (note);\n  PERFORM pg_sleep(5);\nEND\n$$;",
    )

    run = migrate("up", *BUDGET, *LARGE)

    assert run.code == 5, run.stderr
    line = run.log_lines("MIGRATION_LOCK_BUDGET_EXCEEDED")[-1]
    assert "held a SHARE lock on 'public.orders'" in line and "on a large table (~5,000 rows)" in line
    assert db.execute("SELECT to_regclass('orders_note_idx')").fetchone() == (None,)


def test_a_volatile_default_rewriting_a_large_table_where_the_guard_cannot_see_it_is_cancelled(
    orders, migrations, migrate, db
):
    migrations.write(
        "0002_function.sql",
        "CREATE FUNCTION slow_code() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1 FROM pg_sleep(0.002)';",
    )
    assert migrate("up").code == 0
    migrations.write(
        "0003_default.sql",
        "DO $$ BEGIN EXECUTE 'ALTER TABLE orders ADD COLUMN code int DEFAULT slow_code()'; END $$;",
    )

    run = migrate("up", *BUDGET, *LARGE, "--json")

    assert run.code == 5, run.stderr
    assert "held an ACCESS EXCLUSIVE lock on 'public.orders'" in run.json()["message"]
    assert "split it across releases" in run.json()["hint"]
    columns = db.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'code'")
    assert columns.fetchone() == (0,)


def test_writers_waiting_for_rows_an_update_holds_cancel_it(orders, migrations, migrate, db, db_url):
    migrations.write("0002_touch.sql", "UPDATE orders SET note = 'migrated' WHERE id = 1;\nSELECT pg_sleep(5);")

    with writers(db_url, "UPDATE orders SET note = 'app' WHERE id = 1"):
        run = migrate("up", *BUDGET)

    assert run.code == 5, run.stderr
    line = run.log_lines("MIGRATION_LOCK_BUDGET_EXCEEDED")[-1]
    assert "the statement at line 2 held row locks on rows it wrote while 1 session" in line
    assert db.execute("SELECT note FROM orders WHERE id = 1").fetchone() == ("app",)


def test_an_allow_with_a_reason_lifts_the_budget_for_its_statement_and_is_audited(orders, migrations, migrate, db):
    migrations.write(
        "0002_window.sql",
        "ALTER TABLE orders ADD COLUMN region text;\n"
        '-- migrate:allow lock-budget reason="maintenance window: writes are paused"\n'
        "SELECT pg_sleep(1.5);",
    )

    run = migrate("up", *BUDGET, *LARGE)

    assert run.code == 0, run.stderr
    assert 'reason="maintenance window: writes are paused"' in run.log_lines("LOCK_BUDGET_LIFTED")[0]
    allows = db.execute(
        "SELECT details->'allows' FROM platform_migrations_audit WHERE event = 'MIGRATION_APPLIED' AND version = 2"
    ).fetchone()
    assert allows == ([{"rule": "lock-budget", "reason": "maintenance window: writes are paused", "line": 2}],)
    assert migrate("lint").code == 0


def test_a_short_lock_on_a_small_table_with_no_waiters_is_applied(orders, migrations, migrate, db):
    migrations.write("0002_add.sql", "ALTER TABLE orders ADD COLUMN region text;\nSELECT pg_sleep(1);")

    assert migrate("up", *BUDGET).code == 0


def test_lock_held_ms_is_recorded_for_a_do_block_and_an_update(orders, migrations, migrate, db):
    migrations.write(
        "0002_do.sql", "DO $$ BEGIN CREATE INDEX orders_note_idx ON orders (note); PERFORM pg_sleep(0.5); END $$;"
    )
    migrations.write("0003_update.sql", "UPDATE orders SET note = note || '!';\nSELECT pg_sleep(0.5);")

    assert migrate("up", "--lock-budget-ms", "5000").code == 0

    held = db.execute("SELECT version, lock_held_ms > 0 FROM platform_migrations WHERE version > 1 ORDER BY 1")
    assert held.fetchall() == [(2, True), (3, True)]


def test_a_statement_past_the_statement_timeout_fails_with_the_servers_error(orders, migrations, migrate, db):
    migrations.write("0002_slow.sql", "ALTER TABLE orders ADD COLUMN region text;\nSELECT pg_sleep(5);")

    run = migrate("up", "--statement-timeout-ms", "300")

    assert run.code == 5, run.stderr
    line = run.log_lines("MIGRATION_FAILED")[-1]
    assert "canceling statement due to statement timeout" in line and "sqlstate=57014" in line
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("failed",)
