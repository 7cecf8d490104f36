"""Compare ``scrydon-migrate lint`` with squawk: rule coverage, findings, speed. Writes docs/squawk-comparison.md.

    python3 -m venv .squawk && .squawk/bin/pip install squawk-cli   # once, beside the project: not a dependency
    .venv/bin/python bench/lint_compare.py --squawk .squawk/bin/squawk
        # [--runs 5] [--slow-runs 3] [--out PATH] [--speed-only: time both tools, print the speed section]

What it does, all offline:

1. For every squawk rule (the table ``SQUAWK_RULES`` below, from squawk's rule docs; each name is checked
   against the installed binary, ``--discover`` also looks for names the table lacks), lint an example that
   triggers it with both tools and record: does squawk report it (with its default rules / only with
   ``--include``), which of our rules fire, and our written position (covered, by design, not covered, gap).
2. Lint every case in tests/lint/cases/ (bad_* and ok_*) and the reference migrations under migrations/ with
   both tools. Squawk runs with ``--pg-version 13.0`` (our oldest supported server) and with
   ``--assume-in-transaction`` exactly for the files our runner wraps in a transaction.
3. Time both command lines on 1,000 generated statements (one file, and 50 files of 20), median of a few runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "lint" / "cases"
REFERENCE = REPO / "migrations"
OUT = REPO / "docs" / "squawk-comparison.md"
SERVICE = "platform"
PG_VERSION = "13.0"  # the oldest PostgreSQL scrydon-migrate supports
#: Squawk rules that fire on nearly every statement; left out of the per-case listings (counted elsewhere).
NOISE = frozenset(
    {"require-lock-timeout", "require-statement-timeout", "require-timeout-settings", "prefer-robust-stmts"}
)
LOCKING = frozenset({"lock", "rewrite", "lock (later)", "lock wait"})
#: Squawk reports that are not rules but count as one of ours (a file that does not parse).
EXTRA_EQUIVALENTS = {"invalid-migration": {"syntax-error"}}


@dataclass(frozen=True)
class SquawkRule:
    """One squawk rule and our position on it."""

    name: str
    about: str  # lock | rewrite | lock (later) | lock wait | failure | rolling update | compatibility | ...
    status: str  # covered | partly | by design | not covered | gap
    ours: tuple[str, ...]
    example: str
    note: str
    in_transaction: bool | None = None  # None: as our runner would run the example
    pg_version: str = PG_VERSION  # the version squawk is told for the example


def _r(name: str, about: str, status: str, ours: str, example: str, note: str, **kw: Any) -> SquawkRule:
    return SquawkRule(name, about, status, tuple(o for o in ours.split() if o), example.strip() + "\n", note, **kw)


TIMEOUTS = (
    "By design: the runner sets `lock_timeout` (2 s by default) on every statement and retries with backoff, so a "
    "step waits at most that long for its lock and writers never queue longer behind it; the lock rules and the "
    "apply-time guard refuse steps that would *hold* a blocking lock for long on a large table. "
)

# fmt: off
SQUAWK_RULES: tuple[SquawkRule, ...] = (
    # --- locks and rewrites -------------------------------------------------------------------------
    _r("require-concurrent-index-creation", "lock", "covered", "require-concurrent-index",
       "CREATE INDEX orders_note_idx ON orders (note);",
       "Same exemption for a table created earlier in the same migration (squawk: in the same transaction)."),
    _r("require-concurrent-index-deletion", "lock", "covered", "require-concurrent-index-drop",
       "DROP INDEX orders_note_idx;",
       ""),
    _r("require-concurrent-reindex", "lock", "covered", "require-concurrent-reindex",
       "REINDEX TABLE orders;",
       "Also `REINDEX SCHEMA/DATABASE/SYSTEM` (case `require-concurrent-reindex/bad_reindex_schema.sql`)."),
    _r("require-concurrent-partition-detach", "lock", "covered", "require-concurrent-partition-detach",
       "ALTER TABLE events DETACH PARTITION events_2024;",
       "ACCESS EXCLUSIVE on the partitioned table and the partition until commit; ours suggests `DETACH "
       "PARTITION ... CONCURRENTLY` (PostgreSQL 14+) alone in a `-- migrate:no-transaction` file."),
    _r("constraint-missing-not-valid", "lock", "covered", "constraint-missing-not-valid",
       "ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0);",
       "Ours also reports a CHECK written on `ADD COLUMN` (scans under ACCESS EXCLUSIVE), which squawk misses "
       "(case `constraint-missing-not-valid/bad_add_column_with_check.sql`)."),
    _r("adding-foreign-key-constraint", "lock", "covered", "constraint-missing-not-valid",
       "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey\n"
       "    FOREIGN KEY (customer_id) REFERENCES customers (id);",
       "Squawk also reports every `ADD COLUMN ... REFERENCES`; ours only one with a DEFAULT (the new column then "
       "has values, validated row by row: `bad_add_column_references_with_default.sql`): without one PostgreSQL "
       "marks the key valid with no scan (checked on 18), case `ok_add_column_references.sql`."),
    _r("adding-field-with-default", "rewrite", "partly", "adding-field-with-volatile-default",
       "ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();",
       "Squawk treats every function it does not know as volatile (it even reports `DEFAULT lower('X')`). Ours "
       "knows the volatile built-ins (`gen_random_bytes()`, `random_normal()`, ...) offline and, with a "
       "database, asks `pg_proc` (or an earlier `CREATE FUNCTION`) about the others; offline it gives a "
       "user-defined function the benefit of the doubt (the runtime lock budget still holds)."),
    _r("changing-column-type", "rewrite", "covered", "ban-column-type-change",
       "ALTER TABLE orders ALTER COLUMN qty TYPE bigint;",
       ""),
    _r("adding-not-nullable-field", "lock", "covered", "require-check-before-not-null",
       "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
       "Both skip it after a validated CHECK (col IS NOT NULL); squawk only within one file, ours across the "
       "migrations linted together (the reference `platform` 0402 is clean for us, reported by squawk). A CHECK "
       "still NOT VALID does not count (case `require-check-before-not-null/bad_not_valid_check_only.sql`)."),
    _r("adding-required-field", "failure", "covered", "adding-not-nullable-field",
       "ALTER TABLE users ADD COLUMN locale text NOT NULL;",
       ""),
    _r("adding-serial-primary-key-field", "lock", "covered", "require-unique-using-index",
       "ALTER TABLE orders ADD PRIMARY KEY (id);",
       "Also an inline `PRIMARY KEY` on `ADD COLUMN` "
       "(case `require-unique-using-index/bad_add_column_primary_key.sql`)."),
    _r("disallowed-unique-constraint", "lock", "covered", "require-unique-using-index",
       "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
       "Also an inline `UNIQUE` on `ADD COLUMN` (case `require-unique-using-index/bad_add_column_unique.sql`)."),
    _r("prefer-repack", "rewrite", "covered", "ban-table-rewrite",
       "VACUUM FULL orders;",
       "Squawk reports `VACUUM FULL` / `CLUSTER` only with `--pg-version 19` or later (when `REPACK` exists; "
       "the example is checked that way), so for the PostgreSQL 13–18 we support it reports nothing on them; "
       "ours reports them on every version, and also `SET TABLESPACE` and `SET LOGGED/UNLOGGED`.",
       pg_version="19.0"),
    _r("ban-concurrent-index-creation-in-transaction", "lock", "by design", "mixed-transaction-mode",
       "ALTER TABLE orders ADD COLUMN memo text;\nCREATE INDEX CONCURRENTLY orders_memo_idx ON orders (memo);",
       "By design: a file with a CONCURRENTLY statement is never wrapped in a transaction (it is journaled); "
       "`mixed-transaction-mode` reports the ordinary statements that lose their atomicity.",
       in_transaction=True),
    _r("ban-alter-domain-with-add-constraint", "lock", "covered", "ban-alter-domain-with-add-constraint",
       "ALTER DOMAIN email_address ADD CONSTRAINT email_address_has_at CHECK (VALUE LIKE '%@%');",
       "Scans every column of the domain in every table under a SHARE lock, and so does a later `VALIDATE "
       "CONSTRAINT`, so `NOT VALID` does not help; ours suggests a table `CHECK ... NOT VALID` per column."),
    _r("ban-create-domain-with-constraint", "lock (later)", "not covered", "",
       "CREATE DOMAIN email_address AS text CHECK (VALUE LIKE '%@%');",
       "Creating the domain locks no existing table; squawk bans it because *changing* its constraint later "
       "blocks writes to every table using it, which is the `ban-alter-domain-with-add-constraint` gap above. "
       "The reference migrations use three such domains deliberately."),
    _r("ban-alter-generated-expression", "rewrite", "covered", "ban-table-rewrite",
       "ALTER TABLE order_lines ALTER COLUMN total_cents SET EXPRESSION AS (quantity * unit_price_cents);",
       "Squawk frames it as compatibility (opt-in); ours as the rewrite it is: `SET EXPRESSION` (PostgreSQL 17+) "
       "rewrites the whole table under ACCESS EXCLUSIVE (checked on 18: new relfilenode)."),
    _r("require-lock-timeout", "lock wait", "by design", "",
       "ALTER TABLE orders ADD COLUMN memo text;",
       TIMEOUTS),
    _r("require-statement-timeout", "lock wait", "by design", "",
       "ALTER TABLE orders ADD COLUMN memo text;",
       TIMEOUTS + "No `statement_timeout` on purpose: concurrent index builds and `VALIDATE` may run long without "
                  "blocking anyone."),
    _r("require-timeout-settings", "lock wait", "by design", "",
       "ALTER TABLE orders ADD COLUMN memo text;",
       TIMEOUTS + "(In this squawk version the two rules above report it.)"),
    # --- failures and process ------------------------------------------------------------------------
    _r("prefer-robust-stmts", "process", "by design", "",
       "ALTER TABLE orders ADD COLUMN memo text;",
       "By design: a transactional migration applies all or nothing, and a journaled one resumes at the first "
       "statement not done (dropping the INVALID index a failed concurrent build left), so a statement that "
       "succeeded never runs twice and `IF NOT EXISTS` is not needed. (Squawk reports it only outside a "
       "transaction; the example is checked that way.)",
       in_transaction=False),
    _r("transaction-nesting", "process", "by design", "invalid-migration",
       "ALTER TABLE orders ADD COLUMN memo text;\nCOMMIT;\nALTER TABLE orders ADD COLUMN note text;",
       "By design: any transaction control other than one BEGIN ... COMMIT pair around the whole file "
       "(tolerated and dropped) makes the file `invalid-migration`.",
       in_transaction=True),
    _r("ban-uncommitted-transaction", "process", "by design", "invalid-migration",
       "BEGIN;\nALTER TABLE orders ADD COLUMN memo text;",
       "By design: `invalid-migration`."),
    _r("ban-duplicate-column-assignments", "failure", "not covered", "",
       "UPDATE users SET locale = 'en', locale = 'fr' WHERE id = 1;",
       "PostgreSQL refuses it on every database (`multiple assignments to same column`), so the first test run "
       "fails; no lock is involved."),
    _r("identifier-too-long", "correctness", "covered", "identifier-too-long",
       "CREATE TABLE workflow_run_step_attempt_outputs_by_organisation_and_workspace_archive (id bigint);",
       "PostgreSQL truncates to 63 bytes with only a NOTICE; ours reads the name as written and points at it."),
    # --- rolling update / application compatibility --------------------------------------------------
    _r("renaming-column", "rolling update", "covered", "renaming-column",
       "ALTER TABLE users RENAME COLUMN name TO full_name;",
       ""),
    _r("renaming-table", "rolling update", "covered", "renaming-table",
       "ALTER TABLE users RENAME TO accounts;",
       ""),
    _r("ban-drop-column", "rolling update", "covered", "ban-drop-column",
       "ALTER TABLE users DROP COLUMN legacy_flag;",
       "Ours accepts the drop once a `-- migrate:stops-using` marker is in an earlier release (releases.toml)."),
    _r("ban-drop-table", "rolling update", "covered", "ban-drop-table",
       "DROP TABLE legacy_tokens;",
       ""),
    _r("ban-drop-database", "data loss", "covered", "ban-drop-database",
       "DROP DATABASE legacy;",
       ""),
    _r("ban-truncate-cascade", "data loss", "covered", "ban-truncate-cascade",
       "TRUNCATE import_batches CASCADE;",
       ""),
    _r("ban-drop-not-null", "compatibility", "covered", "ban-drop-not-null",
       "ALTER TABLE organisations ALTER COLUMN display_name DROP NOT NULL;",
       "Catalog only (brief lock). Ours accepts it for a column marked `-- migrate:stops-using` (our column "
       "deprecation relies on it: reference `platform` 0301)."),
    _r("renaming-object", "compatibility", "partly", "renaming-object",
       "ALTER INDEX orders_note_idx RENAME TO orders_memo_idx;",
       "Ours checks renames of the names application code uses: tables, columns, views, functions, types, "
       "schemas and enum values; not of indexes, constraints or sequences (the example)."),
    _r("ban-set-schema", "compatibility", "not covered", "",
       "ALTER TABLE orders SET SCHEMA archive;",
       "Catalog only (brief ACCESS EXCLUSIVE); a compatibility concern like a rename, not checked."),
    _r("ban-drop-constraint", "compatibility", "not covered", "",
       "ALTER TABLE orders DROP CONSTRAINT orders_qty_positive;",
       "Catalog only; compatibility, not checked."),
    _r("ban-drop-default", "compatibility", "not covered", "",
       "ALTER TABLE users ALTER COLUMN locale DROP DEFAULT;",
       "Catalog only; compatibility, not checked."),
    _r("ban-set-default", "compatibility", "not covered", "",
       "ALTER TABLE users ALTER COLUMN locale SET DEFAULT 'en';",
       "Catalog only (no rewrite: applies to new rows); compatibility, not checked."),
    _r("ban-drop-domain", "compatibility", "covered", "ban-drop-object",
       "DROP DOMAIN email_address;",
       "Also accepted when created earlier in the same migration, or created again later in it."),
    _r("ban-drop-extension", "compatibility", "not covered", "",
       "DROP EXTENSION pg_trgm;",
       "Compatibility, not checked."),
    _r("ban-drop-function", "compatibility", "covered", "ban-drop-object",
       "DROP FUNCTION organisations_sync_name();",
       "Ours accepts a function created `RETURNS trigger` in this or an earlier migration: only its "
       "triggers call it (reference `platform` 0301 drops one after its trigger)."),
    _r("ban-drop-generated-expression", "compatibility", "not covered", "",
       "ALTER TABLE order_lines ALTER COLUMN total_cents DROP EXPRESSION;",
       "No rewrite (checked on 18); compatibility, not checked."),
    _r("ban-drop-index", "compatibility", "not covered", "",
       "DROP INDEX CONCURRENTLY orders_note_idx;",
       "Its lock side (plain `DROP INDEX`) is `require-concurrent-index-drop`; losing the index is not checked."),
    _r("ban-drop-policy", "security", "not covered", "",
       "DROP POLICY tenant_isolation ON documents;",
       "Security / compatibility, not checked."),
    _r("ban-drop-schema", "compatibility", "covered", "ban-drop-object",
       "DROP SCHEMA reporting CASCADE;",
       "Also accepted when created earlier in the same migration, or created again later in it."),
    _r("ban-drop-sequence", "compatibility", "not covered", "",
       "DROP SEQUENCE invoice_number_seq;",
       "Compatibility, not checked."),
    _r("ban-drop-trigger", "compatibility", "not covered", "",
       "DROP TRIGGER organisations_sync_name ON organisations;",
       "Compatibility, not checked (a deprecation drops its sync trigger on purpose)."),
    _r("ban-drop-type", "compatibility", "covered", "ban-drop-object",
       "DROP TYPE legacy_status;",
       "Also accepted when created earlier in the same migration, or created again later in it."),
    _r("ban-drop-view", "compatibility", "covered", "ban-drop-object",
       "DROP VIEW active_users;",
       "Also accepted when created earlier in the same migration, or created again later in it."),
    _r("ban-replace-view-function", "compatibility", "not covered", "",
       "CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE active;",
       "Compatibility, not checked."),
    _r("ban-alter-identity", "compatibility", "not covered", "",
       "ALTER TABLE invoices ALTER COLUMN id SET GENERATED ALWAYS;",
       "Catalog only (no rewrite); compatibility, not checked."),
    _r("ban-disable-trigger", "correctness", "not covered", "",
       "ALTER TABLE orders DISABLE TRIGGER orders_audit;",
       "Brief SHARE ROW EXCLUSIVE (checked on 18); correctness, not checked."),
    _r("ban-replica-identity", "compatibility", "not covered", "",
       "ALTER TABLE orders REPLICA IDENTITY FULL;",
       "Brief lock, logical replication concern, not checked."),
    _r("ban-add-column", "compatibility", "not covered", "",
       "ALTER TABLE users ADD COLUMN locale text NULL;",
       "Opt-in in squawk. Adding columns is how our expand/contract works; services name their columns."),
    _r("ban-add-composite-attribute", "compatibility", "not covered", "",
       "ALTER TYPE address ADD ATTRIBUTE zip text;",
       "Compatibility, not checked."),
    _r("ban-add-enum-value", "compatibility", "not covered", "",
       "ALTER TYPE workflow_run_status ADD VALUE 'cancelling';",
       "Compatibility (old code meets an unknown value), not checked; ours checks the failure of *using* it in "
       "the same transaction (`enum-value-used-in-same-transaction`)."),
    _r("require-enum-value-ordering", "correctness", "covered", "require-enum-value-ordering",
       "ALTER TYPE workflow_run_status ADD VALUE 'cancelling';",
       "Ours reports it as info (to review): appending last is sometimes right, and no lock is involved."),
    _r("ban-alter-sequence-values", "compatibility", "not covered", "",
       "ALTER SEQUENCE invoices_id_seq RESTART WITH 1000;",
       "Compatibility, not checked."),
    _r("ban-detach-inheritance", "compatibility", "not covered", "",
       "ALTER TABLE events_2024 NO INHERIT events;",
       "Compatibility, not checked (the lock side of DETACH PARTITION is the gap above)."),
    _r("ban-new-write-restriction", "compatibility", "not covered", "",
       "ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0) NOT VALID;",
       "Opt-in in squawk; constraints are how our migrations protect data; not checked."),
    _r("ban-revoke", "security", "not covered", "",
       "REVOKE SELECT ON users FROM reporting;",
       "Not checked."),
    # --- security and settings --------------------------------------------------------------------------
    _r("ban-create-policy", "security", "not covered", "",
       "CREATE POLICY tenant_isolation ON documents USING (tenant_id = current_setting('app.tenant_id')::uuid);",
       "Not checked."),
    _r("ban-alter-policy-condition", "security", "not covered", "",
       "ALTER POLICY tenant_isolation ON documents USING (tenant_id = current_setting('app.tenant')::uuid);",
       "Not checked."),
    _r("ban-alter-policy-roles", "security", "not covered", "",
       "ALTER POLICY tenant_isolation ON documents TO app_reader;",
       "Not checked."),
    _r("ban-alter-row-level-security", "security", "not covered", "",
       "ALTER TABLE documents ENABLE ROW LEVEL SECURITY;",
       "Brief ACCESS EXCLUSIVE (catalog only); not checked."),
    _r("ban-alter-role-options", "security", "not covered", "",
       "ALTER ROLE app_reader NOLOGIN;",
       "Not checked."),
    _r("ban-alter-database-options", "settings", "not covered", "",
       "ALTER DATABASE auth SET timezone TO 'UTC';",
       "Not checked."),
    _r("ban-alter-system-options", "settings", "not covered", "",
       "ALTER SYSTEM SET work_mem = '64MB';",
       "Not checked (it cannot run in a transaction: ours journals the file)."),
    _r("ban-alter-extension", "compatibility", "not covered", "",
       "ALTER EXTENSION pg_trgm UPDATE TO '1.6';",
       "Not checked."),
    _r("ban-alter-function-options", "security", "not covered", "",
       "ALTER FUNCTION set_updated_at() SECURITY DEFINER;",
       "Not checked."),
    _r("ban-alter-view-options", "security", "not covered", "",
       "ALTER VIEW active_users SET (security_barrier = true);",
       "Not checked."),
    # --- schema style --------------------------------------------------------------------------------
    _r("prefer-bigint-over-int", "style", "partly", "prefer-bigint",
       "CREATE TABLE audit_events (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, action text NOT NULL);",
       "Ours reports keys (column or table-level `PRIMARY KEY`) and identity columns only; squawk every int column."),
    _r("prefer-bigint-over-smallint", "style", "partly", "prefer-bigint",
       "CREATE TABLE plans (id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);",
       "As above: keys and identity columns only (case `prefer-bigint/bad_smallint_key.sql`)."),
    _r("prefer-identity", "style", "covered", "prefer-identity",
       "CREATE TABLE model_deployments (id bigserial PRIMARY KEY, region text NOT NULL);",
       ""),
    _r("prefer-text-field", "style", "covered", "prefer-text",
       "CREATE TABLE organisations (id bigint PRIMARY KEY, name varchar(100) NOT NULL);",
       ""),
    _r("ban-char-field", "style", "covered", "prefer-text",
       "CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);",
       ""),
    _r("prefer-timestamp-tz", "style", "covered", "prefer-timestamptz",
       "ALTER TABLE sessions ADD COLUMN revoked_at timestamp NULL;",
       "Squawk also accepts `prefer-timestamptz`."),
    _r("require-table-schema", "style", "not covered", "",
       "CREATE TABLE audit_events (id bigint PRIMARY KEY);",
       "Opt-in in squawk. Each service has its own database and the default search_path."),
)
# fmt: on


# --- running the tools ---------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    """Offline: no database URL reaches our linter. Byte code is cached, as an installed package has it: with
    ``PYTHONDONTWRITEBYTECODE`` set and no cache yet, every run would compile the package again (a start-up
    of 0.20 s CPU instead of 0.13 s)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("DATABASE_URL") and not k.startswith("MIGRATE_") and k != "PYTHONDONTWRITEBYTECODE"
    }


