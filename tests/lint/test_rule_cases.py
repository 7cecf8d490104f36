"""Every case under tests/lint/cases/ through the real linter: bad cases find their rule, ok cases don't.

See tests/lint/_cases.py for the layouts (one file, or a service folder with releases.toml)
and the ``-- xfail: <reason>`` marker for a known bug of a rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lint._cases import Case, all_cases, describe, lint_case


@pytest.mark.parametrize("case", [case.param() for case in all_cases()])
def test_rule_case(case: Case, tmp_path: Path) -> None:
    findings = lint_case(case, tmp_path)
    hits = [f for f in findings if f["rule"] == case.rule]
    if case.kind == "bad":
        assert hits, f"{case.id}: expected at least one {case.rule!r} finding, got:\n{describe(findings) or '  none'}"
        files = {p.name for p in case.sql_files()} | {f"0001_{p.name}" for p in case.sql_files()}
        for hit in hits:
            assert Path(hit["file"]).name in files and hit["line"] >= 1, hit
    else:
        assert not hits, f"{case.id}: expected no {case.rule!r} finding, got:\n{describe(hits)}"
