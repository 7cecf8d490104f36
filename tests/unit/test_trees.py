"""The trees built from the parser's JSON are pglast's own, attribute for attribute and offset for offset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pglast import ast, parser

from scrydon_migrate import trees
from scrydon_migrate.locks import nodes_of

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "tests" / "lint" / "cases").rglob("*.sql")) + sorted((REPO / "migrations").rglob("*.sql"))
#: Statements the cases lack: non-ASCII text and names, every kind of constant, nested lists, rare clauses.
EXTRA = (
    "SELECT 'é', 1.5, true, null, B'01', $$x$$, '', -3, 0, x'ff' FROM \"tëst\" t WHERE a = 'ü' ORDER BY 1 NULLS FIRST",
    'ALTER TABLE "ö" ADD COLUMN "ä" text DEFAULT \'ß\' CHECK ("ä" <> \'é\'), ALTER COLUMN b TYPE int USING b::int',
    "CREATE INDEX CONCURRENTLY i ON t USING gin ((a->'x'))",
    'CREATE TABLE p (a int, b text COLLATE "C", c int GENERATED ALWAYS AS (a+1) STORED) PARTITION BY RANGE (a)',
    "CREATE FOREIGN TABLE f (a int) SERVER s",
    "WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x, LATERAL (VALUES (1),(2)) v(a) FOR UPDATE SKIP LOCKED",
    "SELECT (array[1,2])[1], (row(1,2)).f1, a[1:2], count(*) FILTER (WHERE a>0) OVER (PARTITION BY b) FROM t",
    "INSERT INTO t VALUES (DEFAULT, 1) ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING *",
    "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = 1 WHEN NOT MATCHED THEN INSERT VALUES (1)",
    "CREATE TRIGGER tr AFTER UPDATE OF a ON t REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION f()",
    "SELECT * FROM json_table('{}', '$' COLUMNS (a int PATH '$.a'))",
    "GRANT SELECT ON a.b, c TO r",
    "DO $$ BEGIN RAISE NOTICE 'é'; END $$",
    "VACUUM (FULL, ANALYZE) t",
    "SELECT * FROM a JOIN (b JOIN c ON true) ON true WHERE x IN (SELECT y FROM d WHERE EXISTS (SELECT FROM e))",
)


def _statements() -> list[str]:
    found = list(EXTRA)
    for path in FILES:
        sql = path.read_text()
        try:
            bounds = parser.split(sql, with_parser=True, only_slices=True)
        except parser.ParseError:
            continue  # the invalid-migration cases
        found += [sql[bound].strip() for bound in bounds]
    return [text for text in found if text]


STATEMENTS = _statements()


def _moved(value: Any, offset: int) -> Any:
    """pglast's tree with its offsets moved on by ``offset``: unknown ones (-1, a list's 0, None) stay."""
    if isinstance(value, tuple):
        for item in value:
            _moved(item, offset)
    elif isinstance(value, ast.Node):
        for name in type(value).__slots__:
            item = getattr(value, name)
            offset_name = name != "stmt_len" and name.endswith(("location", "_start", "_end"))
            if offset_name and isinstance(item, int) and not isinstance(item, bool):
                if item > 0 or (item == 0 and name.endswith("location")):
                    object.__setattr__(value, name, item + offset)
            else:
                _moved(item, offset)
    return value


def _assert_same(expected: Any, got: Any, path: str) -> None:
    assert type(got) is type(expected), f"{path}: {got!r} is not {expected!r}"
    if isinstance(expected, ast.Node):
        for name in type(expected).__slots__:
            _assert_same(getattr(expected, name), getattr(got, name), f"{path}.{name}")
    elif isinstance(expected, tuple):
        assert len(got) == len(expected), f"{path}: {len(got)} items, not {len(expected)}"
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            _assert_same(want, have, f"{path}[{i}]")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def test_the_cases_hold_many_statements() -> None:
    assert len(STATEMENTS) > 500


@pytest.mark.parametrize("offset", [0, 1234])
def test_every_statement_builds_as_parse_sql_does(offset: int) -> None:
    for text in STATEMENTS:
        (raw,) = parser.parse_sql(text)
        _assert_same(_moved(raw.stmt, offset), trees.tree(text, offset), f"{text[:60]!r}: {type(raw.stmt).__name__}")


def test_range_vars_come_in_the_order_nodes_of_finds_them() -> None:
    for text in STATEMENTS:
        built = trees.build(json.loads(parser.parse_sql_json(text)), text)
        assert [id(n) for n in built.range_vars] == [id(n) for n in nodes_of(built.node, ast.RangeVar)], text


def test_a_small_file_keeps_its_trees_and_checksums_as_a_large_file_computes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scrydon_migrate import analysis

    reference = sorted((REPO / "migrations" / "platform").glob("*.sql"))[0].read_text()
    sql = "".join(f"{text};\n" for text in EXTRA) + reference
    small = analysis.parse_statements(sql)
    assert all(s.digest == "" for s in small), "a small file leaves its checksums until they are asked for"
    monkeypatch.setattr(analysis, "KEEP_TREES_CHARS", 0)
    large = analysis.parse_statements(sql)
    assert all(s.digest for s in large)
    assert [s.checksum for s in small] == [s.checksum for s in large]
    assert analysis.migration_checksum(small) == analysis.migration_checksum(large)
    for kept, built in zip(small, large, strict=True):
        _assert_same(built.node, kept.node, kept.text[:60])