def find_squawk(explicit: str | None) -> str:
    candidates = [explicit] if explicit else [str(Path(sys.executable).with_name("squawk")), shutil.which("squawk")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())  # the timings run it from their own folders
    sys.exit("squawk not found: `pip install squawk-cli` into a virtualenv of its own and pass --squawk PATH")


def ours(folder: Path) -> list[dict[str, Any]]:
    """``scrydon-migrate lint <folder> --json``: the real command, offline."""
    done = subprocess.run(
        [sys.executable, "-m", "scrydon_migrate", "lint", str(folder), "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=folder.parent,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"scrydon-migrate lint {folder} exited {done.returncode}: {done.stderr}")
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


@dataclass
class Squawk:
    binary: str
    all_rules: tuple[str, ...] = ()

    def run(
        self, files: Sequence[Path], *, in_transaction: bool, include_all: bool = False, pg_version: str = PG_VERSION
    ) -> list[dict[str, Any]]:
        if not files:
            return []
        cmd = [self.binary, "--reporter", "json", "--pg-version", pg_version]
        if in_transaction:
            cmd.append("--assume-in-transaction")
        if include_all and self.all_rules:
            cmd.append("--include=" + ",".join(self.all_rules))
        done = subprocess.run(
            [*cmd, *map(str, files)], capture_output=True, text=True, cwd=files[0].parent, check=False
        )
        out = done.stdout.strip()
        if not out.startswith("["):
            raise RuntimeError(f"squawk failed on {files}: {done.stderr or out}")
        found: list[dict[str, Any]] = json.loads(out)
        return found

    def accepts(self, rule: str) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe.sql"
            probe.write_text("SELECT 1;\n")
            done = subprocess.run(
                [self.binary, f"--exclude={rule}", str(probe)], capture_output=True, text=True, check=False
            )
        return "invalid" not in done.stderr

    def version(self) -> str:
        return subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def transactional(folder: Path) -> dict[Path, bool]:
    """Which files our runner wraps in a transaction (squawk's ``--assume-in-transaction``); unloadable: True."""
    from scrydon_migrate import source
    from scrydon_migrate.errors import MigrateError

    modes = {}
    for found in source.scan(SERVICE, folder):
        try:
            modes[found.path] = source.load(found).transactional
        except MigrateError:
            modes[found.path] = True
    return modes


def squawk_folder(
    squawk: Squawk,
    folder: Path,
    *,
    include_all: bool = False,
    force_tx: bool | None = None,
    pg_version: str = PG_VERSION,
) -> list[dict[str, Any]]:
    modes = transactional(folder)
    found = []
    for in_tx in (True, False):
        files = sorted(p for p, mode in modes.items() if (mode if force_tx is None else force_tx) == in_tx)
        found += squawk.run(files, in_transaction=in_tx, include_all=include_all, pg_version=pg_version)
    return found


def parallel(func: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2))) as pool:
        return list(pool.map(func, items))


