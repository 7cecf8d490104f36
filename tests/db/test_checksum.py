"""An applied migration is never edited: a changed statement is refused, reformatting is not a change."""

from __future__ import annotations

ORIGINAL = """-- organisations
CREATE TABLE organisations (id bigint PRIMARY KEY, name text DEFAULT 'acme');
CREATE INDEX organisations_name_idx ON organisations (name);
"""


def test_reformatted_applied_migration_is_not_a_change(migrations, migrate):
    migrations.write("0001_create.sql", ORIGINAL)
    assert migrate("up").code == 0

    migrations.write(
        "0001_create.sql",
        "/* reformatted */\ncreate table organisations (\n  id bigint primary key,\n  name text default 'acme'\n);\n"
        "-- same index\ncreate index organisations_name_idx\n  on organisations (name);\n",
    )

    run = migrate("up")
    assert run.code == 0, run.stderr


def test_edited_applied_migration_is_refused_naming_file_version_and_first_changed_statement(migrations, migrate):
    migrations.write("0001_create.sql", ORIGINAL)
    assert migrate("up").code == 0

    migrations.write("0001_create.sql", ORIGINAL.replace("(name)", "(lower(name))"))
    run = migrate("up")

    assert run.code == 6
    line = run.log_lines("MIGRATION_CHECKSUM_MISMATCH")[0]
    assert "applied migration 0001 (0001_create.sql)" in line
    assert "statement 2 on line 3" in line
    assert "version=0001" in line and "file=" in line


def test_changed_literal_is_a_change(migrations, migrate):
    migrations.write("0001_create.sql", ORIGINAL)
    assert migrate("up").code == 0

    migrations.write("0001_create.sql", ORIGINAL.replace("'acme'", "'other'"))

    assert migrate("up").code == 6


def test_edited_applied_migration_is_refused_before_anything_pending_runs(migrations, migrate, db):
    migrations.write("0001_create.sql", ORIGINAL)
    assert migrate("up").code == 0
    migrations.write("0001_create.sql", ORIGINAL.replace("'acme'", "'other'"))
    migrations.write("0002_next.sql", "CREATE TABLE later (id int);")

    assert migrate("up").code == 6
    assert db.execute("SELECT to_regclass('later')").fetchone() == (None,)


def test_an_applied_migration_edited_down_to_a_comment_is_a_checksum_mismatch(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    migrations.write("0001_create.sql", "--")

    run = migrate("up")

    assert run.code == 6, run.stderr
    assert run.log_lines("MIGRATION_CHECKSUM_MISMATCH")
