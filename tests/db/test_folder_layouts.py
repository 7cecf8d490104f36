"""`up` on folder-per-migration layouts, and on a folder with nothing it recognises."""

from __future__ import annotations


def test_a_diesel_history_applies_from_its_up_sql_files_and_never_runs_down_sql(migrations, migrate, db):
    migrations.write("00000000000000_diesel_initial_setup/up.sql", "CREATE TABLE setup_done (id int);")
    migrations.write("2024-01-31-120000_create_users/up.sql", "CREATE TABLE users (id bigint PRIMARY KEY);")
    migrations.write("2024-01-31-120000_create_users/down.sql", "DROP TABLE setup_done;")

    first = migrate("up")
    second = migrate("up")

    assert first.code == 0, first.stderr
    assert "file=2024-01-31-120000_create_users/up.sql" in first.log_lines("MIGRATION_APPLIED")[1]
    assert second.code == 0 and not second.log_lines("MIGRATION_APPLIED")
    assert db.execute("SELECT version, file FROM platform_migrations ORDER BY version").fetchall() == [
        (0, "00000000000000_diesel_initial_setup/up.sql"),
        (20240131120000, "2024-01-31-120000_create_users/up.sql"),
    ]
    assert db.execute("SELECT to_regclass('setup_done'), to_regclass('users')").fetchone() == ("setup_done", "users")


def test_up_on_a_folder_with_no_migration_file_exits_3_and_writes_nothing(migrations, migrate, db):
    migrations.write("README.md", "the SQL is in another ConfigMap\n")

    run = migrate("up")

    assert run.code == 3
    [fatal] = run.log_lines("MIGRATION_SOURCE_INVALID")
    assert "holds no migration file: found 1 other file (README.md)" in fatal
    assert not run.log_lines("MIGRATIONS_UP_TO_DATE")
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)


def test_up_on_a_folder_empty_by_design_is_up_to_date(migrations, migrate):
    migrations.write(".scrydon-migrate-empty", "")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert run.log_lines("MIGRATIONS_UP_TO_DATE")
