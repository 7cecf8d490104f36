"""The guard judges with the server's facts: type changes PostgreSQL makes in place, sizes past a stale
estimate, whole-table UPDATE/DELETE. The table is "large" by a lowered threshold of 1,000 rows."""

from __future__ import annotations

import pytest

LARGE = ("--large-table-rows", "1000")


@pytest.fixture
def accounts(migrations, migrate, db):
    migrations.write(
        "0001_accounts.sql",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, code varchar(16), name text, balance numeric(10, 2),\n"
        "  seen timestamptz(3), flags int);",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO accounts SELECT g, 'c' || g, 'n' || g, g, now(), g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE accounts")


@pytest.mark.parametrize(
    "change",
    [
        "code TYPE varchar(64)",
        "code TYPE text",
        "name TYPE varchar",
        "balance TYPE numeric(14, 2)",
        "balance TYPE numeric",
        "seen TYPE timestamptz(6)",
    ],
)
def test_a_type_change_postgresql_makes_without_a_rewrite_is_applied(accounts, migrations, migrate, db, change):
    migrations.write("0002_widen.sql", f"ALTER TABLE accounts ALTER COLUMN {change};")

    run = migrate("up", *LARGE)

    assert run.code == 0, run.stderr
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("applied",)


@pytest.mark.parametrize(
    "change",
    [
        "code TYPE varchar(8)",
        "name TYPE varchar(32)",
        "balance TYPE numeric(14, 4)",
        "flags TYPE bigint",
        "code TYPE text USING upper(code)",
    ],
)
def test_a_type_change_that_rewrites_or_checks_every_row_is_refused(accounts, migrations, migrate, change):
    migrations.write("0002_narrow.sql", f"ALTER TABLE accounts ALTER COLUMN {change};")

    run = migrate("up", *LARGE)

    assert run.code == 6, run.stderr
    assert "rule=ban-column-type-change" in run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]


def test_a_stale_row_estimate_does_not_hide_rows_inserted_since(migrations, migrate, db):
    migrations.write(
        "0001_events.sql",
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text) WITH (autovacuum_enabled = false);",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO events SELECT g, 'k' FROM generate_series(1, 100) g")
    db.execute("ANALYZE events")
    db.execute("INSERT INTO events SELECT g, 'k' FROM generate_series(101, 20000) g")
    assert db.execute("SELECT reltuples FROM pg_class WHERE relname = 'events'").fetchone() == (100,)
    migrations.write("0002_index.sql", "CREATE INDEX events_kind_idx ON events (kind);")

    run = migrate("up", "--large-table-rows", "10000")

    assert run.code == 6, run.stderr
    assert "rule=require-concurrent-index" in run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]


def test_an_update_of_every_row_of_a_large_table_is_refused_unless_declared_as_a_backfill(
    accounts, migrations, migrate, db
):
    migrations.write("0002_fill.sql", "UPDATE accounts SET name = upper(name);")

    refused = migrate("up", *LARGE)

    assert refused.code == 6, refused.stderr
    line = refused.log_lines("MIGRATION_UNSAFE_REFUSED")[0]
    assert "UPDATE of every row on 'accounts'" in line and "rule=backfill-in-migration" in line
    assert "declare a background backfill: -- migrate:backfill <name> table=accounts key=<pk>" in line

    migrations.write(
        "0002_fill.sql",
        "-- migrate:backfill accounts_upper_name table=accounts key=id\n"
        "UPDATE accounts SET name = upper(name) WHERE id BETWEEN $1 AND $2;",
    )
    assert migrate("up", *LARGE).code == 0


@pytest.mark.parametrize("volatility", ["VOLATILE", ""])
def test_a_default_calling_a_volatile_function_of_the_database_is_refused(accounts, migrations, migrate, volatility):
    migrations.write(
        "0002_function.sql",
        f"CREATE FUNCTION next_code() RETURNS int LANGUAGE sql {volatility} AS 'SELECT (random() * 100)::int';",
    )
    assert migrate("up").code == 0
    migrations.write("0003_default.sql", "ALTER TABLE accounts ADD COLUMN code2 int DEFAULT next_code();")

    run = migrate("up", *LARGE)

    assert run.code == 6, run.stderr
    line = run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]
    assert "ADD COLUMN with a volatile DEFAULT (next_code())" in line
    assert "rule=adding-field-with-volatile-default" in line


def test_a_default_calling_a_function_created_volatile_in_the_same_migration_is_refused(accounts, migrations, migrate):
    migrations.write(
        "0002_default.sql",
        "CREATE FUNCTION next_code() RETURNS int LANGUAGE sql AS 'SELECT (random() * 100)::int';\n"
        "ALTER TABLE accounts ADD COLUMN code2 int DEFAULT next_code();",
    )

    run = migrate("up", *LARGE)

    assert run.code == 6, run.stderr


def test_a_default_calling_a_stable_or_immutable_function_is_applied(accounts, migrations, migrate, db):
    migrations.write(
        "0002_function.sql",
        "CREATE FUNCTION default_region() RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'eu'$$;",
    )
    assert migrate("up").code == 0
    migrations.write(
        "0003_defaults.sql",
        "ALTER TABLE accounts ADD COLUMN region text DEFAULT default_region();\n"
        "ALTER TABLE accounts ADD COLUMN created timestamptz DEFAULT now();",
    )

    run = migrate("up", *LARGE)

    assert run.code == 0, run.stderr


@pytest.mark.parametrize(
    "set_path",
    ["SET search_path = billing, public;", "SELECT pg_catalog.set_config('search_path', 'billing', false);"],
)
def test_a_search_path_set_earlier_in_the_file_resolves_the_table_as_the_server_will(migrations, migrate, db, set_path):
    migrations.write(
        "0001_billing.sql",
        "CREATE SCHEMA billing;\nCREATE TABLE billing.invoices (id bigint PRIMARY KEY, note text);\n"
        "CREATE TABLE invoices (id bigint PRIMARY KEY, note text);",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO billing.invoices SELECT g, 'n' FROM generate_series(1, 5000) g")
    db.execute("ANALYZE billing.invoices")
    migrations.write("0002_index.sql", f"{set_path}\nCREATE INDEX invoices_note_idx ON invoices (note);")

    run = migrate("up", *LARGE)

    assert run.code == 6, run.stderr
    line = run.log_lines("MIGRATION_UNSAFE_REFUSED")[0]
    assert "CREATE INDEX on 'invoices'" in line and "~5,000 rows" in line
