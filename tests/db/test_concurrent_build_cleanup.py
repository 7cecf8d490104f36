"""A failed concurrent index build leaves no INVALID index behind, named or not, CREATE or REINDEX."""

from __future__ import annotations

import pytest

INVALID = "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'orders'::regclass AND NOT indisvalid"


@pytest.fixture
def orders(migrations, migrate, db):
    """A table where two rows share an email, so a unique build over it fails."""
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, email text);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO orders VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x')")


def test_a_failed_unique_build_drops_the_invalid_index_it_left(orders, migrations, migrate, db):
    migrations.write(
        "0002_unique.sql",
        "-- migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY orders_email_key ON orders (email);",
    )

    run = migrate("up", "--json")

    assert run.code == 5, run.stderr
    error = run.json()
    assert error["sqlstate"] == "23505"
    assert error["invalid_indexes_dropped"] == ["orders_email_key"]
    assert "the failed build left the INVALID index 'orders_email_key', now dropped" in error["hint"]
    dropped = run.log_lines("INVALID_INDEX_DROPPED")[0]
    assert "index=orders_email_key" in dropped
    assert db.execute(INVALID).fetchall() == []
    db.execute("INSERT INTO orders VALUES (4, 'b@x')")  # the application's duplicate insert goes through


def test_an_unnamed_build_leaves_nothing_and_the_retry_builds_the_first_name(orders, migrations, migrate, db):
    migrations.write(
        "0002_unique.sql", "-- migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY ON orders (email);"
    )
    assert migrate("up").code == 5
    assert db.execute(INVALID).fetchall() == []

    db.execute("DELETE FROM orders WHERE id = 2")
    assert migrate("up").code == 0

    names = db.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'orders'::regclass ORDER BY 1")
    assert names.fetchall() == [("orders_email_idx",), ("orders_pkey",)]


def test_a_failed_reindex_concurrently_drops_its_ccnew_index(orders, migrations, migrate, db):
    migrations.write(
        "0002_checked.sql",
        "CREATE FUNCTION checked(text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  IF current_setting('app.fail', true) = 'on' THEN RAISE EXCEPTION 'checked() refused'; END IF;\n"
        "  RETURN $1;\nEND $$;\n"
        "CREATE INDEX orders_checked_idx ON orders (checked(email));",
    )
    assert migrate("up").code == 0
    migrations.write(
        "0003_reindex.sql",
        "-- migrate:no-transaction\nSET app.fail = 'on';\nREINDEX INDEX CONCURRENTLY orders_checked_idx;",
    )

    run = migrate("up", "--json")

    assert run.code == 5, run.stderr
    assert run.json()["invalid_indexes_dropped"] == ["orders_checked_idx_ccnew"]
    assert db.execute(INVALID).fetchall() == []
    assert db.execute("SELECT to_regclass('orders_checked_idx')").fetchone() == ("orders_checked_idx",)
