"""A migration's checksum: formatting, comments and keyword case don't change it; any real edit does.

The checksum is what decides whether an applied migration "was edited" (exit 6), so a false
change crash-loops a deploy and a missed change lets an edit through unnoticed. No database:
files are written to a temporary folder and read with ``source.load``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrydon_migrate import source

ORIGINAL = """-- 0001: organisations
CREATE TABLE organisations (
    id bigint PRIMARY KEY,
    name text NOT NULL DEFAULT 'acme',
    seats integer DEFAULT 1
);

CREATE INDEX organisations_name_idx ON organisations (lower(name));

UPDATE organisations SET seats = 5 WHERE name = 'a';
"""


def checksum(sql: str) -> str:
    """The checksum ``load`` gives a migration file holding ``sql``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "0001_create_organisations.sql").write_text(sql, encoding="utf-8")
        (found,) = source.scan("platform", folder)
        return source.load(found).checksum


# --- what is not a change --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "same",
    [
        pytest.param(
            "create table organisations (id bigint primary key, name text not null default 'acme', "
            "seats integer default 1); create index organisations_name_idx on organisations (lower(name)); "
            "update organisations set seats = 5 where name = 'a';",
            id="one-line-lower-case",
        ),
        pytest.param(
            "/* reformatted by a linter */\n"
            "CREATE TABLE organisations\n(\n\tid     BIGINT      PRIMARY KEY ,\n"
            "\tname   TEXT        NOT NULL DEFAULT 'acme' , -- the display name\n"
            "\tseats  INTEGER     DEFAULT 1\n)\n;\n\n\n"
            "-- case-insensitive lookups\n"
            "CREATE   INDEX organisations_name_idx\n    ON organisations ( lower ( name ) ) ;\n"
            "Update Organisations Set Seats = 5 Where Name = 'a'",
            id="reindented-recommented-mixed-case",
        ),
        pytest.param(ORIGINAL.replace("-- 0001: organisations", "/* nested /* comment */ here */"), id="comment"),
        pytest.param("BEGIN;\n" + ORIGINAL + "COMMIT;\n", id="wrapped-in-begin-commit"),
        pytest.param("-- migrate:up\n" + ORIGINAL + "-- migrate:down\nDROP TABLE organisations;\n", id="dbmate"),
        pytest.param(ORIGINAL.replace("integer", "int").replace("text", "TEXT"), id="type-spelling"),
        pytest.param(ORIGINAL.replace("\n", "\r\n"), id="crlf"),
    ],
)
def test_reformatting_recommenting_or_changing_keyword_case_keeps_the_checksum(same: str) -> None:
    assert checksum(same) == checksum(ORIGINAL)


def test_only_the_up_section_of_a_dbmate_file_counts() -> None:
    up = "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n"

    assert checksum(up + "DROP TABLE a;\n") == checksum(up + "DROP TABLE IF EXISTS a CASCADE;\n")


# --- what is a change --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("DEFAULT 1", "DEFAULT 2", id="integer-literal"),
        pytest.param("'acme'", "'Acme'", id="string-literal-case"),
        pytest.param("= 'a'", "= 'b'", id="string-literal"),
        pytest.param("seats = 5", "seats = 5.0", id="integer-to-numeric"),
        pytest.param("seats integer", "seats bigint", id="type"),
        pytest.param("organisations_name_idx", "organisations_lower_name_idx", id="index-name"),
        pytest.param("CREATE TABLE organisations", 'CREATE TABLE "Organisations"', id="quoted-identifier-case"),
        pytest.param("lower(name)", "upper(name)", id="function"),
        pytest.param("NOT NULL DEFAULT", "DEFAULT", id="constraint-removed"),
        pytest.param("CREATE INDEX", "CREATE UNIQUE INDEX", id="unique"),
        pytest.param("WHERE name = 'a'", "WHERE name = 'a' OR id = 0", id="where"),
        pytest.param("\nUPDATE organisations SET seats = 5 WHERE name = 'a';\n", "\n", id="statement-removed"),
        pytest.param(";\n\nCREATE INDEX", ";\nCREATE TABLE b (id int);\nCREATE INDEX", id="statement-added"),
    ],
)
def test_changing_an_identifier_a_literal_or_a_statement_changes_the_checksum(old: str, new: str) -> None:
    assert old in ORIGINAL
    edited = ORIGINAL.replace(old, new, 1)

    assert checksum(edited) != checksum(ORIGINAL)