# --- 1. squawk's rules ----------------------------------------------------------------------------------


@dataclass
class RuleCheck:
    rule: SquawkRule
    accepted: bool
    default: bool
    fires: bool
    ours_fired: list[str]


def check_squawk_rules(squawk: Squawk, workdir: Path) -> list[RuleCheck]:
    def one(rule: SquawkRule) -> RuleCheck:
        folder = workdir / "examples" / rule.name / SERVICE
        folder.mkdir(parents=True)
        (folder / "0001_example.sql").write_text(rule.example)
        default = squawk_folder(squawk, folder, force_tx=rule.in_transaction, pg_version=rule.pg_version)
        included = squawk_folder(
            squawk, folder, include_all=True, force_tx=rule.in_transaction, pg_version=rule.pg_version
        )
        fired_ours = sorted({f["rule"] for f in ours(folder)})
        return RuleCheck(
            rule,
            accepted=squawk.accepts(rule.name),
            default=any(f["rule_name"] == rule.name for f in default),
            fires=any(f["rule_name"] == rule.name for f in included),
            ours_fired=fired_ours,
        )

    return parallel(one, SQUAWK_RULES)


def discover(squawk: Squawk) -> list[str]:
    """Rule names the installed squawk accepts that the table lacks (scans the binary's strings)."""
    data = Path(squawk.binary).resolve().read_bytes()
    prefixes = sorted({r.name.split("-")[0] for r in SQUAWK_RULES})
    runs = {m.group().decode() for m in re.finditer(rb"[a-z][a-z\-]{6,}[a-z]", data) if b"-" in m.group()}
    pattern = re.compile(rf"^(?:{'|'.join(prefixes)})(?:-[a-z]+)+$")
    candidates = {run[i:j] for run in runs for i in range(len(run)) for j in range(i + 8, min(len(run), i + 60) + 1)}
    known = {r.name for r in SQUAWK_RULES} | {"prefer-timestamptz"}
    fresh = sorted(c for c in candidates if pattern.match(c) and c not in known)
    return [name for name in fresh if squawk.accepts(name)]


