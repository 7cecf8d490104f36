"""The apply-time guard: a lock-the-table step on a large table is refused before anything runs."""

from __future__ import annotations

import pytest

LARGE = ("--large-table-rows", "1000")


@pytest.fixture
def orders(migrations, migrate, db):
    """An existing, analysed table of 5,000 rows: "large" for these tests' threshold of 1,000."""
    migrations.write(
        "0001_orders.sql",
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, note text);\n"
        "CREATE TABLE customers (id bigint PRIMARY KEY);",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO customers SELECT g FROM generate_series(1, 100) g")
    db.execute("INSERT INTO orders SELECT g, g % 100 + 1, 'n' || g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE orders")


def test_non_concurrent_index_on_a_large_table_is_refused_with_the_safe_rewrite(orders, migrations, migrate, db):
    migrations.write("0002_index.sql", "-- index notes\nCREATE INDEX orders_note_idx ON orders (note);")

    run = migrate("up", *LARGE)

    assert run.code == 6
    line = run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]
    assert "FATAL: CREATE INDEX on 'orders' takes a SHARE lock that blocks writes for the whole index build" in line
    assert "~5,000 rows" in line and "line 2" in line
    assert "Instead, use: CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note)" in line
    assert '-- migrate:allow require-concurrent-index reason=\\"...\\"' in line
    assert "rule=require-concurrent-index" in line
    assert db.execute("SELECT to_regclass('orders_note_idx')").fetchone() == (None,)
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE version = 2").fetchone() == (0,)


def test_an_allow_comment_with_a_reason_lets_the_step_run(orders, migrations, migrate, db):
    migrations.write(
        "0002_index.sql",
        '-- migrate:allow require-concurrent-index reason="maintenance window, writes are paused"\n'
        "CREATE INDEX orders_note_idx ON orders (note);",
    )

    run = migrate("up", *LARGE)

    assert run.code == 0, run.stderr
    assert db.execute("SELECT to_regclass('orders_note_idx')").fetchone() == ("orders_note_idx",)


def test_an_allow_comment_without_a_reason_is_refused(orders, migrations, migrate):
    migrations.write(
        "0002_index.sql", "-- migrate:allow require-concurrent-index\nCREATE INDEX orders_note_idx ON orders (note);"
    )

    run = migrate("up", *LARGE)

    assert run.code == 3
    assert "needs a rule id and a reason" in run.stderr


def test_a_table_created_earlier_in_the_same_migration_is_exempt(orders, migrations, migrate):
    migrations.write(
        "0002_new_table.sql",
        "CREATE TABLE order_notes (id bigint, order_id bigint, body text);\n"
        "CREATE INDEX order_notes_order_idx ON order_notes (order_id);\n"
        "ALTER TABLE order_notes ADD CONSTRAINT order_notes_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);",
    )

    assert migrate("up", *LARGE).code == 0


def test_small_tables_are_not_refused(orders, migrations, migrate):
    migrations.write("0002_index.sql", "CREATE INDEX orders_note_idx ON orders (note);")

    assert migrate("up").code == 0, "5,000 rows is small under the default threshold"


@pytest.mark.parametrize(
    ("sql", "rule", "advice"),
    [
        (
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);",
            "constraint-missing-not-valid",
            "NOT VALID",
        ),
        ("ALTER TABLE orders ALTER COLUMN customer_id TYPE numeric;", "ban-column-type-change", "new column"),
        ("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;", "require-check-before-not-null", "VALIDATE CONSTRAINT"),
        (
            "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            "adding-field-with-volatile-default",
            "SET DEFAULT",
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE (note);",
            "require-unique-using-index",
            "USING INDEX",
        ),
        ("VACUUM FULL orders;", "ban-table-rewrite", "maintenance window"),
    ],
)
def test_each_lock_the_table_step_is_refused_on_a_large_table(orders, migrations, migrate, sql, rule, advice):
    migrations.write("0002_step.sql", sql)

    run = migrate("up", *LARGE)

    assert run.code == 6, run.stderr
    line = run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]
    assert f"rule={rule}" in line and advice in line


def test_set_not_null_after_a_validated_check_is_accepted(orders, migrations, migrate, db):
    migrations.write(
        "0002_check.sql", "ALTER TABLE orders ADD CONSTRAINT orders_note_nn CHECK (note IS NOT NULL) NOT VALID;"
    )
    migrations.write("0003_validate.sql", "ALTER TABLE orders VALIDATE CONSTRAINT orders_note_nn;")
    migrations.write("0004_not_null.sql", "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;")

    run = migrate("up", *LARGE)

    assert run.code == 0, run.stderr
    assert db.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note'"
    ).fetchone() == (True,)


def test_lock_held_is_recorded_for_steps_that_block_writes(orders, migrations, migrate):
    migrations.write("0002_column.sql", "ALTER TABLE orders ADD COLUMN region text NULL;")
    migrations.write("0003_index.sql", "CREATE INDEX CONCURRENTLY orders_region_idx ON orders (region);")
    assert migrate("up").code == 0

    entries = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}

    assert isinstance(entries["0002"]["lock_held_ms"], int)
    assert entries["0003"]["lock_held_ms"] is None, "a concurrent index build never blocks writes"
