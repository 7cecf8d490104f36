"""A file over a million characters is kept as columns (``analysis.Statements``): up applies it as any other.

Its statements are made when the guard and the runner read them; what is applied, journaled and
recorded must be what a small file's statements give.
"""

from __future__ import annotations

import pytest

from scrydon_migrate import analysis, source

#: Twenty rows a statement: a file of 2,200 statements is just over a million characters.
ROWS = 20


def data_load(table: str, statements: int, first: int = 0) -> str:
    out = []
    for s in range(first, first + statements):
        rows = ", ".join(f"({s * ROWS + r}, 'entry number {s * ROWS + r} of the load')" for r in range(ROWS))
        out.append(f"INSERT INTO {table} (id, note) VALUES {rows};\n")
    return "".join(out)


def checksum_as_small_file(path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The file's checksum parsed statement by statement as a small file is, never as columns."""
    (found,) = [f for f in source.scan("platform", path.parent) if f.path == path]
    with monkeypatch.context() as patched:
        patched.setattr(analysis, "KEEP_TREES_CHARS", 10**12)
        return source.load(found).checksum


def test_a_large_transactional_file_applies_and_records_the_small_files_checksum(migrations, migrate, db, monkeypatch):
    migrations.write("0001_ledger.sql", "CREATE TABLE ledger (id bigint PRIMARY KEY, note text NOT NULL);\n")
    path = migrations.write("0002_load.sql", data_load("ledger", 2_200))
    assert path.stat().st_size > source.LARGE_FILE_CHARS

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*), max(id) FROM ledger").fetchone() == (2_200 * ROWS, 2_200 * ROWS - 1)
    assert db.execute(
        "SELECT status, statements_done, statements_total, checksum FROM platform_migrations WHERE version = 2"
    ).fetchone() == ("applied", 2_200, 2_200, checksum_as_small_file(path, monkeypatch))


def test_a_large_journaled_file_resumes_at_its_failed_statement(migrations, migrate, db, monkeypatch):
    migrations.write("0001_ledger.sql", "CREATE TABLE ledger (id bigint PRIMARY KEY, note text NOT NULL);\n")
    head = "-- migrate:no-transaction\n" + data_load("ledger", 1_200)
    tail = data_load("ledger", 1_000, first=1_200)
    migrations.write("0002_load.sql", head + data_load("missing", 1, first=5_000) + tail)

    failed = migrate("up")

    assert failed.code == 5, failed.stderr
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "failed",
        1_200,
    )
    path = migrations.write("0002_load.sql", head + data_load("ledger", 1, first=5_000) + tail)

    resumed = migrate("up")

    assert resumed.code == 0, resumed.stderr
    assert db.execute("SELECT count(*) FROM ledger").fetchone() == (2_201 * ROWS,)
    assert db.execute(
        "SELECT status, statements_done, statements_total, checksum FROM platform_migrations WHERE version = 2"
    ).fetchone() == ("applied", 2_201, 2_201, checksum_as_small_file(path, monkeypatch))