def test_swapping_two_statements_changes_the_checksum() -> None:
    first, second = "CREATE TABLE a (id int);\n", "CREATE TABLE b (id int);\n"

    assert checksum(first + second) != checksum(second + first)


def test_moving_a_statement_boundary_changes_the_checksum() -> None:
    # Same tokens, different statement boundaries: ALTER with two actions vs two ALTERs.
    together = "ALTER TABLE a ADD COLUMN b int, ADD COLUMN c int;"
    apart = "ALTER TABLE a ADD COLUMN b int; ALTER TABLE a ADD COLUMN c int;"

    assert checksum(together) != checksum(apart)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            "UPDATE organisations SET plan = 'free' WHERE plan IN ('trial', 'beta');",
            "UPDATE organisations\n   SET plan = 'free'\n WHERE plan IN ('trial', 'beta');",
            id="in-list",
        ),
        pytest.param(
            "UPDATE organisations SET tags = ARRAY['a', 'b'];",
            "UPDATE organisations SET tags = ARRAY[ 'a', 'b' ];",
            id="array",
        ),
        pytest.param("NOTIFY schema_changed, 'orgs';", "NOTIFY  schema_changed, 'orgs';", id="notify"),
        pytest.param(
            "CREATE FUNCTION seats_left(org bigint) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
            "CREATE FUNCTION seats_left(org bigint)\n  RETURNS int\n  LANGUAGE sql\nAS $$ SELECT 1 $$;",
            id="function-body",
        ),
        pytest.param("DO $$ BEGIN PERFORM 1; END $$;", "DO\n    $$ BEGIN PERFORM 1; END $$;", id="do-block"),
    ],
)
def test_reformatting_a_function_do_block_in_list_or_array_keeps_the_checksum(before: str, after: str) -> None:
    assert checksum(after) == checksum(before)


def test_changing_a_tablespace_directory_changes_the_checksum() -> None:
    assert checksum("CREATE TABLESPACE fast LOCATION '/ssd/a';") != checksum(
        "CREATE TABLESPACE fast LOCATION '/ssd/b';"
    )


# --- property: noise between tokens never changes the checksum ----------------------------------------

#: Realistic migration statements as tokens; any whitespace or comment may go between two tokens.
# fmt: off
STATEMENTS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE", "TABLE", "IF", "NOT", "EXISTS", "organisations", "(",
        "id", "bigint", "GENERATED", "ALWAYS", "AS", "IDENTITY", "PRIMARY", "KEY", ",",
        "name", "text", "NOT", "NULL", "DEFAULT", "'acme; -- not a comment'", ",",
        "region", "varchar", "(", "32", ")", "NULL", ",",
        "created_at", "timestamptz", "NOT", "NULL", "DEFAULT", "now", "(", ")",
        ")", ";",
    ),
    ("ALTER", "TABLE", "organisations", "ADD", "COLUMN", "seats", "integer", "NOT", "NULL", "DEFAULT", "1", ";"),
    (
        "CREATE", "INDEX", "CONCURRENTLY", "organisations_region_idx", "ON", "organisations",
        "(", "lower", "(", "region", ")", ")", "WHERE", "region", "IS", "NOT", "NULL", ";",
    ),
    (
        "UPDATE", "organisations", "SET", "region", "=", "'eu-west-1'",
        "WHERE", "region", "IS", "NULL", "AND", "id", ">", "100", ";",
    ),
    ("COMMENT", "ON", "COLUMN", "organisations", ".", "region", "IS", "'ISO region, e.g. eu-west-1'", ";"),
    (
        "ALTER", "TABLE", "organisations", "ADD", "CONSTRAINT", "organisations_seats_check",
        "CHECK", "(", "seats", ">=", "0", ")", "NOT", "VALID", ";",
    ),
    (
        "CREATE", "TRIGGER", "organisations_touch", "BEFORE", "UPDATE", "ON", "organisations",
        "FOR", "EACH", "ROW", "EXECUTE", "FUNCTION", "touch", "(", ")", ";",
    ),
)

