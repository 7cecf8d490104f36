"""The migration linter: learn in CI, not from a crash loop, that a step locks a large table.

Rules live in :mod:`scrydon_migrate.rules`, one module per rule with a permanent
kebab-case id, a summary and a severity; each ``check(subject)`` yields findings for
one parsed statement and never touches the database. A rule names the statement kinds it
reads (``KINDS``) and may tell from a whole migration that it finds nothing in it
(``relevant``): it is asked about no other statement. The lock rules share their
classification with the apply-time guard (:mod:`scrydon_migrate.locks`): one
implementation. Offline, a lock rule is a warning; with live table sizes it is an error
on a large table (and stays a warning on a small one).

Findings are silenced per statement or per file with
``-- migrate:allow <rule-id> reason="..."``; an allow that matches nothing is itself a
finding (``unused-allow``).
"""

from __future__ import annotations

import bisect
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any

from scrydon_migrate import rules as rules_package
from scrydon_migrate.guard import search_paths
from scrydon_migrate.relations import created_here, on_path
from scrydon_migrate.rules._nodes import NewColumn, new_columns
from scrydon_migrate.source import LOCK_BUDGET_RULE

if TYPE_CHECKING:
    from scrydon_migrate.analysis import Statement
    from scrydon_migrate.guard import TableSize, Thresholds
    from scrydon_migrate.locks import Risk
    from scrydon_migrate.relations import Relation
    from scrydon_migrate.releases import Releases
    from scrydon_migrate.source import Migration


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation of one rule, at a place in a file."""

    rule: str
    severity: Severity
    message: str
    help: str
    file: str
    line: int
    column: int = 1
    suggestion: str = ""
    service: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "help": self.help,
            "suggestion": self.suggestion or None,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "service": self.service,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule module: its check runs on the statements it can find something in, never on the others."""

    id: str
    summary: str
    severity: Severity
    check: Callable[[Subject], Iterator[Finding]]
    scope: str = "statement"
    #: The statement kinds (parse-tree node names) it reads; empty: every statement.
    kinds: frozenset[str] = frozenset()
    #: A lock rule (:func:`lock_rule`): runs only on a statement with a risk of its id.
    lock: bool = False
    #: The module's ``relevant(migration)``: False when the rule can find nothing in any statement of the
    #: migration, asked once per file instead of running the check on each statement.
    relevant: Callable[[Migration], bool] | None = None


class Positions:
    """Line and column of an offset in a migration's SQL: findings point at the clause, not the statement."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._starts: list[int] | None = None

    def line_column(self, offset: int) -> tuple[int, int]:
        if self._starts is None:  # built once per file, only when a finding needs it
            self._starts = [0, *(m.end() for m in re.finditer("\n", self.sql))]
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def command_offset(self, statement: Statement, node: Any, index: int) -> int | None:
        """Where ``ALTER TABLE``'s subcommand number ``index`` starts: PostgreSQL keeps no position for it.

        Subcommands are separated by the commas outside parentheses; the first one follows the table's name.
        """
        from pglast.parser import scan

        relation_at = getattr(node.relation, "location", -1)
        start = self.sql.find(statement.text, max(0, relation_at - len(statement.text))) if relation_at >= 0 else -1
        if index < 0 or start < 0:
            return None
        starts = _segment_starts(scan(statement.text), relation_at - start)
        return start + starts[index] if index < len(starts) else None


_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})


def _segment_starts(tokens: Sequence[Any], name_at: int) -> list[int]:
    """Offsets of the comma-separated parts of ``ALTER TABLE name part, part, ...`` (commas at depth 0)."""
    rest = [t for t in tokens if t.start >= name_at and t.name not in _COMMENT_TOKENS]
    first = 1
    while first + 1 < len(rest) and rest[first].name == "ASCII_46":  # schema.table
        first += 2
    starts, depth, after_comma = [rest[first].start] if first < len(rest) else [], 0, False
    for token in rest[first:]:
        if after_comma:
            starts.append(token.start)
            after_comma = False
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
        elif token.name == "ASCII_44" and depth == 0:
            after_comma = True
    return starts


@dataclass
class Subject:
    """What a statement rule sees: the statement, its parse tree and what came before it."""

    migration: Migration
    statement: Statement
    created: set[Relation]
    earlier: Sequence[Statement]
    sizes: Mapping[Relation, TableSize]
    thresholds: Thresholds | None
    releases: Releases | None = None
    history: Sequence[Migration] = field(default_factory=tuple)
    positions: Positions | None = None
    created_if_missing: set[Relation] = field(default_factory=set)
    earlier_by_kind: Mapping[str, Sequence[Statement]] = field(default_factory=dict)
    #: The search_path an earlier ``SET search_path`` of the migration put in effect, if any.
    search_path: tuple[str, ...] | None = None

    @property
    def node(self) -> Any:
        """The statement's parse tree, read only by the rules that look at it."""
        return self.statement.node

    @cached_property
    def new_columns(self) -> tuple[NewColumn, ...]:
        """The columns the statement defines (CREATE TABLE, ADD COLUMN), read once for the rules about them."""
        return new_columns(self.node)

    def finding(
        self,
        rule: str,
        severity: Severity,
        message: str,
        help_text: str,
        suggestion: str = "",
        at: int | None = None,
    ) -> Finding:
        """A finding at file offset ``at`` (the offending column or clause), else at the statement's start."""
        line, column = self.statement.line, 1
        if at is not None and at >= 0 and self.positions is not None:
            line, column = self.positions.line_column(at)
        return Finding(
            rule=rule,
            severity=severity,
            message=message,
            help=help_text,
            file=str(self.migration.file.path),
            line=line,
            column=column,
            suggestion=suggestion,
            service=self.migration.file.service,
            version=self.migration.file.version_text,
        )

    def command_at(self, cmd: Any) -> int | None:
        """File offset of one ``ALTER TABLE`` subcommand (the object, or its index) of this statement."""
        commands = list(getattr(self.node, "cmds", None) or ())
        index = cmd if isinstance(cmd, int) else next((i for i, c in enumerate(commands) if c is cmd), -1)
        if self.positions is None or not 0 <= index < len(commands):
            return None
        return self.positions.command_offset(self.statement, self.node, index)

    def risk_at(self, risk: Risk) -> int | None:
        """File offset of a lock risk's clause: the column or constraint its subcommand adds, else the subcommand.

        Read from this statement's own tree: the risk says only which subcommand, so it holds for any
        statement of the same shape.
        """
        commands = getattr(self.node, "cmds", None) or ()
        if not 0 <= risk.command < len(commands):
            return None
        location = getattr(commands[risk.command].def_, "location", None)
        return location if isinstance(location, int) and location >= 0 else self.command_at(risk.command)

    def earlier_of_kind(self, kind: str) -> Sequence[Statement]:
        """The earlier statements of this migration of one parse-tree kind (``AlterEnumStmt``, ...)."""
        return self.earlier_by_kind.get(kind, ())

    def is_new(self, relation: Relation | None) -> bool:
        """A table created earlier in this migration: lock rules do not apply to it."""
        if relation is None:
            return False
        return created_here(on_path(relation, self.search_path), self.created)

    def is_new_unless_it_exists(self, relation: Relation | None) -> bool:
        """Created ``IF NOT EXISTS`` earlier in this migration, and the database (if asked) has no such table."""
        return (
            relation is not None
            and relation not in self.sizes
            and created_here(on_path(relation, self.search_path), self.created_if_missing)
        )


