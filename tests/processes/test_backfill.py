"""Background backfills: registered by `up`, run by a worker in keyed batches, pausable and resumable.

Workers are real processes; kills are real SIGKILLs.
"""

from __future__ import annotations

import signal
import threading
import time
from random import Random

import psycopg

from tests.processes.conftest import (
    DECLARE,
    ROWS,
    all_done_once,
    backfill_state,
    fast,
    slow,
    start_worker,
    wait_until,
)


def test_up_only_registers_the_backfill_and_a_worker_completes_it(items, migrate):
    assert items.execute("SELECT count(*) FROM items WHERE doubled IS NOT NULL").fetchone() == (0,)
    assert backfill_state(items)[0] == "pending"

    run = migrate("backfill run")

    assert run.code == 0, run.stderr
    assert all_done_once(items) == (0, 0)
    events = [
        r[0]
        for r in items.execute(
            "SELECT event FROM platform_migrations_audit WHERE event LIKE 'MIGRATION_BACKFILL_%' ORDER BY id"
        )
    ]
    assert events[0] == "MIGRATION_BACKFILL_REGISTERED" and events[1] == "MIGRATION_BACKFILL_STARTED"
    assert events[-1] == "MIGRATION_BACKFILL_COMPLETED"
    status = migrate("backfill status", "--json").json()[0]["backfills"][0]
    assert status["state"] == "completed" and status["percent"] == 100.0 and status["rows_done"] == ROWS


def test_a_sigkilled_worker_resumes_after_the_last_committed_batch_and_no_row_is_done_twice(
    items, migrations, migrate, db_url
):
    slow(items)
    worker = start_worker(db_url, migrations)
    wait_until(lambda: backfill_state(items)[1] >= 2000)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)

    state, keys_done = backfill_state(items)
    assert state == "running" and 0 < keys_done < ROWS
    done = items.execute(
        "SELECT count(*) FILTER (WHERE touched = 1), count(*) FILTER (WHERE touched > 1) FROM items"
    ).fetchone()
    assert done == (keys_done, 0), "exactly the committed batches are done"
    beyond = items.execute(
        "SELECT count(*) FROM items i JOIN platform_migrations_backfill_slices s ON s.backfill = 'items_doubled'"
        " AND (s.lo_key IS NULL OR i.id > s.lo_key[1]::bigint) AND i.id <= s.hi_key[1]::bigint"
        " WHERE i.touched = 1 AND (s.last_key IS NULL OR i.id > s.last_key[1]::bigint)"
    ).fetchone()
    assert beyond == (0,), "no row past a slice's checkpoint is done"

    fast(items)
    assert migrate("backfill run").code == 0
    assert all_done_once(items) == (0, 0), "the result equals a single UPDATE's, each row done once"


def test_pause_resume_and_restart_from_another_process(items, migrations, migrate, db_url):
    slow(items)
    worker = start_worker(db_url, migrations)
    wait_until(lambda: backfill_state(items)[1] >= 600)

    paused = migrate("backfill pause", "items_doubled")
    assert paused.code == 0, paused.stderr
    assert worker.wait(timeout=60) == 0, "a paused backfill leaves the worker nothing to do"
    worker.communicate()
    state, keys_at_pause = backfill_state(items)
    assert state == "paused"
    assert migrate("backfill run").code == 0, "a worker finds nothing to do in a paused backfill"
    assert backfill_state(items)[1] == keys_at_pause, "no batch runs while paused"

    assert migrate("backfill resume", "items_doubled").code == 0
    fast(items)
    assert migrate("backfill run").code == 0
    assert all_done_once(items) == (0, 0)

    assert migrate("backfill restart", "items_doubled").code == 0
    assert backfill_state(items) == ("pending", 0)
    assert migrate("backfill run").code == 0
    assert items.execute("SELECT min(touched), max(touched) FROM items").fetchone() == (2, 2)
    events = {r[0] for r in items.execute("SELECT event FROM platform_migrations_audit")}
    assert {"MIGRATION_BACKFILL_PAUSED", "MIGRATION_BACKFILL_RESUMED", "MIGRATION_BACKFILL_RESTARTED"} <= events


def test_two_workers_share_a_backfill_without_overlap(items, migrations, db_url):
    slow(items, batch=500, pause_ms=0)

    workers = [start_worker(db_url, migrations) for _ in range(2)]
    codes = [w.wait(timeout=120) for w in workers]
    for w in workers:
        w.communicate()

    assert codes == [0, 0]
    assert all_done_once(items) == (0, 0)
    workers_seen = items.execute(
        "SELECT count(DISTINCT actor) FROM platform_migrations_audit WHERE event LIKE 'MIGRATION_BACKFILL_%'"
        " AND event <> 'MIGRATION_BACKFILL_REGISTERED'"
    ).fetchone()
    assert workers_seen[0] >= 1


