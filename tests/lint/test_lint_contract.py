"""The linter's contract: docs and cases for every rule, allows, the reference migrations, output and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scrydon_migrate import lint, source
from scrydon_migrate.guard import TableSize, Thresholds
from scrydon_migrate.relations import Relation
from tests.fixtures.cli import run_cli
from tests.lint._cases import (
    CASES,
    DOCS,
    REPO,
    SERVICE,
    all_cases,
    lint_folder,
    lock_rule_ids,
    rule_ids,
    rules,
)

SECTIONS = ("## Problem", "## Instead of", "## Use", "## When it is fine", "## Links")
FINDING_KEYS = {"rule", "severity", "message", "help", "suggestion", "file", "line", "column", "service", "version"}
REFERENCE = REPO / "migrations"


def _service(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / SERVICE
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


# --- docs and cases for every rule -------------------------------------------------------------


@pytest.mark.parametrize("rule_id", rule_ids())
def test_every_rule_has_a_docs_page_with_the_sections(rule_id: str) -> None:
    page = DOCS / f"{rule_id}.md"
    assert page.is_file(), f"missing docs page {page.relative_to(REPO)}"
    text = page.read_text()
    assert text.startswith(f"# {rule_id}\n"), f"{page.name} must start with '# {rule_id}'"
    positions = [text.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), f"{page.name} lacks one of {SECTIONS}"
    assert positions == sorted(positions), f"{page.name}: sections out of order"
    assert "postgresql.org/docs/" in text, f"{page.name} links no PostgreSQL docs page"


def test_docs_pages_are_only_for_known_rules() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")} - {"README"}
    assert pages == set(rule_ids())


def test_docs_index_lists_every_rule_with_its_severity_and_summary() -> None:
    rows = {}
    for line in (DOCS / "README.md").read_text().splitlines():
        match = re.match(
            r"^\|\s*\[`?(?P<id>[a-z0-9-]+)`?\]\((?P<link>[^)]+)\)\s*\|\s*(?P<severity>\w+)\s*\|(?P<summary>.*)\|", line
        )
        if match:
            rows[match["id"]] = match
    assert set(rows) == set(rule_ids())
    for rule in rules():
        assert rows[rule.id]["severity"] == rule.severity.value, rule.id
        assert rows[rule.id]["link"] == f"{rule.id}.md"
        assert rows[rule.id]["summary"].strip(), rule.id
    for rule_id in ("unused-allow", "invalid-migration"):
        assert rows[rule_id]["link"] == f"{rule_id}.md"


def test_every_rule_has_a_bad_and_an_ok_case() -> None:
    kinds: dict[str, set[str]] = {}
    for case in all_cases():
        kinds.setdefault(case.rule, set()).add(case.kind)
    missing = {rule_id: sorted({"bad", "ok"} - kinds.get(rule_id, set())) for rule_id in rule_ids()}
    assert not {k: v for k, v in missing.items() if v}, missing


def test_case_folders_are_named_after_rules() -> None:
    assert {p.name for p in CASES.iterdir() if p.is_dir()} <= set(rule_ids())


@pytest.mark.parametrize("rule_id", lock_rule_ids())
def test_lock_rules_have_a_new_table_case(rule_id: str) -> None:
    case = CASES / rule_id / "ok_new_table.sql"
    assert case.is_file(), f"missing {case.relative_to(REPO)}"
    assert re.search(r"^CREATE\s+(UNLOGGED\s+|TEMPORARY\s+)?TABLE", case.read_text(), re.MULTILINE | re.IGNORECASE)


# --- allows ---------------------------------------------------------------------------------


RENAME = "ALTER TABLE users RENAME TO accounts;\n"
ALLOW = '-- migrate:allow renaming-table reason="no pod of the previous release reads users any more"\n'


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("ALTER TABLE users ADD COLUMN locale text NULL;\n\n" + ALLOW + RENAME, id="above-the-statement"),
        pytest.param(ALLOW + "\nALTER TABLE users ADD COLUMN locale text NULL;\n\n" + RENAME, id="file-header"),
    ],
)
def test_an_allow_with_a_reason_silences_the_finding(tmp_path: Path, sql: str) -> None:
    without = _service(tmp_path / "without", {"0001_rename.sql": sql.replace(ALLOW, "")})
    assert [f["rule"] for f in lint_folder(without)] == ["renaming-table"]
    with_allow = _service(tmp_path / "with", {"0001_rename.sql": sql})
    assert lint_folder(with_allow) == []
    run = run_cli("lint", str(with_allow), "--json")
    assert (run.code, run.json()) == (0, [])


def test_an_allow_covers_only_the_statement_after_it(tmp_path: Path) -> None:
    folder = _service(
        tmp_path, {"0001_rename.sql": ALLOW + "-- (header above)\nCREATE TABLE a (id bigint);\n" + RENAME}
    )
    assert lint_folder(folder) == []  # header: the whole file
    folder = _service(
        tmp_path / "b",
        {"0001_rename.sql": "CREATE TABLE a (id bigint);\n" + ALLOW + "CREATE TABLE b (id bigint);\n" + RENAME},
    )
    assert sorted(f["rule"] for f in lint_folder(folder)) == ["renaming-table", "unused-allow"]


def test_an_allow_without_a_reason_is_refused(tmp_path: Path) -> None:
    folder = _service(tmp_path, {"0001_rename.sql": "-- migrate:allow renaming-table\n" + RENAME})
    run = run_cli("lint", str(folder), "--json")
    assert run.code == 1
    (finding,) = run.json()
    assert (finding["rule"], finding["severity"], finding["line"]) == ("invalid-migration", "error", 1)
    assert "reason" in finding["message"]


def test_an_allow_matching_nothing_is_reported_as_unused_allow(tmp_path: Path) -> None:
    sql = "-- migrate:no-transaction\n" + ALLOW.replace("renaming-table", "require-concurrent-index")
    sql += "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
    folder = _service(tmp_path, {"0001_index.sql": sql})
    run = run_cli("lint", str(folder), "--json")
    assert run.code == 1
    (finding,) = run.json()
    assert (finding["rule"], finding["severity"], finding["line"]) == ("unused-allow", "warning", 2)
    assert "require-concurrent-index" in finding["message"]


# --- the reference migrations -------------------------------------------------------------------


def test_the_reference_migrations_lint_clean(tmp_path: Path) -> None:
    run = run_cli("lint", "--migrations-dir", str(REFERENCE), "--json", cwd=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert [f for f in run.json() if f["severity"] != "info"] == []


def test_every_allow_in_the_reference_migrations_carries_a_reason() -> None:
    allows = 0
    for path in sorted(REFERENCE.glob("*/*.sql")):
        for line in path.read_text().splitlines():
            if re.match(r"^\s*--\s*migrate:allow\b", line):
                allows += 1
                assert re.search(r'reason\s*=\s*"[^"]*\S[^"]*"', line), f"{path.name}: {line}"
        for service_file in source.scan(path.parent.name, path.parent):
            if service_file.path == path:
                assert all(allow.reason.strip() for allow in source.load(service_file).allows)
    assert allows > 0, "the reference migrations show the allow syntax at least once"


# --- output formats and exit codes --------------------------------------------------------------


@pytest.fixture
def findings_folder(tmp_path: Path) -> Path:
    return _service(
        tmp_path,
        {
            "0001_rename.sql": "ALTER TABLE users RENAME TO accounts;\n",
            "0002_truncate.sql": "ALTER TABLE accounts ADD COLUMN locale text NULL;\n\n"
            "TRUNCATE import_batches CASCADE;\n",
            "0003_call.sql": "CALL refresh_search_index();\n",
        },
    )


def test_json_output_shape(findings_folder: Path) -> None:
    run = run_cli("lint", str(findings_folder), "--json")
    assert run.code == 1
    found = run.json()
    assert isinstance(found, list)
    assert [(f["rule"], f["severity"], Path(f["file"]).name, f["line"]) for f in found] == [
        ("renaming-table", "warning", "0001_rename.sql", 1),
        ("ban-truncate-cascade", "error", "0002_truncate.sql", 3),
        ("review-dynamic-sql", "info", "0003_call.sql", 1),
    ]
    for finding in found:
        assert set(finding) == FINDING_KEYS
        assert isinstance(finding["line"], int) and isinstance(finding["column"], int)
        assert finding["service"] == SERVICE and finding["version"] in {"0001", "0002", "0003"}
        assert isinstance(finding["message"], str) and finding["message"]
        assert finding["suggestion"] is None or isinstance(finding["suggestion"], str)
    json.dumps(found)


def test_github_format(findings_folder: Path) -> None:
    run = run_cli("lint", str(findings_folder), "--format", "github")
    assert run.code == 1
    lines = run.stdout.splitlines()
    pattern = re.compile(
        r"^::(?P<level>error|warning|notice) file=(?P<file>[^,]+),line=(?P<line>\d+),col=\d+,"
        r"title=(?P<rule>[a-z-]+)::.+"
    )
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["level"], Path(m["file"]).name, int(m["line"]), m["rule"]) for m in parsed if m] == [
        ("warning", "0001_rename.sql", 1, "renaming-table"),
        ("error", "0002_truncate.sql", 3, "ban-truncate-cascade"),
        ("notice", "0003_call.sql", 1, "review-dynamic-sql"),
    ]
    assert any(line.startswith(f"::error file={findings_folder / '0002_truncate.sql'},line=3,") for line in lines)


@pytest.mark.parametrize(
    ("files", "args", "code"),
    [
        pytest.param({"0001_ok.sql": "ALTER TABLE users ADD COLUMN locale text NULL;\n"}, (), 0, id="clean"),
        pytest.param({"0001_info.sql": "CALL refresh_search_index();\n"}, (), 0, id="info-only"),
        pytest.param({"0001_warn.sql": "DROP TABLE legacy_tokens;\n"}, (), 1, id="warning"),
        pytest.param({"0001_err.sql": "TRUNCATE import_batches CASCADE;\n"}, ("--format", "github"), 1, id="error"),
        pytest.param({"0001_bad.sql": "ALTER TABLE users ADD COLUMN;\n"}, ("--json",), 1, id="invalid-migration"),
        pytest.param({"0001_ok.sql": "SELECT 1;\n"}, ("--no-such-option",), 2, id="unknown-option"),
        pytest.param({"0001_ok.sql": "SELECT 1;\n"}, ("--format", "xml"), 2, id="unknown-format"),
    ],
)
def test_exit_codes(tmp_path: Path, files: dict[str, str], args: tuple[str, ...], code: int) -> None:
    folder = _service(tmp_path, files)
    run = run_cli("lint", str(folder), *args)
    assert run.code == code, run.stdout + run.stderr


# --- severity of the lock rules -------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "severity"), [(None, "warning"), (1_000, "warning"), (5_000_000, "error")])
def test_a_lock_rule_is_a_warning_offline_and_an_error_on_a_large_table(
    tmp_path: Path, rows: int | None, severity: str
) -> None:
    folder = _service(tmp_path, {"0001_index.sql": "CREATE INDEX orders_note_idx ON orders (note);\n"})
    (migration,) = [source.load(f) for f in source.scan(SERVICE, folder)]
    sizes = {} if rows is None else {Relation(None, "orders"): TableSize("orders", rows, rows * 100)}
    (finding,) = lint.lint_migration(migration, rules(), sizes=sizes, thresholds=Thresholds(), history=[migration])
    assert (finding.rule, finding.severity.value) == ("require-concurrent-index", severity)
    assert "CONCURRENTLY" in finding.suggestion


# --- linting one file ---------------------------------------------------------------------------


def test_linting_one_file_sees_the_earlier_migrations_of_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / SERVICE
    case = CASES / "ban-drop-column" / "ok_later_release"
    folder.mkdir()
    for path in case.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    assert run_cli("lint", str(folder), "--json").json() == []
    run = run_cli("lint", str(folder / "0301_drop_display_name.sql"), "--json")
    assert (run.code, run.json()) == (0, [])


# --- positions ----------------------------------------------------------------------------------


POSITIONED = """-- several clauses, each finding at its own
ALTER TABLE orders
    ADD COLUMN note text NULL,
    ALTER COLUMN customer_id SET NOT NULL,
    ADD CONSTRAINT orders_qty_positive CHECK (qty > 0);

