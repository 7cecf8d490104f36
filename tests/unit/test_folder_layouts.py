"""What a migrations folder may hold: files, one folder per migration, or nothing by design.

A folder with nothing the tool recognises is refused naming what it holds (a mis-mounted volume
must never look "up to date"); an empty history is accepted only with the marker file.
No database: ``source.scan`` only reads the folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scrydon_migrate import source
from scrydon_migrate.errors import ExitCode, SourceError

SERVICE = "platform"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "migrations" / SERVICE
    path.mkdir(parents=True)
    return path


def write(path: Path, sql: str = "CREATE TABLE t (id int);\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql, encoding="utf-8")
    return path


def refusal(folder: Path) -> SourceError:
    with pytest.raises(SourceError) as caught:
        source.scan(SERVICE, folder)
    assert caught.value.exit_code is ExitCode.CONFIG
    return caught.value


def test_an_empty_folder_is_refused_saying_it_is_empty_and_how_to_mean_it(folder: Path) -> None:
    error = refusal(folder)

    assert "holds no migration file: it is empty" in error.message
    assert source.EMPTY_MARKER in (error.hint or "")


def test_a_folder_with_only_other_files_is_refused_naming_them(folder: Path) -> None:
    write(folder / "README.md", "docs\n")
    write(folder / "schema.rb", "")
    write(folder / "nested" / "x.sql")

    error = refusal(folder)

    assert "1 folder (nested)" in error.message
    assert "2 other files (README.md, schema.rb)" in error.message


def test_an_empty_folder_with_the_marker_file_has_no_migrations_by_design(folder: Path) -> None:
    (folder / source.EMPTY_MARKER).touch()

    assert source.scan(SERVICE, folder) == []


def test_a_diesel_folder_per_migration_is_read_from_up_sql_with_the_dashes_dropped(folder: Path) -> None:
    write(folder / "00000000000000_diesel_initial_setup" / "up.sql")
    write(folder / "2024-01-31-120000_create_users" / "up.sql")
    write(folder / "2024-01-31-120000_create_users" / "down.sql", "DROP TABLE users;")

    found = source.scan(SERVICE, folder)

    assert [(f.version, f.name, f.file) for f in found] == [
        (0, "diesel_initial_setup", "00000000000000_diesel_initial_setup/up.sql"),
        (20240131120000, "create_users", "2024-01-31-120000_create_users/up.sql"),
    ]


def test_a_prisma_folder_per_migration_is_read_from_migration_sql(folder: Path) -> None:
    write(folder / "20240131120000_init" / "migration.sql")
    write(folder / "migration_lock.toml", 'provider = "postgresql"\n')

    [found] = source.scan(SERVICE, folder)

    assert (found.version, found.file) == (20240131120000, "20240131120000_init/migration.sql")


def test_a_migration_folder_without_up_sql_is_refused_naming_what_it_holds(folder: Path) -> None:
    write(folder / "0001_init" / "deploy.sql")

    error = refusal(folder)

    assert "'0001_init'" in error.message and "deploy.sql" in error.message
    assert error.fields["file"].endswith("0001_init")


def test_a_folder_and_a_file_with_the_same_version_are_duplicates(folder: Path) -> None:
    write(folder / "0001_init" / "up.sql")
    write(folder / "0001_init.sql")

    assert "duplicate migration version 0001" in refusal(folder).message


@pytest.mark.parametrize(
    ("marker", "layout"),
    [("sqitch.plan", "Sqitch"), ("alembic.ini", "Alembic"), ("atlas.sum", "Atlas"), ("flyway.conf", "Flyway")],
)
def test_another_tools_layout_is_refused_naming_it(folder: Path, marker: str, layout: str) -> None:
    write(folder / marker, "")
    write(folder / "0001_init.sql")

    error = refusal(folder)

    assert layout in error.message
    assert "adopt" in (error.hint or "")


def test_a_folder_named_like_a_migration_but_malformed_is_refused(folder: Path) -> None:
    write(folder / "0001-init" / "up.sql")

    assert "named like a migration" in refusal(folder).message


def test_the_first_migration_can_be_scaffolded_into_an_empty_folder(folder: Path) -> None:
    from scrydon_migrate import scaffold

    scaffold.new_migration(SERVICE, folder, "create_users")

    assert [f.file for f in source.scan(SERVICE, folder)] == ["0001_create_users.sql"]