def load_rules() -> list[Rule]:
    """Every rule module in :mod:`scrydon_migrate.rules`, by id."""
    found = []
    for info in sorted(pkgutil.iter_modules(rules_package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"{rules_package.__name__}.{info.name}")
        found.append(
            Rule(
                id=module.RULE_ID,
                summary=module.SUMMARY,
                severity=Severity(module.SEVERITY),
                check=module.check,
                scope=getattr(module, "SCOPE", "statement"),
                kinds=getattr(module, "KINDS", frozenset()),
                lock=module.RULE_ID in _LOCK_RULES,
                relevant=getattr(module, "relevant", None),
            )
        )
    return found


def lint_migration(
    migration: Migration,
    rules: Sequence[Rule],
    *,
    sizes: Mapping[Relation, TableSize] | None = None,
    thresholds: Thresholds | None = None,
    releases: Releases | None = None,
    history: Sequence[Migration] = (),
) -> list[Finding]:
    """Findings for one migration, allows applied, unused allows reported.

    Rules read each statement's tree from the file's one parse (:attr:`Statement.node`), and only the rules
    that apply to the statement's kind or risks look at it: a lock rule runs on a statement with a risk of
    its id, another on the kinds it reads, if the migration is :attr:`Rule.relevant` to it.
    What came before is shared, not copied, per statement (each rule's findings are taken before the next
    statement adds to it), so a file of many statements is linted in linear time.
    """
    findings: list[Finding] = []
    created: set[Relation] = set()
    created_if_missing: set[Relation] = set()
    earlier: list[Statement] = []
    by_kind: dict[str, list[Statement]] = {}
    positions = Positions(migration.sql)
    statement_rules = [
        rule
        for rule in rules
        if rule.scope == "statement" and not rule.lock and (rule.relevant is None or rule.relevant(migration))
    ]
    lock_rules = [rule for rule in rules if rule.scope == "statement" and rule.lock]
    by_statement_kind: dict[str, list[Rule]] = {}
    paths = search_paths(migration)
    for statement in migration.statements:
        path = paths.get(statement.index)
        candidates = by_statement_kind.get(statement.kind)
        if candidates is None:
            candidates = by_statement_kind[statement.kind] = _candidates(statement_rules, statement.kind)
        risks = statement.locks.risks
        if candidates or risks:
            subject = Subject(
                migration,
                statement,
                created,
                earlier,
                sizes or {},
                thresholds,
                releases,
                history,
                positions,
                created_if_missing,
                by_kind,
                path,
            )
            for rule in candidates:
                findings.extend(rule.check(subject))
            if risks:
                _check_risks(subject, lock_rules, {risk.rule for risk in risks}, findings)
        if statement.locks.creates:
            created.update(on_path(r, path) for r in statement.locks.creates)
        if statement.locks.creates_if_missing:
            created_if_missing.update(on_path(r, path) for r in statement.locks.creates_if_missing)
        earlier.append(statement)
        by_kind.setdefault(statement.kind, []).append(statement)
    for rule in rules:
        if rule.scope == "migration" and migration.statements:
            findings.extend(rule.check(Subject(migration, migration.statements[0], set(), (), {}, None, releases,
                                               history, positions)))  # fmt: skip
    return _apply_allows(migration, findings)


def _candidates(rules: Sequence[Rule], kind: str) -> list[Rule]:
    """The rules that may apply to a statement of ``kind``, in their order (lock rules go by risk instead).

    Chosen once per kind and file: a file's statements are of a few kinds, and most rules read one.
    """
    return [rule for rule in rules if not rule.kinds or kind in rule.kinds]


def _check_risks(subject: Subject, lock_rules: Sequence[Rule], at_risk: set[str], findings: list[Finding]) -> None:
    """The lock rules of the statement's risks, each once, in their order: most statements have no risk."""
    for rule in lock_rules:
        if rule.id in at_risk:
            findings.extend(rule.check(subject))


def _apply_allows(migration: Migration, findings: list[Finding]) -> list[Finding]:
    used: set[int] = set()
    kept = []
    for finding in findings:
        # the statement the finding is in: findings may point at a clause below the statement's first line
        statement = next((s for s in reversed(migration.statements) if s.line <= finding.line), None)
        allow = migration.allowed(finding.rule, statement.index if statement else -1)
        if allow is None:
            kept.append(finding)
        else:
            used.add(allow.line)
    for allow in migration.allows:
        if allow.line not in used and allow.rule != LOCK_BUDGET_RULE:
            kept.append(
                Finding(
                    rule="unused-allow",
                    severity=Severity.WARNING,
                    message=f"'-- migrate:allow {allow.rule}' matches no finding",
                    help="remove it: an allow that matches nothing hides nothing and misleads readers",
                    file=str(migration.file.path),
                    line=allow.line,
                    service=migration.file.service,
                    version=migration.file.version_text,
                )
            )
    return sorted(kept, key=lambda f: (f.line, f.rule))


#: Lock rules that build an index on a table: one created ``IF NOT EXISTS`` earlier in the migration is new
#: to them unless the database says the table exists now. The guard agrees: it refuses only a table it can size.
INDEX_RULES = frozenset({"require-concurrent-index", "require-unique-using-index"})
#: The ids :func:`lock_rule` made a check for.
_LOCK_RULES: set[str] = set()


def lock_rule(rule_id: str) -> Callable[[Subject], Iterator[Finding]]:
    """A rule reporting the :mod:`locks` risks of its id: a warning offline or on a small table, else an error."""
    _LOCK_RULES.add(rule_id)

    def check(subject: Subject) -> Iterator[Finding]:
        from scrydon_migrate.guard import default_may_rewrite, rewrite_free

        for risk in subject.statement.locks.risks:
            if risk.rule != rule_id or subject.is_new(risk.table or risk.index):
                continue
            if risk.rule in INDEX_RULES and subject.is_new_unless_it_exists(risk.table):
                continue
            if _not_null_checked_before(subject, risk):
                continue
            target = risk.table or risk.index
            size = subject.sizes.get(target) if target else None
            if (size is not None and rewrite_free(risk, size)) or not default_may_rewrite(risk, size):
                continue
            large = size is not None and subject.thresholds is not None and subject.thresholds.is_large(size)
            on = f" on {target.display!r}" if target else ""
            sized = f" (table is {size.describe()})" if size else ""
            yield subject.finding(
                rule_id,
                Severity.ERROR if large else Severity.WARNING,
                f"{risk.what}{on} takes a{'n' if risk.lock[0] in 'AEIOU' else ''} {risk.lock} lock "
                f"that blocks {risk.blocks} {risk.why}{sized}",
                "on a table that is large when the upgrade runs, this stalls the service; up refuses it then",
                str(risk.instead),
                at=subject.risk_at(risk),
            )

    return check


def _not_null_checked_before(subject: Subject, risk: Risk) -> bool:
    """SET NOT NULL after an earlier migration (or statement) added ``CHECK (col IS NOT NULL)``."""
    from scrydon_migrate.guard import planned_not_null_checks

    if risk.rule != "require-check-before-not-null" or risk.table is None or risk.column is None:
        return False
    earlier = [m for m in subject.history if m.version < subject.migration.version]
    before_this = replace(subject.migration, statements=tuple(subject.earlier))
    return (risk.table.name, risk.column) in planned_not_null_checks([*earlier, before_this])
