"""No-transaction files run each statement in autocommit, as psql does: a DO block or a procedure
may COMMIT between batches. Other tools' markers for the same thing are read; a marker whose
meaning cannot be honoured is refused.
"""

from __future__ import annotations

import pytest

ORDERS = (
    "CREATE TABLE orders (id int PRIMARY KEY, total int);\n"
    "INSERT INTO orders SELECT g, NULL FROM generate_series(1, 100) g;"
)
#: Fills orders.total in four batches, committing after each; batches.xid proves each batch was its own transaction.
BATCHED_DO = """CREATE TABLE batches (xid xid8);
DO $$
DECLARE lo int := 0;
BEGIN
  WHILE lo < 100 LOOP
    UPDATE orders SET total = id * 10 WHERE id > lo AND id <= lo + 25;
    INSERT INTO batches VALUES (pg_current_xact_id());
    COMMIT;
    lo := lo + 25;
  END LOOP;
END $$;
"""


def _committed_batches(db) -> tuple[int, int]:
    return db.execute(
        "SELECT (SELECT count(DISTINCT xid) FROM batches), (SELECT count(*) FROM orders WHERE total = id * 10)"
    ).fetchone()


@pytest.mark.parametrize(
    "marker",
    [
        "-- migrate:no-transaction",
        "-- +goose NO TRANSACTION",
        "-- postgres-migrations disable-transaction",
        "-- morph:nontransactional",
    ],
)
def test_a_do_block_that_commits_between_batches_applies_in_a_no_transaction_file(migrations, migrate, db, marker):
    migrations.write("0001_orders.sql", ORDERS)
    migrations.write("0002_fill_totals.sql", f"{marker}\n{BATCHED_DO}")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert _committed_batches(db) == (4, 100)
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "applied",
        2,
    )


def test_a_do_block_that_never_commits_is_journaled_in_its_own_transaction(migrations, migrate, db):
    migrations.write(
        "0001_seen.sql",
        "-- migrate:no-transaction\n"
        "CREATE TABLE seen (do_xid bigint, journal_xid bigint);\n"
        "DO $$ BEGIN INSERT INTO seen (do_xid) VALUES (txid_current() % 4294967296); END $$;\n"
        "UPDATE seen SET journal_xid = (SELECT xmin::text::bigint FROM platform_migrations WHERE version = 1);\n",
    )

    run = migrate("up")

    assert run.code == 0, run.stderr
    do_xid, journal_xid = db.execute("SELECT do_xid, journal_xid FROM seen").fetchone()
    assert do_xid == journal_xid, "the block and its journal entry committed together: a crash can't re-run it"


def test_a_procedure_that_commits_can_be_called_from_a_no_transaction_file(migrations, migrate, db):
    migrations.write(
        "0001_procedure.sql",
        "CREATE TABLE batches (xid xid8);\n"
        "CREATE PROCEDURE two_batches() LANGUAGE plpgsql AS $$ BEGIN\n"
        "  INSERT INTO batches VALUES (pg_current_xact_id()); COMMIT;\n"
        "  INSERT INTO batches VALUES (pg_current_xact_id());\nEND $$;",
    )
    migrations.write("0002_call.sql", "-- migrate:no-transaction\nCALL two_batches();\n")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(DISTINCT xid) FROM batches").fetchone() == (2,)


def test_a_do_block_that_commits_in_a_transactional_file_fails_saying_to_mark_it(migrations, migrate, db):
    migrations.write("0001_orders.sql", ORDERS)
    migrations.write("0002_fill_totals.sql", BATCHED_DO)

    run = migrate("up")

    assert run.code == 5
    [fatal] = run.log_lines("MIGRATION_FAILED")
    assert "sqlstate=2D000" in fatal
    assert "put '-- migrate:no-transaction' at the top of the file" in fatal
    assert db.execute("SELECT to_regclass('batches')").fetchone() == (None,)


def test_a_failed_batched_do_block_keeps_the_statements_before_it_and_resumes_at_it(migrations, migrate, db):
    migrations.write("0001_orders.sql", ORDERS)
    migrations.write(
        "0002_fill_totals.sql", "-- migrate:no-transaction\n" + BATCHED_DO.replace("id * 10", "id * missing")
    )
    assert migrate("up").code == 5
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "failed",
        1,
    )

    migrations.write("0002_fill_totals.sql", "-- migrate:no-transaction\n" + BATCHED_DO)
    resumed = migrate("up")

    assert resumed.code == 0, resumed.stderr
    assert _committed_batches(db) == (4, 100)


def test_a_file_marked_postgres_migrations_ignore_is_recorded_as_applied_without_running(migrations, migrate, db):
    migrations.write("0001_orders.sql", ORDERS)
    migrations.write("0002_retired.sql", "-- postgres-migrations ignore\nDROP TABLE orders;\n")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert run.log_lines("MIGRATION_IGNORED")
    assert db.execute("SELECT to_regclass('orders')").fetchone() == ("orders",)
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("applied",)
    assert migrate("verify").code == 0


def test_goose_envsub_is_refused_because_the_tool_never_substitutes_variables(migrations, migrate, db):
    migrations.write("0001_grant.sql", "-- +goose Up\n-- +goose ENVSUB ON\nGRANT SELECT ON pg_class TO ${APP_ROLE};\n")

    run = migrate("up")

    assert run.code == 3
    assert "ENVSUB" in run.stderr and "0001_grant.sql" in run.stderr
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)
