"""While a column is adopted, the backfill's trigger computes it for rows that writers of the previous
release insert or change; writers that set it themselves keep their value; the release requiring the
backfill checks the condition itself and drops the trigger."""

from __future__ import annotations

import pytest

DECLARE = """ALTER TABLE users ADD COLUMN domain text NULL;
-- migrate:backfill users_domain table=users key=id
UPDATE users SET domain = lower(split_part(email, '@', 2))
 WHERE id BETWEEN $1 AND $2 AND domain IS NULL AND status = 'active';
"""
REQUIRE = (
    "-- migrate:requires-backfill users_domain\n"
    "ALTER TABLE users ADD CONSTRAINT users_domain_known CHECK (status <> 'active' OR domain IS NOT NULL) NOT VALID;"
)


@pytest.fixture
def users(migrations, migrate, db):
    migrations.write(
        "0001_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, status text NOT NULL DEFAULT 'active');",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO users SELECT g, 'u' || g || '@Example.COM', 'active' FROM generate_series(1, 100) g")
    migrations.write("0002_domain.sql", DECLARE)
    assert migrate("up").code == 0
    return db


def _domain(db, user_id):
    return db.execute("SELECT domain FROM users WHERE id = %s", (user_id,)).fetchone()[0]


def test_rows_the_previous_release_inserts_or_changes_get_the_value(users, migrate):
    users.execute("INSERT INTO users (id, email) VALUES (1000, 'new@Old.Example')")
    assert _domain(users, 1000) == "old.example"
    assert migrate("backfill run").code == 0
    users.execute("UPDATE users SET email = 'moved@Elsewhere.Example' WHERE id = 7")
    assert _domain(users, 7) == "elsewhere.example", "a filled row whose email changed is recomputed, not stale"


def test_a_writer_that_sets_the_column_keeps_its_value(users):
    users.execute("INSERT INTO users (id, email, domain) VALUES (1001, 'a@b.example', 'chosen')")
    assert _domain(users, 1001) == "chosen"
    users.execute("UPDATE users SET domain = 'picked' WHERE id = 8")
    assert _domain(users, 8) == "picked"


def test_the_statement_s_other_conditions_hold_in_the_trigger_too(users):
    users.execute("INSERT INTO users (id, email, status) VALUES (1002, 'x@y.example', 'invited')")
    assert _domain(users, 1002) is None


def test_the_release_requiring_it_checks_the_rows_itself_and_then_drops_the_trigger(users, migrations, migrate):
    assert migrate("backfill run").code == 0
    users.execute("ALTER TABLE users DISABLE TRIGGER users_domain_backfill_fill")
    users.execute("INSERT INTO users (id, email) VALUES (1003, 'late@Bypass.Example')")
    users.execute("ALTER TABLE users ENABLE TRIGGER users_domain_backfill_fill")
    migrations.write("0003_require.sql", REQUIRE)

    refused = migrate("up")

    assert refused.code == 6
    assert "requires backfill 'users_domain', which is completed, but 1 row(s) still need the fill" in refused.stderr
    users.execute("UPDATE users SET domain = 'bypass.example' WHERE id = 1003")
    assert migrate("up").code == 0
    assert users.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'users_domain_backfill_fill'").fetchone() == (
        0,
    )
    assert users.execute("SELECT count(*) FROM pg_proc WHERE proname = 'users_domain_backfill_fill'").fetchone() == (0,)


def test_a_statement_that_is_not_a_plain_fill_gets_no_trigger(migrations, migrate, db):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO items (id) SELECT generate_series(1, 10)")
    migrations.write(
        "0002_count.sql",
        "-- migrate:backfill items_count table=items key=id\nUPDATE items SET n = n + 1 WHERE id BETWEEN $1 AND $2;",
    )

    assert migrate("up").code == 0
    assert migrate("backfill run").code == 0

    assert db.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'items_count_backfill_fill'").fetchone() == (0,)
    assert db.execute("SELECT min(n), max(n) FROM items").fetchone() == (1, 1)


def test_a_check_that_can_no_longer_run_refuses_the_requiring_migration_clearly(users, migrations, migrate):
    assert migrate("backfill run").code == 0
    migrations.write("0003_drop_status.sql", "ALTER TABLE users DROP COLUMN status;")
    migrations.write("0004_require.sql", "-- migrate:requires-backfill users_domain\nSELECT 1;")

    refused = migrate("up")

    assert refused.code == 6 and "Traceback" not in refused.stderr
    assert "which is completed, but its check of the rows failed: column" in refused.stderr
