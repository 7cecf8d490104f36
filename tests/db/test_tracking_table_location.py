"""The tracking table stays where it is: it never follows ``current_schema()``, and its lock is one lock."""

from __future__ import annotations

import psycopg

from scrydon_migrate import tracking


def test_a_migration_that_creates_the_first_schema_on_the_search_path_does_not_move_the_tracking_table(
    migrations, migrate, db
):
    role = db.execute("SELECT current_user").fetchone()[0]
    migrations.write("0001_user_schema.sql", f'CREATE SCHEMA "{role}";\nCREATE TABLE public.orgs (id int);')
    assert migrate("up").code == 0
    migrations.write("0002_more.sql", "CREATE TABLE public.plans (id int);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert run.log_lines("MIGRATION_APPLIED")
    tables = db.execute("SELECT count(*) FROM pg_class WHERE relname = 'platform_migrations'").fetchone()
    assert tables == (1,)
    assert migrate("verify").code == 0


def test_a_search_path_that_no_longer_holds_the_tracking_table_still_finds_it(migrations, migrate, db, db_url):
    migrations.write("0001_create.sql", "CREATE TABLE orgs (id int);")
    assert migrate("up").code == 0
    database = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    db.execute(f'ALTER DATABASE "{database}" SET search_path = pg_catalog')
    migrations.write("0002_more.sql", "CREATE TABLE public.plans (id int);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*) FROM pg_class WHERE relname = 'platform_migrations'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM public.platform_migrations").fetchone() == (2,)


def test_two_spellings_of_the_tracking_table_take_the_same_migration_lock(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE orgs (id int);")
    assert migrate("up").code == 0

    plain = tracking.locate(db, "platform_migrations")
    qualified = tracking.locate(db, "public.platform_migrations")

    assert plain == qualified
    assert plain[0] == "public.platform_migrations"
