"""Applying migrations: in order, each once, recorded in the tracking table the runbook queries."""

from __future__ import annotations


def test_up_applies_pending_migrations_in_version_order_and_records_them(migrations, migrate, db):
    migrations.write("0002_add_region.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    migrations.write("0001_create_organisations.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write("10_add_index.sql", "CREATE INDEX organisations_name_idx ON organisations (name);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    rows = db.execute(
        "SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;"
    ).fetchall()
    assert [r[0] for r in rows] == [10, 2, 1]
    applied = run.log_lines("MIGRATION_APPLIED")
    assert [line.split("version=")[1].split()[0] for line in applied] == ["0001", "0002", "10"]
    assert all(line.startswith("[migrate-bootstrap] INFO: applied migration") for line in applied)


def test_second_up_is_a_no_op_that_exits_zero_and_says_so(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE t (id int);")
    assert migrate("up").code == 0

    again = migrate("up")

    assert again.code == 0
    assert not again.log_lines("MIGRATION_APPLIED")
    assert again.log_lines("MIGRATIONS_UP_TO_DATE")


def test_a_migration_that_changes_search_path_or_role_does_not_leak_into_the_next(migrations, migrate, db):
    db.execute("CREATE SCHEMA elsewhere")
    migrations.write(
        "0001_dump_style.sql",
        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.organisations (id int);\n"
        "SET statement_timeout = 1;",
    )
    migrations.write("0002_set_path.sql", "SET search_path = elsewhere;\nCREATE TABLE in_elsewhere (id int);")
    migrations.write("0003_plain.sql", "CREATE TABLE in_public (id int);\nSELECT pg_sleep(0.01);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT to_regclass('public.in_public'), to_regclass('elsewhere.in_elsewhere')").fetchone() == (
        "in_public",
        "elsewhere.in_elsewhere",
    )
    assert db.execute("SELECT count(*) FROM public.platform_migrations").fetchone() == (3,)


def test_statements_with_percent_signs_and_dollar_quotes_run_verbatim(migrations, migrate, db):
    migrations.write(
        "0001_functions.sql",
        "CREATE TABLE notes (body text);\n"
        "INSERT INTO notes VALUES ('100% done; really'), ($tag$it's $$quoted$$; fine$tag$);\n"
        "CREATE FUNCTION pct(x numeric) RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  RETURN format('%s%%', x);  -- a comment; with a semicolon\nEND;\n$$;\n"
        "DO $$ BEGIN IF pct(5) <> '5%' THEN RAISE EXCEPTION 'bad'; END IF; END $$;",
    )

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT body FROM notes ORDER BY body").fetchall() == [
        ("100% done; really",),
        ("it's $$quoted$$; fine",),
    ]
