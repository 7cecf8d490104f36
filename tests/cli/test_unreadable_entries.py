"""An entry named like a migration that is not a readable file is refused (exit 3), never skipped."""

from __future__ import annotations

import os

import pytest


def _loop(path):
    os.symlink(path, path)


def _dangling(path):
    os.symlink(path.with_name("nowhere.sql"), path)


def _fifo(path):
    os.mkfifo(path)


def _folder(path):
    path.mkdir()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_loop, "is a symlink loop"),
        (_dangling, "is a symlink to nothing (dangling)"),
        (_fifo, "is a FIFO"),
        (_folder, "has no up.sql or migration.sql"),
    ],
)
def test_an_unreadable_entry_named_like_a_migration_is_refused_and_nothing_runs(
    migrations, migrate, db, make, expected
):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0003_workspaces.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")
    make(migrations.path / "0002_region.sql")

    run = migrate("up")

    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr
    fatal = run.log_lines("MIGRATION_SOURCE_INVALID")
    assert fatal and "0002_region.sql" in fatal[0] and expected in fatal[0], run.stderr
    assert db.execute("SELECT to_regclass('organisations')").fetchone() == (None,), "nothing ran"


def test_a_file_name_that_is_not_utf8_is_refused_after_everything_was_applied(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    with open(os.fsencode(migrations.path) + b"/0002_region\xff.sql", "wb") as file:
        file.write(b"CREATE TABLE regions (id bigint PRIMARY KEY);")

    run = migrate("up")

    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr
    fatal = run.log_lines("MIGRATION_SOURCE_INVALID")
    assert fatal and "malformed migration file name" in fatal[0], run.stderr
