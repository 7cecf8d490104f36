"""Shared by the backfill tests: a table with rows, a migration declaring its backfill, a worker process."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.fixtures.cli import clean_env, command

ROWS = 20_000
DECLARE = """-- migrate:backfill items_doubled table=items key=id
UPDATE items SET doubled = v * 2, touched = touched + 1 WHERE id BETWEEN $1 AND $2;
"""


@pytest.fixture
def items(migrations, migrate, db):
    """A table with data, then a migration that adds a column and declares its backfill."""
    migrations.write(
        "0001_items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text, touched int NOT NULL DEFAULT 0);",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO items (id, v) SELECT g, g %% 1000 FROM generate_series(1, %s) g", (ROWS,))
    migrations.write("0002_doubled.sql", "ALTER TABLE items ADD COLUMN doubled int NULL;\n" + DECLARE)
    run = migrate("up")
    assert run.code == 0, run.stderr
    return db


def slow(db, batch=200, pause_ms=20):
    db.execute(
        "UPDATE platform_migrations_backfills SET batch_size = %s, max_batch_size = %s, min_batch_size = %s,"
        " pause_ms = %s",
        (batch, batch, batch, pause_ms),
    )


def fast(db):
    db.execute("UPDATE platform_migrations_backfills SET max_batch_size = 5000, pause_ms = 0")
    db.execute("UPDATE platform_migrations_backfill_slices SET batch_size = 5000")


def backfill_state(db):
    """(state, keys done over every slice)."""
    return db.execute(
        "SELECT state, (SELECT coalesce(sum(keys_done), 0) FROM platform_migrations_backfill_slices"
        " WHERE backfill = b.name) FROM platform_migrations_backfills b WHERE name = 'items_doubled'"
    ).fetchone()


def start_worker(db_url, migrations, *extra):
    args = command(
        "backfill",
        "run",
        "--service",
        "platform",
        "--database-url",
        db_url,
        "--migrations-dir",
        str(migrations.path),
        *extra,
    )
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())


def wait_until(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def all_done_once(db):
    return db.execute(
        "SELECT count(*) FILTER (WHERE doubled IS DISTINCT FROM v * 2), count(*) FILTER (WHERE touched <> 1) FROM items"
    ).fetchone()
