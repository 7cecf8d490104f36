"""A concurrent index build that dies leaves an INVALID index: the next `up` drops it and builds it again."""

from __future__ import annotations

import signal
import subprocess
import time

import psycopg

from tests.fixtures.cli import clean_env, command

JOURNALED = """CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_region_idx ON orders (region);
"""


def _building(db):
    return db.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE (query LIKE 'CREATE INDEX CONCURRENTLY%%' OR query LIKE 'REINDEX%%') AND pid <> pg_backend_pid()"
    ).fetchone()[0]


def _index_state(db, name):
    return db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,)).fetchone()


def _kill_while_building(migrations, db, db_url, index_name):
    """Start `up`, SIGKILL it once the build has created ``index_name`` (waiting for an open writer), and
    wait until the server has cancelled the dead pod's build."""
    writer = psycopg.connect(db_url)
    writer.execute("INSERT INTO orders VALUES (100000, 'open', 'r')")  # an open write transaction: CIC waits for it
    args = command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path))
    pod = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    deadline = time.monotonic() + 30
    while _index_state(db, index_name) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pod.send_signal(signal.SIGKILL)
    pod.wait(timeout=10)
    deadline = time.monotonic() + 15
    while _building(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _building(db), "the server cancelled the dead pod's build"
    writer.rollback()
    writer.close()
    assert _index_state(db, index_name) == (False,), "the killed build left an INVALID index"


def _orders(migrations, migrate, db):
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, note text, region text);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO orders SELECT g, 'n' || g, 'r' FROM generate_series(1, 1000) g")
    migrations.write(
        "0002_indexes.sql", "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_id_note_idx ON orders (id, note);"
    )
    assert migrate("up").code == 0


def test_killed_concurrent_build_is_dropped_rebuilt_and_resumed_at_its_statement(migrations, migrate, db, db_url):
    _orders(migrations, migrate, db)
    migrations.write("0003_indexes.sql", JOURNALED)
    _kill_while_building(migrations, db, db_url, "orders_note_idx")

    run = migrate("up")

    assert run.code == 0, run.stderr
    dropped = run.log_lines("INVALID_INDEX_DROPPED")
    assert dropped and "index=orders_note_idx" in dropped[0]
    resumed = run.log_lines("MIGRATION_RESUMED")
    assert resumed and "statement=1" in resumed[0]
    assert _index_state(db, "orders_note_idx") == (True,)
    assert _index_state(db, "orders_region_idx") == (True,)
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)


def test_killed_unnamed_concurrent_build_is_dropped_and_built_once_under_the_first_name(
    migrations, migrate, db, db_url
):
    _orders(migrations, migrate, db)
    migrations.write(
        "0003_indexes.sql", "CREATE INDEX CONCURRENTLY ON orders (note);\nCREATE INDEX CONCURRENTLY ON orders (region);"
    )
    _kill_while_building(migrations, db, db_url, "orders_note_idx")

    run = migrate("up")

    assert run.code == 0, run.stderr
    dropped = run.log_lines("INVALID_INDEX_DROPPED")
    assert dropped and "index=orders_note_idx" in dropped[0]
    assert _index_state(db, "orders_note_idx") == (True,)
    assert _index_state(db, "orders_note_idx1") is None, "the retry built no second index beside it"
    assert _index_state(db, "orders_region_idx") == (True,)
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)


def test_killed_reindex_concurrently_leaves_no_ccnew_index(migrations, migrate, db, db_url):
    _orders(migrations, migrate, db)
    migrations.write("0003_reindex.sql", "-- migrate:no-transaction\nREINDEX INDEX CONCURRENTLY orders_id_note_idx;")
    _kill_while_building(migrations, db, db_url, "orders_id_note_idx_ccnew")

    run = migrate("up")

    assert run.code == 0, run.stderr
    dropped = run.log_lines("INVALID_INDEX_DROPPED")
    assert dropped and "index=orders_id_note_idx_ccnew" in dropped[0]
    assert _index_state(db, "orders_id_note_idx") == (True,)
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)


def test_failed_unique_concurrent_build_is_rebuilt_after_the_data_is_fixed(migrations, migrate, db):
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, note text);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO orders VALUES (1, 'same'), (2, 'same')")
    migrations.write(
        "0002_unique.sql", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_note_key ON orders (note);"
    )

    failed = migrate("up")
    assert failed.code == 5 and "23505" in failed.stderr
    assert _index_state(db, "orders_note_key") is None, "the INVALID index the build left was dropped at once"

    db.execute("UPDATE orders SET note = 'other' WHERE id = 2")
    run = migrate("up")

    assert run.code == 0, run.stderr
    assert _index_state(db, "orders_note_key") == (True,), "IF NOT EXISTS did not keep a broken index"
