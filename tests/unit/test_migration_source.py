"""Migration files on disk: which are found, in what order, and which are refused and how.

Every refusal must tell the user which file, which line when there is one, and what to do.
No database: ``source.scan`` and ``source.load`` only read files and parse them with pglast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scrydon_migrate import source
from scrydon_migrate.analysis import parse_statements
from scrydon_migrate.errors import ExitCode, SourceError
from scrydon_migrate.source import Migration

SERVICE = "platform"
FILE = "0001_create_organisations.sql"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "migrations" / SERVICE
    path.mkdir(parents=True)
    return path


def write(folder: Path, name: str, sql: str | bytes = "CREATE TABLE t (id int);\n") -> Path:
    target = folder / name
    if isinstance(sql, bytes):
        target.write_bytes(sql)
    else:
        target.write_text(sql, encoding="utf-8")
    return target


def scan(folder: Path) -> list[source.MigrationFile]:
    return source.scan(SERVICE, folder)


def load_one(folder: Path, sql: str | bytes, name: str = FILE) -> Migration:
    write(folder, name, sql)
    (found,) = scan(folder)
    return source.load(found)


def refusal(folder: Path, sql: str | bytes, name: str = FILE) -> SourceError:
    with pytest.raises(SourceError) as caught:
        load_one(folder, sql, name)
    return caught.value


def lines(migration: Migration) -> list[tuple[int, str]]:
    return [(s.line, s.text) for s in migration.statements]


# --- discovery: names and order -------------------------------------------------------------


def test_files_are_ordered_by_numeric_version_not_by_name(folder: Path) -> None:
    for name in ("10_c.sql", "0011_d.sql", "2_b.sql", "20260501120000_e.sql", "0001_a.sql"):
        write(folder, name)

    found = scan(folder)

    assert [f.version for f in found] == [1, 2, 10, 11, 20260501120000]
    assert [f.file for f in found] == ["0001_a.sql", "2_b.sql", "10_c.sql", "0011_d.sql", "20260501120000_e.sql"]


def test_version_text_and_slug_come_from_the_file_name(folder: Path) -> None:
    write(folder, "0042_add_org-region.v2.sql")

    (found,) = scan(folder)

    assert (found.version, found.version_text, found.name, found.file) == (
        42,
        "0042",
        "add_org-region.v2",
        "0042_add_org-region.v2.sql",
    )
    assert found.service == SERVICE


def test_golang_migrate_up_files_are_accepted_and_down_files_ignored(folder: Path) -> None:
    write(folder, "0001_create.up.sql", "CREATE TABLE a (id int);")
    write(folder, "0001_create.down.sql", "DROP TABLE a;")
    write(folder, "0002_more.sql", "CREATE TABLE b (id int);")
    write(folder, "0003_gone.down.sql", "DROP TABLE c;")

    found = scan(folder)

    assert [(f.version, f.name, f.file) for f in found] == [
        (1, "create", "0001_create.up.sql"),
        (2, "more", "0002_more.sql"),
    ]
    assert lines(source.load(found[0])) == [(1, "CREATE TABLE a (id int)")]


def test_readme_and_other_non_sql_files_are_ignored(folder: Path) -> None:
    write(folder, "0001_create.sql")
    write(folder, "README.md", "# how to write migrations\n")
    write(folder, "notes.txt", "remember 0002\n")
    write(folder, ".gitkeep", "")
    write(folder, ".0002_hidden.sql")
    (folder / "archive").mkdir()
    write(folder / "archive", "0003_old.sql")

    assert [f.file for f in scan(folder)] == ["0001_create.sql"]


def test_a_missing_migrations_folder_is_refused_naming_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "migrations" / SERVICE

    with pytest.raises(SourceError) as caught:
        scan(missing)

    assert str(missing) in caught.value.message
    assert "--migrations-dir" in caught.value.hint


@pytest.mark.parametrize(
    "name",
    [
        "create_organisations.sql",
        "1.sql",
        "0001_.sql",
        "0001-create.sql",
        "0001_add column.sql",
        "0001_x.SQL",
        "V1.1__create.sql",
        "V1_create.sql",
        "v1__create.sql",
        "R__refresh_views.sql",
        "U1__undo_create.sql",
    ],
)
def test_a_malformed_sql_file_name_is_refused_naming_the_file_and_how_to_name_it(folder: Path, name: str) -> None:
    write(folder, "0001_fine.sql")
    write(folder, name)

    with pytest.raises(SourceError) as caught:
        scan(folder)

    error = caught.value
    assert name in error.message
    assert Path(error.fields["file"]).name == name
    assert "<version>_<slug>.sql" in error.hint
    assert "0042_add_org_region.sql" in error.hint
    assert error.exit_code is ExitCode.CONFIG


@pytest.mark.parametrize("name", ["0002_add_region.sq", "0002_add_region.sql.txt", "0002_add_region.sql~"])
def test_a_numbered_file_with_a_wrong_extension_is_refused_not_silently_skipped(folder: Path, name: str) -> None:
    write(folder, name)

    with pytest.raises(SourceError) as caught:
        scan(folder)

    assert name in caught.value.message
    assert "<version>_<slug>.sql" in caught.value.hint


def test_a_flyway_versioned_name_is_read_as_its_version(folder: Path) -> None:
    # The brief for these tests asked for V1__x.sql to be refused. source.py reads it on purpose
    # (commit e4de78f, "accept Flyway names"), so this pins what the code does. See the report.
    write(folder, "V3__add_region.sql")
    write(folder, "0002_create.sql")

    found = scan(folder)

    assert [(f.version, f.version_text, f.name) for f in found] == [(2, "0002", "create"), (3, "3", "add_region")]


def test_a_version_that_does_not_fit_64_bits_is_refused(folder: Path) -> None:
    write(folder, "99999999999999999999_too_big.sql")

    with pytest.raises(SourceError) as caught:
        scan(folder)

    assert "99999999999999999999_too_big.sql" in caught.value.message
    assert "64-bit" in caught.value.hint


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("0001_a.sql", "1_b.sql"),
        ("0007_create.sql", "0007_create.up.sql"),
        ("0003_a.sql", "V3__b.sql"),
    ],
)
def test_duplicate_versions_are_refused_naming_both_files(folder: Path, first: str, second: str) -> None:
    write(folder, first)
    write(folder, second)

    with pytest.raises(SourceError) as caught:
        scan(folder)

    error = caught.value
    assert "duplicate migration version" in error.message
    assert repr(first) in error.message
    assert repr(second) in error.message
    assert "next free version" in error.hint
    assert "never renumber" in error.hint


def test_scan_hashes_the_file_bytes(folder: Path) -> None:
    write(folder, "0001_a.sql", "CREATE TABLE a (id int);")
    write(folder, "0002_b.sql", "CREATE TABLE a (id int);\n")

    first, second = scan(folder)

    assert len(first.content_sha256) == 64
    assert first.content_sha256 != second.content_sha256


# --- content: empty, encoding -----------------------------------------------------------------


@pytest.mark.parametrize("sql", ["", "   \n\n\t\n", "\ufeff"], ids=["empty", "blank", "only-bom"])
def test_an_empty_file_is_refused_with_a_hint(folder: Path, sql: str) -> None:
    error = refusal(folder, sql)

    assert error.message == f"migration {FILE!r} is empty"
    assert "add the statements, or delete the file" in error.hint
    assert Path(error.fields["file"]).name == FILE
    assert error.fields["version"] == "0001"


@pytest.mark.parametrize(
    "sql",
    ["-- nothing here yet\n", "/* a block\n   comment */\n-- and a line comment\n", ";\n;\n"],
    ids=["line-comment", "block-comment", "only-semicolons"],
)
def test_a_file_with_only_comments_is_a_no_op_migration(folder: Path, sql: str) -> None:
    """golang-migrate and Flyway histories ship comment-only placeholders: they are applied as no-ops."""
    (folder / FILE).write_text(sql)

    (found,) = source.scan("platform", folder)
    migration = source.load(found)

    assert migration.statements == ()
    assert migration.transactional


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(folder: Path) -> None:
    latin1 = "CREATE TABLE a (id int);\n-- créé en latin-1\nCREATE TABLE b (id int);\n".encode("latin-1")

    error = refusal(folder, latin1)

    assert FILE in error.message
    assert "not valid UTF-8" in error.message
    assert "byte 0xe9 on line 2" in error.message
    assert error.fields["line"] == 2
    assert "UTF-8" in error.hint


def test_a_nul_byte_is_refused_naming_the_line(folder: Path) -> None:
    error = refusal(folder, b"CREATE TABLE a (id int);\n\nSELECT 1;\x00\n")

    assert error.message == f"migration {FILE!r} contains a NUL byte on line 3"
    assert error.fields["line"] == 3
    assert "binary content" in error.hint


def test_a_utf8_byte_order_mark_is_accepted(folder: Path) -> None:
    migration = load_one(folder, "\ufeffCREATE TABLE a (id int);\n")

    assert lines(migration) == [(1, "CREATE TABLE a (id int)")]


# --- content: parse errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "line", "column"),
    [
        ("CREATE TABLE a (\n  id int,\n);\n", 3, 1),
        ("CREATE TABLE a (id int);\nCREATE TABLE b (id int,);\n", 2, 24),
        ("-- préambule ünïcode ☃\nSELECT 'é', ;\n", 2, 13),
        ("CREATE TABLE a (id int);\n\n  SELEC 1;\n", 3, 3),
    ],
    ids=["own-line", "mid-line", "non-ascii-before", "indented-typo"],
)
def test_a_parse_error_names_the_1_based_line_and_column(folder: Path, sql: str, line: int, column: int) -> None:
    error = refusal(folder, sql)

    assert f"migration {FILE!r} does not parse" in error.message
    assert f"(line {line}, column {column})" in error.message
    assert error.fields["line"] == line
    assert Path(error.fields["file"]).name == FILE
    assert "fix the SQL at that line" in error.hint


def test_a_parse_error_at_the_end_of_the_file_points_at_the_end_not_at_line_1(folder: Path) -> None:
    sql = "CREATE TABLE a (id int);\n\nCREATE TABLE b (\n    id int"

    error = refusal(folder, sql)

    assert "end of input" in error.message
    assert error.fields["line"] in (3, 4)
    assert "(line 3," in error.message or "(line 4," in error.message


@pytest.mark.parametrize("meta", ["\\set x 1", "\\connect auth", "\\i other.sql", "  \\gset"])
def test_a_psql_meta_command_is_refused_with_a_hint_about_psql_meta_commands(folder: Path, meta: str) -> None:
    error = refusal(folder, f"CREATE TABLE a (id int);\n{meta}\nCREATE TABLE b (id int);\n")

    assert error.fields["line"] == 2
    assert "(line 2," in error.message
    assert "psql meta-commands" in error.hint


def test_pg_dumps_restrict_lines_are_blank_to_the_server_and_leave_lines_and_checksum_as_without_them(
    folder: Path,
) -> None:
    body = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
    (folder / "dumped").mkdir()
    (folder / "plain").mkdir()
    dumped = load_one(folder / "dumped", "\\restrict Zk3xQ9\r\n" + body + "\\unrestrict Zk3xQ9\n")
    plain = load_one(folder / "plain", "\n" + body)

    assert [(s.line, s.checksum) for s in dumped.statements] == [(s.line, s.checksum) for s in plain.statements]
    assert "restrict" not in dumped.sql


@pytest.mark.parametrize("meta", ["\\restrict", "\\restrict a b", "\\unrestrict key; DROP TABLE a", " \\restrict key"])
def test_a_restrict_line_not_as_pg_dump_writes_it_is_refused_as_a_meta_command(folder: Path, meta: str) -> None:
    error = refusal(folder, f"CREATE TABLE a (id int);\n{meta}\nCREATE TABLE b (id int);\n")

    assert error.fields["line"] == 2
    assert "psql meta-commands" in error.hint


def test_an_unterminated_dollar_quote_is_refused_naming_where_it_starts(folder: Path) -> None:
    sql = (
        "CREATE TABLE a (id int);\n"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n"
        "  RETURN NEW;\n"
        "END;\n"
    )

    error = refusal(folder, sql)

    assert "unterminated dollar-quoted string" in error.message
    assert "(line 2, column 61)" in error.message
    assert error.fields["line"] == 2


# --- directives ----------------------------------------------------------------------------------


def test_an_unknown_directive_is_refused_naming_its_line_and_the_known_ones(folder: Path) -> None:
    error = refusal(folder, "CREATE TABLE a (id int);\n\n-- migrate:foo\nCREATE TABLE b (id int);\n")

    assert "unknown directive '-- migrate:foo'" in error.message
    assert FILE in error.message
    assert "on line 3" in error.message
    assert error.fields["line"] == 3
    assert "-- migrate:no-transaction" in error.hint


@pytest.mark.parametrize(
    "directive", ["-- migrate:no-transaction", "--migrate:no-transaction", "  -- migrate:no-transaction  "]
)
def test_the_no_transaction_directive_makes_a_migration_non_transactional(folder: Path, directive: str) -> None:
    migration = load_one(folder, f"{directive}\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")

    assert migration.transactional is False
    assert [(d.name, d.line) for d in migration.directives] == [("no-transaction", 1)]
    assert lines(migration) == [(2, "CREATE TABLE a (id int)"), (3, "CREATE TABLE b (id int)")]


def test_a_plain_migration_is_transactional(folder: Path) -> None:
    migration = load_one(folder, "CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n")

    assert migration.transactional is True
    assert migration.directives == ()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY organisations_name_idx ON organisations (name)",
        "create unique index concurrently if not exists organisations_slug_idx on organisations (slug)",
        "DROP INDEX CONCURRENTLY organisations_name_idx",
        "REINDEX INDEX CONCURRENTLY organisations_name_idx",
        "REINDEX (VERBOSE) TABLE CONCURRENTLY organisations",
        "VACUUM organisations",
        "VACUUM (ANALYZE) organisations",
        "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY",
        "REINDEX SCHEMA public",
        "REINDEX DATABASE auth",
    ],
)
def test_a_statement_that_cannot_run_in_a_transaction_makes_the_migration_non_transactional(
    folder: Path, statement: str
) -> None:
    migration = load_one(folder, f"CREATE TABLE organisations (id int, name text, slug text);\n{statement};\n")

    assert migration.transactional is False
    assert [s.transactional for s in migration.statements] == [True, False]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$;\n",
        "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'a') THEN\n"
        "    CREATE TABLE a (id int);\n  END IF;\nEND\n$$;\n",
        "CREATE PROCEDURE backfill() LANGUAGE plpgsql AS $proc$\nBEGIN\n  COMMIT;\nEND\n$proc$;\n",
        "CREATE INDEX organisations_name_idx ON organisations (name);\nREINDEX INDEX organisations_name_idx;\n",
        "ANALYZE organisations;\n",
        "SELECT 'CREATE INDEX CONCURRENTLY i ON t (a); VACUUM; COMMIT;';\n",
    ],
    ids=["plpgsql-function", "do-block", "procedure-with-commit", "plain-index-and-reindex", "analyze", "in-a-string"],
)
def test_plpgsql_bodies_do_blocks_and_plain_statements_stay_transactional(folder: Path, sql: str) -> None:
    migration = load_one(folder, sql)

    assert migration.transactional is True


# --- BEGIN / COMMIT --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("BEGIN;", "COMMIT;"), ("begin transaction;", "commit work;"), ("START TRANSACTION;", "END;")],
)
def test_a_begin_commit_pair_wrapping_the_whole_file_is_dropped(folder: Path, opening: str, closing: str) -> None:
    migration = load_one(
        folder, f"-- wrapped like a pg_dump\n{opening}\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n{closing}\n"
    )

    assert lines(migration) == [(3, "CREATE TABLE a (id int)"), (4, "CREATE TABLE b (id int)")]
    assert [s.index for s in migration.statements] == [0, 1]
    assert migration.transactional is True


@pytest.mark.parametrize(
    ("sql", "line", "text"),
    [
        ("CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n", 2, "COMMIT"),
        ("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n", 3, "COMMIT"),
        ("BEGIN;\nCREATE TABLE a (id int);\n", 1, "BEGIN"),
        ("CREATE TABLE a (id int);\nROLLBACK;\n", 2, "ROLLBACK"),
        ("CREATE TABLE a (id int);\n\n  SAVEPOINT before_b;\nCREATE TABLE b (id int);\n", 3, "SAVEPOINT before_b"),
    ],
    ids=["commit-in-the-middle", "two-wrapped-blocks", "begin-without-commit", "rollback", "savepoint"],
)
def test_transaction_control_inside_a_migration_is_refused_naming_its_line(
    folder: Path, sql: str, line: int, text: str
) -> None:
    error = refusal(folder, sql)

    assert f"migration {FILE!r} controls transactions itself" in error.message
    assert f"({text!r} on line {line})" in error.message
    assert error.fields["line"] == line
    assert "remove BEGIN/COMMIT" in error.hint
    assert "-- migrate:no-transaction" in error.hint


# --- dbmate sections ---------------------------------------------------------------------------------


def test_a_dbmate_file_keeps_only_the_up_section(folder: Path) -> None:
    sql = (
        "-- migrate:up\n"
        "CREATE TABLE a (id int);\n"
        "\n"
        "CREATE TABLE b (id int);\n"
        "\n"
        "-- migrate:down\n"
        "DROP TABLE b;\n"
        "DROP TABLE a;\n"
    )

    migration = load_one(folder, sql)

    assert lines(migration) == [(2, "CREATE TABLE a (id int)"), (4, "CREATE TABLE b (id int)")]
    assert "DROP" not in migration.sql
    assert migration.transactional is True


def test_a_marker_is_a_comment_alone_on_its_line_blanks_before_it_allowed(folder: Path) -> None:
    sql = (
        "SELECT 1; -- +goose NO TRANSACTION\n"
        "SELECT 2; -- migrate:nonsense\n"
        "CREATE TABLE a (id int);\n"
        " \t-- +goose Down\n"
        "DROP TABLE a;\n"
    )

    migration = load_one(folder, sql)

    assert (
        migration.sql == "SELECT 1; -- +goose NO TRANSACTION\nSELECT 2; -- migrate:nonsense\nCREATE TABLE a (id int);\n"
    )
    assert migration.transactional is True
    assert migration.directives == ()


def test_a_dbmate_down_directive_on_the_first_line_leaves_an_empty_up_section(folder: Path) -> None:
    migration = load_one(folder, "-- migrate:down\nDROP TABLE a;\n")

    assert (migration.sql, migration.statements) == ("\n", ())


def test_an_error_in_a_dbmate_down_section_does_not_matter(folder: Path) -> None:
    migration = load_one(folder, "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;;; oops\n")

    assert lines(migration) == [(2, "CREATE TABLE a (id int)")]


def test_dbmate_transaction_false_makes_the_up_section_non_transactional(folder: Path) -> None:
    sql = (
        "-- migrate:up transaction:false\n"
        "ALTER TYPE org_kind ADD VALUE 'partner';\n"
        "UPDATE organisations SET kind = 'partner' WHERE partner;\n"
        "-- migrate:down\n"
    )

    migration = load_one(folder, sql)

    assert migration.transactional is False


# --- statements keep their line ------------------------------------------------------------------------


def test_statements_keep_their_first_line_in_the_file(folder: Path) -> None:
    sql = (
        "-- 0001: organisations ☃ — première migration\n"  # 1
        "/* a block comment\n"  # 2
        "   spanning lines; with a semicolon */\n"  # 3
        "\n"  # 4
        "CREATE TABLE organisations (\n"  # 5
        "    id bigint PRIMARY KEY,\n"  # 6
        "    name text NOT NULL DEFAULT 'Société 😀'\n"  # 7
        ");\n"  # 8
        "\n"  # 9
        "-- 日本語のコメント 😀\n"  # 10
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"  # 11
        "BEGIN\n"  # 12
        "    NEW.name := trim(NEW.name); -- a comment; with a semicolon\n"  # 13
        "    RETURN NEW;\n"  # 14
        "END;\n"  # 15
        "$$;\n"  # 16
        "DO $do$ BEGIN PERFORM 1; END $do$; SELECT 'ü'; SELECT 2;\n"  # 17
        "\n"  # 18
        "   /* ünïcödé */ CREATE INDEX organisations_name_idx\n"  # 19
        "    ON organisations (name)"  # 20, no trailing semicolon
    )

    migration = load_one(folder, sql)

    assert [(s.line, s.kind) for s in migration.statements] == [
        (5, "CreateStmt"),
        (11, "CreateFunctionStmt"),
        (17, "DoStmt"),
        (17, "SelectStmt"),
        (17, "SelectStmt"),
        (19, "IndexStmt"),
    ]
    texts = [s.text for s in migration.statements]
    assert texts[0].startswith("CREATE TABLE organisations (") and texts[0].endswith(")")
    assert texts[1].endswith("END;\n$$")
    assert texts[2:5] == ["DO $do$ BEGIN PERFORM 1; END $do$", "SELECT 'ü'", "SELECT 2"]
    assert texts[5] == "CREATE INDEX organisations_name_idx\n    ON organisations (name)"
    assert [s.index for s in migration.statements] == list(range(6))


def test_statement_lines_are_right_with_windows_line_endings(folder: Path) -> None:
    migration = load_one(folder, "-- crlf ☃\r\nCREATE TABLE a (id int);\r\n\r\nCREATE TABLE b (id int);\r\n")

    assert [s.line for s in migration.statements] == [2, 4]


def test_each_statement_carries_its_parse_tree_with_the_files_offsets() -> None:
    """The linter reads each statement's tree from the file's one parse and points findings at its offsets."""
    sql = "-- two statements\nSELECT 1;\n\nCREATE TABLE t (\n    a int\n);\n"
    first, second = parse_statements(sql)
    assert type(first.node).__name__ == "SelectStmt"
    assert second.node.tableElts[0].location == sql.index("a int")