#: Statements whose parse tree keeps a source offset under another name than ``location``
#: (function bodies and DO blocks: DefElem.arg_location; IN lists; ARRAY[...]).
POSITION_SENSITIVE_STATEMENTS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE", "OR", "REPLACE", "FUNCTION", "touch", "(", ")", "RETURNS", "trigger", "LANGUAGE", "plpgsql",
        "AS", "$$BEGIN NEW.updated_at := now(); RETURN NEW; END$$", ";",
    ),
    ("DO", "$body$ BEGIN PERFORM 1; END $body$", ";"),
    (
        "UPDATE", "organisations", "SET", "plan", "=", "'free'",
        "WHERE", "plan", "IN", "(", "'trial'", ",", "'beta'", ")", ";",
    ),
    ("UPDATE", "organisations", "SET", "tags", "=", "ARRAY", "[", "'a'", ",", "'b'", "]", ";"),
)
# fmt: on

#: Tokens whose case PostgreSQL ignores (keywords; identifiers above are all lower case already).
KEYWORDS = frozenset(
    token
    for statement in STATEMENTS + POSITION_SENSITIVE_STATEMENTS
    for token in statement
    if token.isalpha() and token.isupper()
)

_COMMENT_TEXT = st.text(
    alphabet=st.sampled_from("abcxyz 0123456789;'\"$éü☃😀"),
    max_size=12,
)

#: Whitespace, line comments, block comments (nested too); each starts and ends with whitespace.
SEPARATOR = st.one_of(
    st.sampled_from([" ", "\n", "\t", "  ", "\n\n    ", "\r\n"]),
    _COMMENT_TEXT.map(lambda text: f" /* {text} */ "),
    _COMMENT_TEXT.map(lambda text: f" /* {text} /* {text} */ */\n"),
    _COMMENT_TEXT.map(lambda text: f" -- note {text}\n"),
)

CASING = st.sampled_from([str.upper, str.lower, str.title])


def _canonical(statements: tuple[tuple[str, ...], ...]) -> str:
    return "\n".join(" ".join(tokens) for tokens in statements) + "\n"


def _noisy(draw: st.DrawFn, statements: tuple[tuple[str, ...], ...]) -> str:
    parts = [draw(SEPARATOR)]
    for tokens in statements:
        for token in tokens:
            parts.append(draw(CASING)(token) if token in KEYWORDS else token)
            parts.append(draw(SEPARATOR))
    return "".join(parts)


@st.composite
def noisy_migrations(draw: st.DrawFn, pool: tuple[tuple[str, ...], ...] = STATEMENTS) -> tuple[str, str]:
    statements = tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4)))
    return _canonical(statements), _noisy(draw, statements)


@settings(max_examples=150, deadline=None, database=None)
@given(noisy_migrations())
def test_whitespace_comments_and_keyword_case_between_tokens_never_change_the_checksum(
    migration: tuple[str, str],
) -> None:
    canonical, noisy = migration

    assert checksum(noisy) == checksum(canonical)


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(noisy_migrations(POSITION_SENSITIVE_STATEMENTS))
def test_noise_between_tokens_of_functions_do_blocks_in_lists_and_arrays_never_changes_the_checksum(
    migration: tuple[str, str],
) -> None:
    canonical, noisy = migration

    assert checksum(noisy) == checksum(canonical)


@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(st.sampled_from(STATEMENTS), min_size=2, max_size=4), st.data())
def test_dropping_any_statement_changes_the_checksum(chosen: list[tuple[str, ...]], data: st.DataObject) -> None:
    statements = tuple(chosen)
    dropped = data.draw(st.integers(min_value=0, max_value=len(statements) - 1))
    rest = statements[:dropped] + statements[dropped + 1 :]

    assert checksum(_canonical(rest)) != checksum(_canonical(statements))