def test_concurrent_writes_during_the_backfill_are_not_lost(items, migrations, migrate, db_url):
    slow(items, batch=500, pause_ms=5)
    written: dict[int, str] = {}
    stop = threading.Event()

    def write() -> None:
        rng = Random(7)
        with psycopg.connect(db_url, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                row = rng.randint(1, ROWS)
                n += 1
                conn.execute("UPDATE items SET note = %s WHERE id = %s", (f"w{n}", row))
                written[row] = f"w{n}"

    writer = threading.Thread(target=write)
    writer.start()
    try:
        run = migrate("backfill run")
    finally:
        stop.set()
        writer.join()

    assert run.code == 0, run.stderr
    assert all_done_once(items) == (0, 0)
    notes = dict(items.execute("SELECT id, note FROM items WHERE note IS NOT NULL").fetchall())
    assert notes == written, "every concurrent write survived the backfill"


def test_a_later_migration_requiring_the_backfill_waits_for_it(items, migrations, migrate):
    migrations.write(
        "0003_require.sql",
        "-- migrate:requires-backfill items_doubled\nALTER TABLE items ADD CONSTRAINT items_doubled_set"
        " CHECK (doubled IS NOT NULL) NOT VALID;",
    )

    refused = migrate("up")

    assert refused.code == 6
    assert "requires backfill 'items_doubled', which is pending" in refused.stderr
    assert migrate("backfill run").code == 0
    assert migrate("up").code == 0


def test_a_failing_batch_is_split_then_the_backfill_is_marked_failed_and_retried(items, migrations, migrate):
    items.execute("ALTER TABLE items ADD CONSTRAINT items_small CHECK (doubled IS NULL OR doubled < 1990)")
    items.execute("UPDATE platform_migrations_backfills SET batch_size = 4000")

    failed = migrate("backfill run")

    assert failed.code == 5
    assert backfill_state(items)[0] == "failed"
    failing = items.execute(
        "SELECT last_key[1]::bigint FROM platform_migrations_backfill_slices WHERE NOT done"
        " AND (lo_key IS NULL OR lo_key[1]::bigint < 995) AND hi_key[1]::bigint >= 995"
    ).fetchone()
    assert failing[0] == 994, "split down to the one failing key"
    assert failed.log_lines("MIGRATION_BACKFILL_BATCH_SPLIT")
    assert "violates check constraint" in migrate("backfill status", "--json").json()[0]["backfills"][0]["error"]
    items.execute("ALTER TABLE items DROP CONSTRAINT items_small")
    assert migrate("backfill retry", "items_doubled").code == 0
    assert migrate("backfill run").code == 0
    assert all_done_once(items) == (0, 0)


def test_a_fresh_install_completes_its_backfills_at_once(migrations, migrate, db):
    migrations.write(
        "0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, touched int DEFAULT 0);"
    )
    migrations.write("0002_doubled.sql", "ALTER TABLE items ADD COLUMN doubled int NULL;\n" + DECLARE)
    migrations.write("0003_require.sql", "-- migrate:requires-backfill items_doubled\nSELECT 1;")

    assert migrate("up").code == 0
    assert backfill_state(db)[0] == "completed"


def test_the_backfill_finishes_while_rows_keep_being_inserted(items, migrate, db_url):
    slow(items, batch=2000, pause_ms=5)
    stop = threading.Event()

    def insert() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            next_id = ROWS + 1
            while not stop.is_set():
                conn.execute("INSERT INTO items (id, v, doubled) VALUES (%s, 1, 2)", (next_id,))
                next_id += 1
                time.sleep(0.002)

    writer = threading.Thread(target=insert)
    writer.start()
    try:
        run = migrate("backfill run")
    finally:
        stop.set()
        writer.join()

    assert run.code == 0, run.stderr
    assert backfill_state(items)[0] == "completed"
    assert items.execute(
        "SELECT count(*) FROM items WHERE id <= %s AND doubled IS DISTINCT FROM v * 2", (ROWS,)
    ).fetchone() == (0,)


def test_a_backfill_declared_on_a_missing_column_fails_its_migration_clearly(migrations, migrate, db):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);")
    migrations.write(
        "0002_doubled.sql",
        "ALTER TABLE items ADD COLUMN doubled int NULL;\n"
        "-- migrate:backfill items_doubled table=items key=item_id\n"
        "UPDATE items SET doubled = v * 2 WHERE item_id BETWEEN $1 AND $2;",
    )

    run = migrate("up")

    assert run.code == 5
    assert "Traceback" not in run.stderr
    line = run.log_lines("MIGRATION_FAILED")[0]
    assert "declares backfill 'items_doubled' on items keyed on (item_id): column \"item_id\" does not exist" in line
    assert "line=2" in line and "sqlstate=42703" in line
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("failed",)
    assert db.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'doubled'"
    ).fetchone() == (0,), "the migration's transaction was rolled back"
