"""The rule cases under ``tests/lint/cases/<rule-id>/``: finding them and linting them with the real code.

A case is either one ``bad_*.sql`` / ``ok_*.sql`` file, linted as the only migration of a
service folder, or a ``bad_*`` / ``ok_*`` folder holding ``<version>_<slug>.sql`` files
(and optionally ``releases.toml``), linted as a whole service folder: every migration
with the others as its history, as ``scrydon-migrate lint <folder>`` does. A bad case
must produce at least one finding of its rule, an ok case none. A line
``-- xfail: <reason>`` in a case's SQL marks a known bug of the rule (strict xfail).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scrydon_migrate import lint, releases, source
from tests.fixtures.cli import run_cli

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
REPO = HERE.parents[1]
DOCS = REPO / "docs" / "rules"

#: Rule ids reported by the linter itself rather than by a module in scrydon_migrate/rules/.
BUILT_IN_RULES = ("unused-allow", "invalid-migration")
#: Emitted by ``api.lint`` when a file does not load, so only the command line reports it.
CLI_ONLY_RULES = frozenset({"invalid-migration"})
SERVICE = "platform"

_XFAIL = re.compile(r"^--\s*xfail:\s*(?P<reason>.+?)\s*$", re.MULTILINE)


@cache
def rules() -> tuple[lint.Rule, ...]:
    return tuple(lint.load_rules())


def rule_ids() -> list[str]:
    """Every rule id the linter can report."""
    return sorted({rule.id for rule in rules()} | set(BUILT_IN_RULES))


def lock_rule_ids() -> list[str]:
    """The rules built by :func:`scrydon_migrate.lint.lock_rule` (the guard's classification)."""
    return sorted(rule.id for rule in rules() if rule.lock)


@dataclass(frozen=True)
class Case:
    rule: str
    path: Path

    @property
    def kind(self) -> str:
        return "bad" if self.path.name.startswith("bad_") else "ok"

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.path.name}"

    def sql_files(self) -> list[Path]:
        return sorted(self.path.glob("*.sql")) if self.path.is_dir() else [self.path]

    @property
    def xfail_reason(self) -> str | None:
        for sql in self.sql_files():
            match = _XFAIL.search(sql.read_text())
            if match:
                return match["reason"]
        return None

    def param(self) -> Any:
        reason = self.xfail_reason
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        return pytest.param(self, id=self.id, marks=marks)


def all_cases() -> list[Case]:
    found = []
    for folder in sorted(p for p in CASES.iterdir() if p.is_dir()):
        for entry in sorted(folder.iterdir()):
            is_case_file = entry.is_file() and entry.suffix == ".sql"
            if entry.name.startswith(("bad_", "ok_")) and (is_case_file or entry.is_dir()):
                found.append(Case(folder.name, entry))
    return found


def service_folder(case: Case, workdir: Path) -> Path:
    """The case as a service folder: a folder case as it is, a single file as ``0001_<name>.sql``."""
    if case.path.is_dir():
        return case.path
    folder = workdir / SERVICE
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(case.path, folder / f"0001_{case.path.stem}.sql")
    return folder


def lint_folder(folder: Path) -> list[dict[str, Any]]:
    """What ``scrydon-migrate lint <folder>`` finds offline, through load_rules() and lint_migration()."""
    migrations = [source.load(found) for found in source.scan(SERVICE, folder)]
    service_releases = releases.load(folder)
    findings = []
    for migration in migrations:
        findings += lint.lint_migration(migration, rules(), releases=service_releases, history=migrations)
    return [finding.to_dict() for finding in findings]


def lint_folder_cli(folder: Path) -> list[dict[str, Any]]:
    """The same through the command: ``scrydon-migrate lint <folder> --json``."""
    run = run_cli("lint", str(folder), "--json")
    assert run.code in (0, 1), f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    findings: list[dict[str, Any]] = run.json()
    return findings


def lint_case(case: Case, workdir: Path) -> list[dict[str, Any]]:
    folder = service_folder(case, workdir)
    return lint_folder_cli(folder) if case.rule in CLI_ONLY_RULES else lint_folder(folder)


def describe(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {Path(f['file']).name}:{f['line']} {f['rule']} ({f['severity']}): {f['message']}" for f in findings
    )