# --- 2. the cases and the reference migrations -----------------------------------------------------------------


@dataclass
class CaseResult:
    rule: str
    name: str
    kind: str
    xfail: bool
    ours: list[str]
    squawk_default: list[str]
    squawk_all: list[str]


def case_folders(workdir: Path) -> list[tuple[str, str, Path, bool]]:
    found = []
    for rule_dir in sorted(p for p in CASES.iterdir() if p.is_dir()):
        for entry in sorted(rule_dir.iterdir()):
            if not entry.name.startswith(("bad_", "ok_")) or not (entry.is_dir() or entry.suffix == ".sql"):
                continue
            texts = [p.read_text() for p in ([entry] if entry.is_file() else sorted(entry.glob("*.sql")))]
            xfail = any(re.search(r"^--\s*xfail:", t, re.MULTILINE) for t in texts)
            if entry.is_dir():
                folder = workdir / "cases" / rule_dir.name / entry.name / SERVICE
                shutil.copytree(entry, folder)
            else:
                folder = workdir / "cases" / rule_dir.name / entry.stem / SERVICE
                folder.mkdir(parents=True)
                shutil.copyfile(entry, folder / f"0001_{entry.stem}.sql")
            found.append((rule_dir.name, entry.name, folder, xfail))
    return found


def lint_cases(squawk: Squawk, workdir: Path) -> list[CaseResult]:
    def one(item: tuple[str, str, Path, bool]) -> CaseResult:
        rule, name, folder, xfail = item
        return CaseResult(
            rule,
            name,
            "bad" if name.startswith("bad_") else "ok",
            xfail,
            ours=sorted({f["rule"] for f in ours(folder)}),
            squawk_default=sorted({f["rule_name"] for f in squawk_folder(squawk, folder)}),
            squawk_all=sorted({f["rule_name"] for f in squawk_folder(squawk, folder, include_all=True)}),
        )

    return parallel(one, case_folders(workdir))


