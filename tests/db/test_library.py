"""A service can run its migrations from Python on start-up, with the same guarantees as the command."""

from __future__ import annotations

import pytest

import scrydon_migrate
from scrydon_migrate.errors import ExitCode, StatementFailed


def test_up_from_python_applies_and_returns_what_it_did(migrations, db_url, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")

    result = scrydon_migrate.up("platform", database_url=db_url, migrations_dir=migrations.path)

    assert [a.version for a in result.applied] == ["0001"]
    assert scrydon_migrate.up("auth", database_url=db_url, migrations_dir=migrations.path).applied == ()


def test_up_from_python_raises_an_error_carrying_the_exit_code_and_the_failure(migrations, db_url):
    migrations.write("0001_broken.sql", "CREATE TABLE t (id int);\nALTER TABLE nowhere ADD COLUMN x int;")

    with pytest.raises(StatementFailed) as caught:
        scrydon_migrate.up("platform", database_url=db_url, migrations_dir=migrations.path)

    assert caught.value.exit_code == ExitCode.MIGRATION_FAILED
    doc = caught.value.to_dict()
    assert doc["version"] == "0001" and doc["line"] == 2 and doc["sqlstate"] == "42P01"
