"""A backfill registered by an earlier release (its table without slices, heartbeats or checks)
is shown and finished by this one."""

from __future__ import annotations

EARLIER_TABLE = """
CREATE TABLE platform_migrations_backfills (
    name text PRIMARY KEY, version bigint NOT NULL, table_name text NOT NULL, key_column text NOT NULL,
    batch_sql text NOT NULL, state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'running', 'paused', 'completed', 'failed')),
    last_key text, keys_done bigint NOT NULL DEFAULT 0, rows_done bigint NOT NULL DEFAULT 0, keys_total bigint,
    batches integer NOT NULL DEFAULT 0, batch_size integer NOT NULL DEFAULT 1000,
    target_batch_ms integer NOT NULL DEFAULT 200, pause_ms integer NOT NULL DEFAULT 50,
    min_batch_size integer NOT NULL DEFAULT 10, max_batch_size integer NOT NULL DEFAULT 20000,
    lock_timeout_ms integer NOT NULL DEFAULT 1000, statement_timeout_ms integer NOT NULL DEFAULT 30000,
    max_replica_lag_s integer NOT NULL DEFAULT 10, error text, worker text,
    registered_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz, end_key text
)
"""


def test_a_backfill_an_earlier_release_left_running_is_shown_and_finished(migrations, migrate, db):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, doubled int);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO items SELECT g, g, CASE WHEN g <= 400 THEN g * 2 END FROM generate_series(1, 1000) g")
    db.execute(EARLIER_TABLE)
    db.execute(
        "INSERT INTO platform_migrations_backfills (name, version, table_name, key_column, batch_sql, state,"
        " last_key, keys_done, started_at, end_key) VALUES ('items_doubled', 1, 'items', 'id',"
        " 'UPDATE items SET doubled = v * 2 WHERE id BETWEEN %(lo)s AND %(hi)s AND doubled IS NULL', 'running',"
        " '400', 400, now(), '1000')"
    )

    status = migrate("backfill status", "--json")
    assert status.code == 0, status.stderr
    assert status.json()[0]["backfills"][0]["state"] == "running"
    run = migrate("backfill run")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*) FROM items WHERE doubled IS DISTINCT FROM v * 2").fetchone() == (0,)
    assert migrate("backfill status", "--json").json()[0]["backfills"][0]["state"] == "completed"