@dataclass
class Reference:
    ours: list[dict[str, Any]]
    squawk: list[dict[str, Any]]
    files: int
    statements: int


def lint_reference(squawk: Squawk) -> Reference:
    from scrydon_migrate import source

    done = subprocess.run(
        [sys.executable, "-m", "scrydon_migrate", "lint", "--migrations-dir", str(REFERENCE), "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        check=False,
    )
    found_ours = json.loads(done.stdout)
    found_squawk: list[dict[str, Any]] = []
    files = statements = 0
    for folder in sorted(p for p in REFERENCE.iterdir() if p.is_dir()):
        found_squawk += squawk_folder(squawk, folder)
        for migration_file in source.scan(folder.name, folder):
            files += 1
            statements += len(source.load(migration_file).statements)
    for finding in found_squawk:
        finding["file"] = str(Path(finding["file"]).resolve().relative_to(REPO))
    return Reference(found_ours, found_squawk, files, statements)


# --- 3. speed --------------------------------------------------------------------------------------------------


def statements(count: int) -> list[str]:
    """``count`` realistic migration statements: tables, columns, indexes, constraints, data fixes, grants."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        t = f"svc_table_{i:03d}"
        block = [
            f"CREATE TABLE {t} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            f"    organisation_id uuid NOT NULL,\n    name text NOT NULL CHECK (char_length(name) <= 200),\n"
            f"    status text NOT NULL DEFAULT 'active',\n    created_at timestamptz NOT NULL DEFAULT now()\n);",
            f"CREATE INDEX {t}_organisation_id_idx ON {t} (organisation_id);",
            f"COMMENT ON TABLE {t} IS 'generated table {i}';",
            f"ALTER TABLE users ADD COLUMN pref_{i:03d} text NULL;",
            f"ALTER TABLE users ALTER COLUMN pref_{i:03d} SET DEFAULT 'on';",
            f"ALTER TABLE orders ADD CONSTRAINT orders_{t}_fk FOREIGN KEY (ref_{i:03d}) REFERENCES {t} (id) NOT VALID;",
            f"ALTER TABLE orders ADD COLUMN note_{i:03d} text NOT NULL DEFAULT '';",
            f"UPDATE orders SET status = 'archived'\n"
            f" WHERE status = 'closed' AND id BETWEEN {i * 1000} AND {i * 1000 + 999};",
            f"INSERT INTO {t} (organisation_id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'seed {i}');",
            f"CREATE VIEW {t}_active AS SELECT id, organisation_id, name FROM {t} WHERE status = 'active';",
            f"GRANT SELECT ON {t}, {t}_active TO reporting;",
            f"CREATE FUNCTION {t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            f"    NEW.created_at := coalesce(NEW.created_at, now());\n    RETURN NEW;\nEND\n$$;",
            f"CREATE TRIGGER {t}_touch BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_touch();",
            f"ALTER TABLE {t} ADD COLUMN archived_at timestamptz NULL;",
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_status_known CHECK (status IN ('active', 'archived'));",
            f"CREATE UNIQUE INDEX {t}_org_name_key ON {t} (organisation_id, lower(name));",
            f"ALTER TABLE {t} RENAME COLUMN archived_at TO retired_at;",
            f"DELETE FROM sessions WHERE expires_at < now() - interval '{30 + i % 60} days';",
            f"ALTER TABLE orders VALIDATE CONSTRAINT orders_{t}_fk;",
            f"CREATE TYPE {t}_kind AS ENUM ('a', 'b', 'c');",
        ]
        out += block
        i += 1
    return out[:count]


def _statement_count(sql: str) -> int:
    from pglast import parser

    return len(parser.split(sql, with_parser=False))


@dataclass
class Timing:
    label: str
    tool: str
    statements: int
    files: int
    runs: list[float] = field(default_factory=list)
    #: CPU seconds (user + system) of each run: what other work on a shared machine inflates least.
    cpu: list[float] = field(default_factory=list)
    #: Ours only: CPU seconds of each step of a lint (:func:`phases_of`), one process per run.
    phases: list[dict[str, float]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    def median_phase(self, name: str) -> float:
        return statistics.median(p[name] for p in self.phases)


def _time(command: Sequence[str], cwd: Path, into: Timing) -> None:
    """One run of ``command``: its wall and CPU seconds (user + system) added to ``into``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=cwd, check=False)
    into.runs.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    into.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr[-2000:]}")


def phases_of(folder: Path) -> dict[str, float]:
    """CPU seconds of each step of linting ``folder`` offline, in this process, as the command does them:
    ``read`` (scan and load every file: pglast's parse, the Python tree, the lock facts), ``rules`` (load the
    rules, lint every migration), ``output`` (the text report). The modules are imported first, untimed: the
    start-up is the timed 1-statement layout."""
    import contextlib
    import gc
    import io

    import scrydon_migrate.analysis  # noqa: F401 - pglast and the parser's helpers, imported by the first load
    from scrydon_migrate import lint, source
    from scrydon_migrate.cli import render

    gc.disable()  # as the command runs (scrydon_migrate.cli.main)
    start = time.process_time()
    migrations = [source.load(f) for f in source.scan(SERVICE, folder)]
    read = time.process_time()
    rules = lint.load_rules()
    findings = [f for m in migrations for f in lint.lint_migration(m, rules, history=migrations)]
    checked = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        render.lint(findings, as_json=False, output_format="text")
    written = time.process_time()
    return {"read": read - start, "rules": checked - read, "output": written - checked}


