"""A large migration file (a data load) is parsed to what it always was, and says it is being parsed.

Parsing reuses the work on statements shaped alike (``scrydon_migrate.shapes``); none of it
may change a statement, its line, its facts or its checksum: checksums are stored by every
database the tool migrated, so a changed one would refuse every applied file as edited. The
reference here parses the whole file into one tree and walks each statement's own tree in
Python, as the tool did before. No database.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pglast import parser
from pglast.ast import Node

from scrydon_migrate import analysis, log, shapes, source
from scrydon_migrate.locks import facts, reads_constants

SERVICE = "platform"

#: Rows of a data load: the shapes repeat with other constants, other tables, strings that need
#: escaping (non-ASCII, quotes, newlines), floats, NULLs, comments and statements spanning lines,
#: and statements whose lock facts do read their constants (SET search_path, a type's length).
ROWS = (
    "INSERT INTO ledger (id, note) VALUES ({i}, 'entry number {i}');\n",
    "INSERT INTO {table} (id, note, amount, paid) VALUES ({i}, 'Zürich née {i}', {i}.5, {flag});\n",
    "insert into ledger values (-{i}, E'line\\nbreak \"{i}\" back\\\\slash', NULL, 0);\n",
    "-- row {i}\nINSERT INTO ledger (id, note)\n    VALUES ({i}, 'it''s /* not a comment */ {i}');\n",
    "UPDATE {table} SET note = 'seen {i}' WHERE id = {i};\n",
    "SET search_path = app{k}, public;\n",
    "/* widen */ ALTER TABLE ledger ALTER COLUMN note TYPE varchar({k}0);\n",
    "SELECT setval('ledger_id_seq', {i}); SELECT {i} AS n, 'x' || '{i}';\n",
    "DO $$BEGIN PERFORM {i}; RAISE NOTICE 'a;b'; END$$;\n",
    "INSERT INTO ledger (id, note) VALUES (0, ''), ({i}, 'tab\there'), (9223372036854775807, '{{\"j\":{i}}}');\n",
)


def data_load(statements: int) -> str:
    """A migration file of ``statements`` rows taken in turn from :data:`ROWS`."""
    return "".join(
        ROWS[i % len(ROWS)].format(i=i, k=i % 7 + 1, table=("ledger", "audit.events")[i % 3 == 0], flag=i % 2 == 0)
        for i in range(statements)
    )


def migration_file(folder: Path, sql: str) -> source.MigrationFile:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0001_load.sql").write_text(sql, encoding="utf-8")
    (found,) = source.scan(SERVICE, folder)
    return found


# --- the reference: the whole file's tree, each statement's own tree walked in Python ----------------

_LEADING_BLANKS = re.compile(r"(?:\s|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)


def _strip_positions(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_positions(v)
            for k, v in value.items()
            if not (
                isinstance(v, int)
                and not isinstance(v, bool)
                and (k == "stmt_len" or k.endswith(("location", "_start", "_end")))
            )
        }
    if isinstance(value, list):
        return [_strip_positions(v) for v in value]
    return value


def reference_checksum(text: str) -> str:
    """A statement's checksum as every stored checksum was made: its tree, positions removed, sorted JSON."""
    tree = json.loads(parser.parse_sql_json(text))
    canonical = json.dumps(_strip_positions(tree.get("stmts", [])), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def reference(sql: str) -> list[tuple[object, ...]]:
    """Each statement's line, text, kind, modes, lock facts and checksum, one statement at a time."""
    statements = []
    for raw in parser.parse_sql(sql):
        start = raw.stmt_location or 0
        end = start + (raw.stmt_len or len(sql) - start)
        first = start + _LEADING_BLANKS.match(sql, start, end).end() - start  # type: ignore[union-attr]
        text = sql[first:end].rstrip()
        node = raw.stmt
        kind = type(node).__name__
        statements.append(
            (
                sql.count("\n", 0, first) + 1,
                text,
                kind,
                analysis._runs_in_transaction(node, kind),
                analysis._transaction_control(node, kind),
                facts(node),
                reference_checksum(text),
            )
        )
    return statements


def parsed(sql: str) -> list[tuple[object, ...]]:
    return [
        (s.line, s.text, s.kind, s.transactional, s.transaction_control, s.locks, s.checksum)
        for s in analysis.parse_statements(sql)
    ]


# --- behaviours -----------------------------------------------------------------------------------------


def test_a_data_load_parses_to_the_same_statements_lines_facts_and_checksums_as_one_statement_at_a_time() -> None:
    sql = data_load(3_000)

    assert parsed(sql) == reference(sql)


#: Statements whose text holds what a part of the file may be cut inside: newlines and semicolons in
#: strings, quoted names, comments and dollar quotes, a function body of statements, a statement over lines.
AWKWARD = """CREATE TABLE "odd;
name" (note text DEFAULT 'a;
b');
/* a comment;
over lines */ INSERT INTO "odd;
name" VALUES ($$x;
y$$), (E'one;\\ntwo');
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC
    SELECT 1;
    SELECT 2;
END;
SELECT 1 -- a trailing comment;
    + 2;
SELECT 3; SELECT
4;
"""


@pytest.mark.parametrize("part", [16, 200, 5_000])
def test_a_file_split_a_part_at_a_time_gives_the_statements_of_the_whole(part: int, monkeypatch) -> None:
    sql = (AWKWARD + data_load(30)) * 3
    monkeypatch.setattr(analysis, "SPLIT_CHARS", part)

    assert parsed(sql) == reference(sql)


@pytest.mark.parametrize("part", [16, 200])
def test_a_syntax_error_far_into_a_file_is_reported_where_the_whole_file_has_it(part: int, monkeypatch) -> None:
    sql = data_load(50) + "SELECT 1;\nSELEC 2;\n" + data_load(5)
    with pytest.raises(analysis.ParseFailure) as whole:
        analysis.parse_statements(sql)
    monkeypatch.setattr(analysis, "SPLIT_CHARS", part)

    with pytest.raises(analysis.ParseFailure) as in_parts:
        analysis.parse_statements(sql)

    assert (in_parts.value.message, in_parts.value.line, in_parts.value.column) == (
        whole.value.message,
        whole.value.line,
        whole.value.column,
    )
    assert whole.value.line == sql.count("\n", 0, sql.index("SELEC 2")) + 1


def test_statements_of_one_shape_on_other_tables_or_search_paths_keep_their_own_lock_facts() -> None:
    statements = analysis.parse_statements(data_load(140))

    inserts = {s.locks.relations for s in statements if s.kind == "InsertStmt"}
    search_paths = {s.locks.search_path for s in statements if s.kind == "VariableSetStmt"}
    type_lengths = {r.type_change.typmods for s in statements for r in s.locks.risks if r.type_change}

    assert len(inserts) == 2
    assert search_paths == {(f"app{k}", "public") for k in range(1, 8)}
    assert type_lengths == {(k * 10,) for k in range(1, 8)}


def test_statements_of_two_shapes_with_the_same_scalars_taking_turns_keep_their_own_facts() -> None:
    # Trees differing only in a key: their templates' facts keys hold the same scalars, never the same template.
    trees = {name: '{"version":1,"stmts":[{"stmt":{"X":{"' + name.lower() + '":"v"}}}]}' for name in "AB"}
    memo = shapes.Shapes(lambda text: text, reads_constants)

    read = [memo.read(name, trees[name]) for name in "AB" * 40]

    assert [found for _, found in read] == list("AB" * 40)
    assert [digest.hex() for digest, _ in read[:2]] == [shapes.checksum(trees["A"]), shapes.checksum(trees["B"])]


def test_the_checksum_of_a_file_is_the_one_earlier_releases_stored(tmp_path: Path) -> None:
    # Made by the release before shapes: databases keep these, so they may never change.
    migration = source.load(migration_file(tmp_path / "load", data_load(2_000)))

    assert len(migration.statements) == 2_200
    assert migration.checksum == "b15286d94a504d04b60ab9a0f80ee7d0d2bf9db11cba78e748a30490422eac59"


def _with_offsets(value: Any) -> Any:
    """A tree as nested tuples, source offsets included (pglast's own equality leaves them out)."""
    if isinstance(value, (list, tuple)):
        return tuple(_with_offsets(item) for item in value)
    if isinstance(value, Node):
        return (type(value).__name__, *((name, _with_offsets(getattr(value, name))) for name in type(value).__slots__))
    return value


def test_the_linter_reads_each_statements_tree_with_the_files_source_offsets() -> None:
    sql = (
        data_load(300)
        + "ALTER TABLE ledger ADD COLUMN ref bigint NOT NULL DEFAULT 1 REFERENCES refs (id), ADD UNIQUE (ref);\n"
    )
    whole = [raw.stmt for raw in parser.parse_sql(sql)]
    for node in whole:
        facts(node)  # as the linter has always seen them: lock facts name an inline key's column

    statements = analysis.parse_statements(sql)

    assert [_with_offsets(s.node) for s in statements] == [_with_offsets(node) for node in whole]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The package's log lines as an operator's pod log shows them, the logging set-up put back after."""
    logger = logging.getLogger(log.PACKAGE_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    stream = io.StringIO()
    log.configure(stream=stream)
    yield stream
    logger.handlers[:], logger.level, logger.propagate = saved


def test_a_large_file_says_which_migration_is_being_parsed_before_it_is(tmp_path: Path, log_lines: io.StringIO) -> None:
    sql = data_load(20_000)
    assert len(sql) > source.LARGE_FILE_CHARS

    migration = source.load(migration_file(tmp_path / "load", sql))

    (line,) = [line for line in log_lines.getvalue().splitlines() if "event=MIGRATION_PARSING" in line]
    assert line.startswith("[migrate-bootstrap] INFO: parsing a large migration file ")
    assert f"service={SERVICE} version=0001 file=0001_load.sql chars={len(sql)}" in line
    assert len(migration.statements) == 22_000


def test_a_small_file_is_parsed_without_a_word(tmp_path: Path, log_lines: io.StringIO) -> None:
    source.load(migration_file(tmp_path / "small", data_load(20)))

    assert "MIGRATION_PARSING" not in log_lines.getvalue()


# --- a large file's statements, kept as columns -----------------------------------------------------

#: Files whose loading reads and changes statements: a wrapping transaction, a backfill, allows, a
#: statement that cannot run in a transaction, dbmate's sections, another tool's marker.
SHAPED = {
    "wrapped": "-- dumped\nBEGIN;\n" + data_load(40) + "COMMIT;\n",
    "backfill": data_load(25)
    + "-- migrate:backfill ledger_note table=ledger key=id\n"
    + "UPDATE ledger SET note = lower(note) WHERE id BETWEEN $1 AND $2;\n"
    + data_load(12),
    "allows": '-- migrate:allow ban-drop-table reason="retired"\n'
    + data_load(20)
    + '-- migrate:allow require-concurrent-index reason="empty table"\n'
    + "CREATE INDEX ledger_note ON ledger (note);\nDROP TABLE old_ledger;\n",
    "concurrently": data_load(15) + "CREATE INDEX CONCURRENTLY ledger_note ON ledger (note);\n",
    "dbmate": "-- migrate:up\n" + data_load(30) + "-- migrate:down\nDROP TABLE ledger;\n",
    "goose": "-- +goose Up\n-- +goose NO TRANSACTION\n" + data_load(30) + "  -- +goose Down\nDROP TABLE ledger;\n",
}


def described(migration: source.Migration) -> tuple[object, ...]:
    """Everything loading gives a migration and its statements, statement by statement."""
    return (
        migration.sql,
        migration.transactional,
        migration.allows,
        migration.backfills,
        migration.checksum,
        [
            (s.index, s.line, s.text, s.kind, s.transactional, s.transaction_control, s.locks, s.backfill, s.checksum)
            for s in migration.statements
        ],
        [s.index for s in migration.runnable],
    )


@pytest.mark.parametrize("name", SHAPED)
def test_a_file_kept_as_columns_loads_to_what_a_small_file_loads_to(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = migration_file(tmp_path / name, SHAPED[name])
    small = source.load(found)
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)

    large = source.load(found)

    assert isinstance(large.statements, analysis.Statements)
    assert described(large) == described(small)


def test_a_slice_of_a_large_files_statements_keeps_their_indexes_as_a_tuples_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql = data_load(30)
    small = tuple(analysis.parse_statements(sql))
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)

    large = analysis.parse_statements(sql)

    assert list(large[7:19]) == list(small[7:19])
    assert list(large[25:]) == list(small[25:]) and list(large[40:]) == []
    assert (large[-1], large[0], len(large)) == (small[-1], small[0], len(small))
    with pytest.raises(IndexError):
        large[len(small)]


def test_a_large_files_statement_is_made_once_and_reads_its_text_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    sql = data_load(30)
    small = analysis.parse_statements(sql)
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)

    large = analysis.parse_statements(sql)

    assert large[12] is large[12] is large[10:][2] is list(large)[12]  # up finds its last statement by identity
    assert (large[12].text, large[12].line, large[12].offset) == (small[12].text, small[12].line, small[12].offset)
    assert replace(large[12], backfill="b") == replace(small[12], backfill="b")
    assert not hasattr(large[12], "rows")


def test_transaction_control_inside_a_large_file_is_refused_naming_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = data_load(30) + "COMMIT;\n" + data_load(5)
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)

    with pytest.raises(source.SourceError) as caught:
        source.load(migration_file(tmp_path / "control", sql))

    assert f"('COMMIT' on line {sql.count(chr(10), 0, sql.index('COMMIT')) + 1})" in caught.value.message


#: Rows of one long ``INSERT``: shapes that copy as they are, and ones whose text is not their
#: canonical text (escapes, non-ASCII, floats, a function call, an array) in runs and alone.
LONG_ROWS = (
    "({i}, 'entry {i}', NULL)",
    "({i}, '', TRUE)",
    "(-{i}, E'q\\\\\"u\\u00e9 {i}', now())",
    "({i}.5, 'Zürich {i}', ARRAY[1, {i}])",
    "({i}, '{{\"j\": {i}}}', -0)",
)


@pytest.mark.parametrize("turns", [1, 7, 200])
def test_a_long_insert_has_the_checksum_of_its_tree_whatever_its_rows(turns: int) -> None:
    rows = ",\n".join(LONG_ROWS[i // turns % len(LONG_ROWS)].format(i=i) for i in range(3_000))
    text = f"INSERT INTO ledger (id, note, extra) VALUES\n{rows}"
    assert len(shapes._without_positions(parser.parse_sql_json(text))) >= shapes.ROWS_CHARS

    assert analysis.statement_checksum(text) == reference_checksum(text)


@pytest.mark.parametrize(
    "row",
    [
        "({i}, 'entry {i}', NULL)",
        "({i}, lower('Entry {i}'), now())",
        "({i}, (SELECT max(note) FROM audit.events), NULL)",
        "({i}, 'x', (VALUES ({i})))",
    ],
    ids=["constants", "function-calls", "a-table-in-a-row", "values-in-a-row"],
)
def test_a_long_inserts_facts_are_its_trees_whatever_its_rows(row: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = ",\n".join(row.format(i=i) for i in range(3_000))
    sql = f"INSERT INTO ledger (id, note, extra) VALUES\n{rows};\nINSERT INTO ledger VALUES {rows};\n"
    small = parsed(sql)
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)

    assert parsed(sql) == small == reference(sql)