CREATE TABLE coupons (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(32) NOT NULL
);

ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid(), DROP COLUMN legacy_flag;
"""


def test_findings_point_at_the_column_or_clause(tmp_path: Path) -> None:
    folder = _service(tmp_path, {"0001_many.sql": POSITIONED})
    found = {(f["rule"], f["line"], f["column"]) for f in lint_folder(folder)}
    assert found == {
        ("require-check-before-not-null", 4, 5),
        ("constraint-missing-not-valid", 5, 9),
        ("prefer-bigint", 8, 5),
        ("prefer-text", 9, 5),
        ("adding-field-with-volatile-default", 12, 31),
        ("ban-drop-column", 12, 73),
    }


# --- CREATE TABLE IF NOT EXISTS -------------------------------------------------------------------


IF_NOT_EXISTS = (
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (id bigint, endpoint_id bigint);\n"
    "CREATE INDEX webhook_deliveries_endpoint_id_idx ON webhook_deliveries (endpoint_id);\n"
)


@pytest.mark.parametrize(("rows", "rules_found"), [(None, []), (5_000_000, ["require-concurrent-index"])])
def test_a_table_created_if_not_exists_is_new_to_the_index_rules_unless_it_exists(
    tmp_path: Path, rows: int | None, rules_found: list[str]
) -> None:
    folder = _service(tmp_path, {"0001_deliveries.sql": IF_NOT_EXISTS})
    (migration,) = [source.load(f) for f in source.scan(SERVICE, folder)]
    table = Relation(None, "webhook_deliveries")
    sizes = {} if rows is None else {table: TableSize("webhook_deliveries", rows, rows * 100)}
    found = lint.lint_migration(migration, rules(), sizes=sizes, thresholds=Thresholds(), history=[migration])
    assert [f.rule for f in found] == rules_found