def _time_phases(folder: Path, into: Timing) -> None:
    """One run of :func:`phases_of` in a fresh process (``--phases-of``), added to ``into``."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--phases-of", str(folder)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=folder.parent,
        check=True,
    )
    into.phases.append(json.loads(done.stdout))


#: The service-sized layout: as many files as the real-world set the issue measured (674).
CORPUS_FILES = 674
CORPUS = f"{CORPUS_FILES} files (the reference migrations, then generated ones of 1-40 statements)"


def corpus() -> list[str]:
    """``CORPUS_FILES`` migration files: the reference migrations as written, then generated files of a mix of
    sizes (mostly a few statements, some dozens), always the same ones."""
    files = [p.read_text() for p in sorted(REFERENCE.glob("*/*.sql"))]
    sizes = random.Random(15)
    sql, taken = statements(40 * CORPUS_FILES), 0
    while len(files) < CORPUS_FILES:
        size = sizes.choice([1, 1, 2, 3, 4, 5, 8, 12, 20, 40])
        files.append("\n\n".join(sql[taken : taken + size]) + "\n")
        taken += size
    return files


def time_tools(squawk: Squawk, workdir: Path, runs: int, slow_runs: int) -> list[Timing]:
    sql = statements(1000)
    join = "\n\n".join
    layouts = {
        CORPUS: corpus(),
        "1 file x 1,000 statements": [join(sql) + "\n"],
        "50 files x 20 statements": [join(sql[k : k + 20]) + "\n" for k in range(0, 1000, 20)],
        "1 file x 1 statement (start-up)": [sql[0] + "\n"],
    }
    timings = []
    for label, files in layouts.items():
        folder = workdir / "timing" / re.sub(r"\W+", "_", label) / SERVICE
        folder.mkdir(parents=True)
        paths = []
        for n, text in enumerate(files, start=1):
            path = folder / f"{n:04d}_migration.sql"
            path.write_text(text)
            paths.append(path)
        count = sum(_statement_count(text) for text in files)
        slow = label.startswith("1 file x 1,000")
        ours_cmd = [sys.executable, "-m", "scrydon_migrate", "lint", str(folder)]
        squawk_cmd = [squawk.binary, "--pg-version", PG_VERSION, "--assume-in-transaction", *map(str, paths)]
        ours = Timing(label, "scrydon-migrate lint", count, len(paths))
        theirs = Timing(label, "squawk", count, len(paths))
        ours_runs = slow_runs if slow else runs
        for command in (ours_cmd, squawk_cmd):  # untimed: byte code and file pages cached before the first run
            _time(command, folder.parent, Timing(label, "warm-up", count, len(paths)))
        for run in range(max(ours_runs, runs)):  # interleaved: a change in the machine's load hits both
            if run < ours_runs:
                _time(ours_cmd, folder.parent, ours)
            if run < runs:
                _time(squawk_cmd, folder.parent, theirs)
            if label == CORPUS and run < ours_runs:
                _time_phases(folder, ours)
        timings += [ours, theirs]
    return timings


# --- the report ------------------------------------------------------------------------------------------------


def _code(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(f"`{i}`" for i in items) if items else "—"


def _link(rule: str) -> str:
    return f"[`{rule}`](rules/{rule}.md)"


def report(
    squawk: Squawk,
    checks: list[RuleCheck],
    cases: list[CaseResult],
    reference: Reference,
    timings: list[Timing],
    undiscovered: list[str] | None,
) -> str:
    from scrydon_migrate.lint import load_rules

    our_rules = {r.id: r for r in load_rules()}
    our_ids = sorted(set(our_rules) | {"unused-allow", "invalid-migration"})
    by_status = Counter(c.rule.status for c in checks)
    locking = [c for c in checks if c.rule.about in LOCKING]
    locking_uncovered = [c for c in locking if c.rule.status in ("gap", "not covered")]
    gaps = [c for c in checks if c.rule.status == "gap"]
    equivalents: dict[str, set[str]] = defaultdict(set)
    for rule in SQUAWK_RULES:
        for mine in rule.ours:
            equivalents[mine].add(rule.name)
    for mine, extra in EXTRA_EQUIVALENTS.items():
        equivalents[mine] |= extra

    lines = [
        "# scrydon-migrate lint and squawk",
        "",
        f"Generated by `bench/lint_compare.py` on {datetime.now(UTC):%Y-%m-%d} with {squawk.version()} "
        f"(`--pg-version {PG_VERSION}`, `--assume-in-transaction` for exactly the files our runner wraps in a "
        "transaction) and scrydon-migrate's linter offline. Re-run it after changing a rule.",
        "",
        "## Headline",
        "",
        f"- **{len(checks)} squawk rules**: {by_status['covered']} covered by one of ours, {by_status['partly']} "
        f"partly (known differences below), {by_status['by design']} handled by design (the runner or the file "
        f"loader, no rule needed), {by_status['not covered']} not covered with a written reason (compatibility, "
        f"security, style), **{by_status['gap']} gaps**.",
        f"- **Locking and rewriting**: {len(locking)} squawk rules are about locks or rewrites; "
        f"{len(locking) - len(locking_uncovered)} are covered, partly covered or handled by design. "
        + (
            f"Not covered: {_code(c.rule.name for c in locking_uncovered)} — each with the reason below"
            + (
                f"; the gaps ({_code(c.rule.name for c in gaps)}) are listed precisely at the end for a rule to be "
                "added."
                if gaps
                else "."
            )
            if locking_uncovered
            else "None is missed."
        ),
    ]
    bad = [c for c in cases if c.kind == "bad"]
    bad_caught_ours = [c for c in bad if c.rule in c.ours]
    bad_with_eq = [c for c in bad if equivalents.get(c.rule)]
    caught_squawk = [c for c in bad_with_eq if equivalents[c.rule] & set(c.squawk_default)]
    lines += [
        f"- **Our {len(our_ids)} rules on their {len(bad)} bad cases**: ours reports {len(bad_caught_ours)}"
        + (
            f" (the other {len(bad) - len(bad_caught_ours)} are strict-xfail known bugs)"
            if bad_caught_ours != bad
            else ""
        )
        + "; squawk has an equivalent "
        f"for {len({c.rule for c in bad_with_eq})} of our rules and reports it on {len(caught_squawk)} of their "
        f"{len(bad_with_eq)} bad cases with its default rules. "
        f"{len([r for r in our_ids if not equivalents.get(r)])} of our rules have no squawk equivalent.",
        f"- **Reference migrations** ({reference.files} files, {reference.statements} statements): ours "
        f"{len([f for f in reference.ours if f['severity'] != 'info'])} findings (exit 0); squawk "
        f"{len(reference.squawk)} with its default rules "
        f"({len([f for f in reference.squawk if f['rule_name'] not in NOISE])} besides timeouts and robust "
        "statements).",
    ]
    per_k = {(t.label, t.tool): t for t in timings}
    big = "1 file x 1,000 statements"
    split = "50 files x 20 statements"
    if timings:
        lines.append(
            f"- **Speed, per 1,000 statements** (median): ours {per_k[(split, 'scrydon-migrate lint')].median:.2f} s "
            f"as 50 migrations of 20, {per_k[(big, 'scrydon-migrate lint')].median:.1f} s as one file of 1,000; "
            f"squawk {per_k[(split, 'squawk')].median:.3f} s and {per_k[(big, 'squawk')].median:.3f} s."
        )
    lines += [
        "",
        "## Every squawk rule",
        "",
        "Squawk has no command that lists its rules: this table comes from its rule documentation "
        "(`docs/docs/<rule>.md` in sbdchd/squawk), and every name is checked against the installed binary "
        "(it refuses `--exclude=<name>` for an unknown name). "
        "`default`: squawk reports it without `--include`. `fires`: squawk reported it on the example. "
        "`ours`: our rules that reported the same example.",
        "",
        "| squawk rule | about | squawk default? | fires on example | our rule | ours on example | status | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = {"gap": 0, "partly": 1, "covered": 2, "by design": 3, "not covered": 4}
    for check in sorted(checks, key=lambda c: (c.rule.about not in LOCKING, order[c.rule.status], c.rule.name)):
        rule = check.rule
        accepted = "" if check.accepted else " (name not accepted by this squawk!)"
        expected = set(rule.ours)
        hit = "✓ " if expected and expected <= set(check.ours_fired) else ("✗ " if expected else "")
        status = f"**{rule.status}**" if rule.status == "gap" else rule.status
        lines.append(
            f"| `{rule.name}`{accepted} | {rule.about} | {'yes' if check.default else 'opt-in'} | "
            f"{'yes' if check.fires else 'no'} | {', '.join(_link(o) for o in rule.ours) or '—'} | "
            f"{hit}{_code(check.ours_fired)} | {status} | {rule.note or ''} |"
        )
    if undiscovered is not None:
        lines += [
            "",
            "Rule names the installed squawk accepts that this table lacks: "
            f"{_code(undiscovered) if undiscovered else 'none'}.",
        ]

    lines += [
        "",
        "## Every one of our rules",
        "",
        "Each rule's bad and ok cases (`tests/lint/cases/<rule>/`) through both tools. `squawk equivalent`: the "
        "squawk rules mapped to ours above. Caught: how many bad cases report the rule (ours) or an equivalent "
        "(squawk, default rules / all rules). Ok cases: how many report it anyway (for squawk: an equivalent).",
        "",
        "| our rule | severity | squawk equivalent | bad: ours | bad: squawk default | bad: squawk all rules "
        "| ok: ours | ok: squawk | squawk's other findings on the bad cases |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_rule: dict[str, list[CaseResult]] = defaultdict(list)
    for case in cases:
        by_rule[case.rule].append(case)
    for rid in our_ids:
        rule_cases = by_rule.get(rid, [])
        bads = [c for c in rule_cases if c.kind == "bad"]
        oks = [c for c in rule_cases if c.kind == "ok"]
        eq = equivalents.get(rid, set())
        severity = (
            our_rules[rid].severity.value if rid in our_rules else ("warning" if rid == "unused-allow" else "error")
        )
        other = Counter(r for c in bads for r in c.squawk_default if r not in eq and r not in NOISE)
        xfails = sum(1 for c in bads if c.xfail)
        lines.append(
            f"| {_link(rid)} | {severity} | {_code(sorted(eq))} | "
            f"{sum(rid in c.ours for c in bads)}/{len(bads)}{f' ({xfails} xfail)' if xfails else ''} | "
            f"{sum(bool(eq & set(c.squawk_default)) for c in bads) if eq else '—'}/{len(bads)} | "
            f"{sum(bool(eq & set(c.squawk_all)) for c in bads) if eq else '—'}/{len(bads)} | "
            f"{sum(rid in c.ours for c in oks)}/{len(oks)} | "
            f"{sum(bool(eq & set(c.squawk_default)) for c in oks) if eq else '—'}/{len(oks)} | "
            f"{', '.join(f'`{r}` ×{n}' for r, n in other.most_common()) or '—'} |"
        )
    squawk_ok_alarms = [
        (c, sorted(equivalents[c.rule] & set(c.squawk_default)))
        for c in cases
        if c.kind == "ok" and equivalents.get(c.rule) and equivalents[c.rule] & set(c.squawk_default)
    ]
    missed_bad = [c for c in bad_with_eq if not equivalents[c.rule] & set(c.squawk_default)]
    lines += [
        "",
        "Bad cases where squawk's default rules report no equivalent (squawk runs without "
        "`--assume-in-transaction` on the files our runner journals, so `ban-concurrent-index-creation-in-"
        "transaction` cannot fire on the `mixed-transaction-mode` cases; `syntax-error` counts for "
        "`invalid-migration`):",
        "",
    ]
    lines += [
        f"- `{c.rule}/{c.name}`: squawk reports {_code(r for r in c.squawk_default if r not in NOISE)}"
        for c in missed_bad
    ] or ["- none"]
    lines += ["", "Ok cases where squawk reports an equivalent rule:", ""]
    lines += [f"- `{c.rule}/{c.name}`: {_code(rules)}" for c, rules in squawk_ok_alarms] or ["- none"]

    lines += [
        "",
        "## The reference migrations",
        "",
        f"Ours: {len(reference.ours)} findings"
        + (f" ({_code(sorted({f['rule'] for f in reference.ours}))})" if reference.ours else "")
        + ', exit 0 (the two deliberate exceptions carry `-- migrate:allow ... reason="..."`).',
        "",
        "| squawk rule | findings | our position |",
        "|---|---|---|",
    ]
    notes = {r.name: r for r in SQUAWK_RULES}
    for name, count in Counter(f["rule_name"] for f in reference.squawk).most_common():
        rule = notes.get(name)
        position = f"{rule.status}: {rule.note}" if rule and rule.note else (rule.status if rule else "")
        if rule and rule.ours and rule.status in ("covered", "partly"):
            position = f"{rule.status} by {', '.join(_link(o) for o in rule.ours)}. {rule.note}"
        lines.append(f"| `{name}` | {count} | {position} |")
    lock_hits = [
        f
        for f in reference.squawk
        if f["rule_name"] in notes and notes[f["rule_name"]].about in LOCKING and f["rule_name"] not in NOISE
    ]
    if lock_hits:
        lines += ["", "Squawk's lock findings on the reference migrations, and why ours has none:", ""]
        for f in lock_hits:
            lines.append(f"- `{f['file']}:{f['line'] + 1}` `{f['rule_name']}` — {_why_clean(f)}")

    if timings:
        lines += ["", "## Speed", "", *speed_table(timings)]

    lines += ["", "## Gaps: squawk rules about locks or rewrites that ours misses", ""]
    for check in gaps:
        lines += [f"### `{check.rule.name}`", "", "```sql", check.rule.example.strip(), "```", "", check.rule.note, ""]
    if not gaps:
        lines += [
            "None: each is covered, partly covered, handled by design, or not covered for the reason given above.",
            "",
        ]
    partly = [c for c in checks if c.rule.status == "partly" and c.rule.about in LOCKING]
    if partly:
        lines += ["Partly covered lock rules, and the difference:", ""]
        lines += [f"- `{c.rule.name}` → {', '.join(_link(o) for o in c.rule.ours)}: {c.rule.note}" for c in partly]
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "python3 -m venv .squawk && .squawk/bin/pip install squawk-cli",
        ".venv/bin/python bench/lint_compare.py --squawk .squawk/bin/squawk   # --runs 5 --slow-runs 3 --discover",
        "```",
        "",
    ]
    return "\n".join(lines)


def speed_table(timings: Sequence[Timing]) -> list[str]:
    """The speed section's text: what was timed, the table, ours against squawk."""
    per_k = {(t.label, t.tool): t for t in timings}
    lines = [
        "Wall and CPU time (user + system) of the command line (interpreter / binary start-up included), median "
        "of the runs, the two tools' runs interleaved after one untimed run of each (our byte code cached, as "
        "an installed package has it), on "
        "generated statements (`statements()` in the script: tables with identity keys, indexes, "
        "comments, columns, defaults, NOT VALID foreign keys and their VALIDATE, targeted UPDATE/DELETE, "
        "seed INSERTs, views, grants, plpgsql trigger functions and triggers, renames, enum types) and, for "
        f"the {CORPUS_FILES}-file layout, the reference migrations too.",
        "",
        "| layout | tool | statements | files | runs | median wall (s) | median CPU (s) "
        "| wall per 1,000 statements (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in timings:
        per_thousand = t.median * 1000 / t.statements if t.statements >= 100 else float("nan")
        shown = f"{per_thousand:.3f}" if per_thousand == per_thousand else "—"
        lines.append(
            f"| {t.label} | {t.tool} | {t.statements:,} | {t.files} | {len(t.runs)} | {t.median:.3f} "
            f"| {t.median_cpu:.3f} | {shown} |"
        )
    mine, theirs = per_k[(CORPUS, "scrydon-migrate lint")], per_k[(CORPUS, "squawk")]
    ours = mine.median
    start = per_k[("1 file x 1 statement (start-up)", "scrydon-migrate lint")]
    lines += [
        "",
        f"On {CORPUS_FILES} files ours takes {ours:.2f} s, {ours / theirs.median:.1f}x squawk's "
        f"{theirs.median:.2f} s, and {mine.median_cpu:.2f} s of CPU time, "
        f"{mine.median_cpu / theirs.median_cpu:.1f}x squawk's {theirs.median_cpu:.2f} s (squawk lints files on "
        "several threads, so its wall time can be below its CPU time; ours runs in one process, one thread). "
        f"Of ours, in CPU time: start-up {start.median_cpu:.2f} s (Python, click, pglast and the modules the lint "
        f"imports); reading the files {mine.median_phase('read'):.2f} s (PostgreSQL's parser on each statement "
        "once, the Python tree built from its JSON, the lock facts read from that tree; lint computes no "
        f"checksum); the rules {mine.median_phase('rules'):.2f} s (they read the same trees, and deparse the safe "
        f"form each lock finding suggests); the report {mine.median_phase('output'):.3f} s "
        f"(medians of {len(mine.phases)} runs measured inside the process, `phases_of` in the script). It is "
        "linear in the statements of a file. Squawk is a native binary with its own parser.",
    ]
    return lines


def _why_clean(finding: dict[str, Any]) -> str:
    path = REPO / finding["file"]
    text = path.read_text()
    lines = text.splitlines()
    line = lines[finding["line"]] if finding["line"] < len(lines) else ""
    rule = finding["rule_name"]
    if "migrate:allow" in text and rule == "constraint-missing-not-valid":
        return "allowed in the file with a reason (`-- migrate:allow constraint-missing-not-valid reason=...`)."
    if rule == "require-concurrent-index-creation":
        return f"`{line.strip()[:70]}`: the table or materialized view is created earlier in the same migration."
    if rule == "adding-not-nullable-field":
        return (
            "the CHECK (name IS NOT NULL) was added and validated by earlier migrations (0301, 0302), which ours sees."
        )
    return "see the table above."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--slow-runs", type=int, default=3, help="runs for ours on one file of 1,000 statements")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--squawk", help="the squawk binary (default: next to this python, then PATH)")
    parser.add_argument("--discover", action="store_true", help="look for squawk rule names the table lacks")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="time both tools only; print the speed section")
    parser.add_argument("--phases-of", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phases_of:
        print(json.dumps(phases_of(args.phases_of)))
        return 0

    squawk = Squawk(find_squawk(args.squawk))
    if args.speed_only:
        with tempfile.TemporaryDirectory(prefix="lint-compare-") as tmp:
            print("\n".join(speed_table(time_tools(squawk, Path(tmp), args.runs, args.slow_runs))))
        return 0
    squawk.all_rules = tuple(r.name for r in SQUAWK_RULES if squawk.accepts(r.name))
    with tempfile.TemporaryDirectory(prefix="lint-compare-") as tmp:
        workdir = Path(tmp)
        print("squawk rules ...", file=sys.stderr)
        checks = check_squawk_rules(squawk, workdir)
        undiscovered = discover(squawk) if args.discover else None
        print("cases ...", file=sys.stderr)
        cases = lint_cases(squawk, workdir)
        print("reference migrations ...", file=sys.stderr)
        reference = lint_reference(squawk)
        timings = []
        if not args.no_timing:
            print("timing ...", file=sys.stderr)
            timings = time_tools(squawk, workdir, args.runs, args.slow_runs)
    args.out.write_text(report(squawk, checks, cases, reference, timings, undiscovered))
    print(f"wrote {args.out}", file=sys.stderr)
    problems = [c.rule.name for c in checks if not c.accepted or not c.fires]
    expected_miss = {"require-timeout-settings"}
    if set(problems) - expected_miss:
        print(
            f"warning: examples that squawk does not report: {sorted(set(problems) - expected_miss)}", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
