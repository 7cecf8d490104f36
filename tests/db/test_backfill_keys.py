"""A backfill walks any key with a btree ordering, single or composite; a key it can't walk is refused."""

from __future__ import annotations

import pytest

KEYS = {
    "uuid": ("uuid PRIMARY KEY DEFAULT gen_random_uuid()", "DEFAULT"),
    "text": ("text PRIMARY KEY", "'k' || lpad(g::text, 6, '0') || repeat('z', g % 3)"),
    "timestamptz": ("timestamptz PRIMARY KEY", "timestamptz '2026-01-01' + g * interval '1 second'"),
    "bigint": ("bigint PRIMARY KEY", "g"),
    "numeric": ("numeric PRIMARY KEY", "g / 7.0"),
}


def _items(migrations, migrate, db, key_type: str, rows: int = 3_000) -> None:
    column, value = KEYS[key_type]
    migrations.write("0001_items.sql", f"CREATE TABLE items (id {column}, v int NOT NULL);")
    assert migrate("up").code == 0
    ids = "" if value == "DEFAULT" else "id, "
    select = "" if value == "DEFAULT" else f"{value}, "
    db.execute(f"INSERT INTO items ({ids}v) SELECT {select}g FROM generate_series(1, {rows}) g")


def _declare(migrations, key: str = "id", where: str = "id BETWEEN $1 AND $2") -> None:
    migrations.write(
        "0002_doubled.sql",
        "ALTER TABLE items ADD COLUMN doubled int NULL;\n"
        f"-- migrate:backfill items_doubled table=items key={key} batch_size=100 slices=4\n"
        f"UPDATE items SET doubled = v * 2 WHERE {where} AND doubled IS NULL;",
    )


@pytest.mark.parametrize("key_type", sorted(KEYS))
def test_a_backfill_fills_every_row_whatever_the_key_type(migrations, migrate, db, key_type):
    _items(migrations, migrate, db, key_type)
    _declare(migrations)
    assert migrate("up").code == 0

    run = migrate("backfill run")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*) FROM items WHERE doubled IS DISTINCT FROM v * 2").fetchone() == (0,)
    status = migrate("backfill status", "--json").json()[0]["backfills"][0]
    assert status["state"] == "completed" and status["rows_done"] == 3_000 and status["slices"] == 4


def test_a_composite_key_is_walked_as_a_row(migrations, migrate, db):
    migrations.write(
        "0001_items.sql",
        "CREATE TABLE items (org int NOT NULL, n int NOT NULL, v int NOT NULL, PRIMARY KEY (org, n));",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO items SELECT g % 13, g, g FROM generate_series(1, 3000) g")
    _declare(migrations, key="org,n", where="(org, n) BETWEEN ($1, $2) AND ($3, $4)")
    assert migrate("up").code == 0

    run = migrate("backfill run")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*) FROM items WHERE doubled IS DISTINCT FROM v * 2").fetchone() == (0,)
    assert migrate("backfill status", "--json").json()[0]["backfills"][0]["rows_done"] == 3_000


def test_a_key_without_an_index_is_refused_at_registration_with_the_reason(migrations, migrate, db):
    _items(migrations, migrate, db, "bigint")
    _declare(migrations, key="v", where="v BETWEEN $1 AND $2")

    run = migrate("up")

    assert run.code == 5 and "Traceback" not in run.stderr
    line = run.log_lines("MIGRATION_FAILED")[0]
    assert "no valid btree index starts with (v), so every batch would scan the whole table" in line
    assert "CREATE INDEX CONCURRENTLY items_v_idx ON items (v)" in line
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("failed",)


def test_rows_with_a_null_key_are_refused_at_registration(migrations, migrate, db):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint UNIQUE, v int NOT NULL);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO items SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE g END, g FROM generate_series(1, 1000) g")
    _declare(migrations)

    run = migrate("up")

    assert run.code == 5
    assert "10 row(s) have a NULL key, and a key range never contains NULL" in run.log_lines("MIGRATION_FAILED")[0]


def test_a_nullable_key_without_nulls_is_accepted_and_rows_inserted_later_with_a_null_key_are_filled(
    migrations, migrate, db
):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint UNIQUE, v int NOT NULL);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO items SELECT g, g FROM generate_series(1, 1000) g")
    _declare(migrations)
    assert migrate("up").code == 0

    db.execute("INSERT INTO items (id, v) VALUES (NULL, 5)")
    assert migrate("backfill run").code == 0

    assert db.execute("SELECT count(*) FROM items WHERE doubled IS DISTINCT FROM v * 2").fetchone() == (0,)
