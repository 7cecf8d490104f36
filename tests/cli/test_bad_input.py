"""Bad input is refused before anything runs: a clear message, the file and line, a non-zero exit, no traceback."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures.cli import run_cli


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("README.md", None, None),
        ("0002_notes.sql.bak", "SELECT 1;", "malformed migration file name"),
        ("0002-add region.sql", "SELECT 1;", "malformed migration file name"),
        ("0002_blank.sql", "", "is empty"),
        ("0002_latin1.sql", b"SELECT 'caf\xe9';", "is not valid UTF-8"),
        ("0002_meta.sql", "SELECT 1;\n\\set x 1\nSELECT 2;", "does not parse"),
        ("0002_dollar.sql", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;", "does not parse"),
        ("0002_commit.sql", "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);", "controls transactions"),
        ("1_duplicate.sql", "SELECT 1;", "duplicate migration version"),
    ],
)
def test_bad_migration_file_is_refused_with_exit_3_and_nothing_is_applied(
    migrations, migrate, db, name, content, expected
):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    if content is None:
        migrations.write(name, "SELECT 1;")
        assert migrate("up").code == 0, "a file that is not numbered like a migration is ignored"
        return
    migrations.write(name, content)

    run = migrate("up")

    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr
    fatal = run.log_lines("MIGRATION_SOURCE_INVALID")
    assert fatal and expected in fatal[0] and "hint=" in fatal[0]
    assert "file=" in fatal[0]
    assert db.execute("SELECT to_regclass('organisations')").fetchone() == (None,), "nothing ran"


def test_parse_error_names_the_line_and_explains_psql_meta_commands(migrations, migrate):
    migrations.write("0001_meta.sql", "SELECT 1;\n\n\\set x 1\n")

    run = migrate("up")

    line = run.log_lines("MIGRATION_SOURCE_INVALID")[0]
    assert "(line 3, column 1)" in line and "line=3" in line
    assert "psql meta-commands" in line


def test_unreachable_database_exits_4_without_leaking_the_password(migrations):
    migrations.write("0001_create.sql", "CREATE TABLE t (id int);")
    url = f"postgresql://platform:s3cr3t-pw@127.0.0.1:{_closed_port()}/auth"

    run = run_cli(
        "up", "--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path), "--json"
    )

    assert run.code == 4
    assert "s3cr3t-pw" not in run.stderr + run.stdout
    assert "can't connect to the database of service 'platform' at platform@127.0.0.1" in run.stderr
    assert run.json()["error"] == "DatabaseUnavailable"


def test_wait_for_db_retries_with_backoff_before_giving_up(migrations):
    migrations.write("0001_create.sql", "CREATE TABLE t (id int);")
    url = f"postgresql://platform@127.0.0.1:{_closed_port()}/auth"

    run = run_cli(
        "up",
        "--service",
        "platform",
        "--database-url",
        url,
        "--migrations-dir",
        str(migrations.path),
        "--wait-for-db",
        "1",
    )

    assert run.code == 4
    assert run.log_lines("DATABASE_WAITING")


def test_bad_config_file_is_a_config_error_naming_the_file(tmp_path):
    config = tmp_path / "scrydon-migrate.toml"
    config.write_text("lock_wait_s = [\n")

    run = run_cli("status", "--config", str(config))

    assert run.code == 3
    assert "is not valid TOML" in run.stderr and "scrydon-migrate.toml" in run.stderr


def test_missing_migrations_folder_is_a_config_error(tmp_path, db_url):
    run = run_cli("up", "--service", "cortex", "--database-url", db_url, "--migrations-dir", str(tmp_path / "nope"))

    assert run.code == 3
    assert "no migrations folder for service 'cortex'" in run.stderr
