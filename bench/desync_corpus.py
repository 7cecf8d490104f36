"""The desync check on any migration folder: no false alarm, and only sound repairs.

    python bench/desync_corpus.py --migrations-dir DIR [--prelude FILE] [--pg-bin DIR]
                                  [--search-path S] [--json]

It starts a scratch PostgreSQL (the embedded 18, or the installation whose ``bin/`` is ``--pg-bin``),
runs ``--prelude`` (roles, extensions the history assumes) in each database it makes, and applies the
folder through ``up`` as one service. Then:

* **P1** — ``up`` exits 0, ``verify`` is healthy, the next ``up`` applies nothing;
* **tail 1**, **tail 3** — a database where all but the last 1 (3) migrations ran gets their tracking
  rows copied from the fully applied one: if the repair is offered, performing it must give back the
  schema and rows of the clean apply (``pg_dump``); if it is refused, nothing may change;
* **non-contiguous** — the tables of an early migration dropped by hand, later ones intact: refused,
  nothing changed (or, if the drop took every later object with it and the repair is offered, sound);
* **partial** — one object of the last migration with several dropped by hand: refused, nothing changed.

One verdict line per case, then ``N passed, M failed``; exit 0 only when every case holds.
``--json`` prints the cases as a JSON list instead.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from scrydon_migrate import api, audit, catalog, embedded, source, tracking, verify
from scrydon_migrate.config import load_settings
from scrydon_migrate.errors import MigrateError, TrackingDesync

TABLE = "platform_migrations"
_names = itertools.count()


@dataclass
class Scratch:
    """A throwaway cluster, and how to make databases in it."""

    admin_url: str
    prelude: str = ""
    search_path: str = ""

    def url(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    @contextlib.contextmanager
    def database(self, copy_of: str | None = None) -> Iterator[str]:
        """A new database: empty but for the prelude, or a copy of the database at ``copy_of``."""
        name = f"corpus_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            if copy_of is not None:
                embedded.create_scratch_database(admin, name, template=copy_of.rsplit("/", 1)[1])
                yield self.url(name)
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            embedded.create_scratch_database(admin, name)
            if self.search_path:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} SET search_path = {}").format(
                        sql.Identifier(name),
                        sql.SQL(", ").join(sql.Identifier(s.strip()) for s in self.search_path.split(",")),
                    )
                )
        url = self.url(name)
        if self.prelude:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(self.prelude.encode())
        try:
            yield url
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def up(url: str, folder: Path, *, repair: bool = False) -> tuple[str, ...]:
    """``up`` for one service on ``folder``; the versions it applied.

    Without the lock budget's watchdog (its connection and thread per run): the databases are scratch
    copies nobody else writes to, and what is checked here is the record, which the watchdog does not touch.
    """
    settings = load_settings(
        services=["platform"], database_url=url, migrations_dir=folder, repair_tracking=repair, lock_budget_ms=0, env={}
    )
    return tuple(a.version for a in api.up(settings)[0].applied)


def verified(url: str, folder: Path) -> verify.Classification:
    settings = load_settings(services=["platform"], database_url=url, migrations_dir=folder, env={})
    return api.verify_tracking(settings)[0].result


def keys(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return catalog.snapshot(conn, tracking.resolve(conn, TABLE))


def tracking_rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT version, status, checksum, effects::text FROM {TABLE} ORDER BY version").fetchall()


@functools.lru_cache(maxsize=8)
def clean_dump(url: str) -> tuple[str, str]:
    """:func:`dump` of a clean apply, which the cases compare with again and again."""
    return dump(url)


def dump(url: str) -> tuple[str, str]:
    """Schema and rows as pg_dump prints them, the tool's own tables (and its catalog generation) left out."""
    tool = [str(embedded.bin_dir() / "pg_dump"), "--no-owner", "--no-privileges", "-T", f"{TABLE}*"]
    tool += ["-T", "scrydon_migrate_*"]
    schema = subprocess.run([*tool, "--schema-only", "-d", url], capture_output=True, text=True, check=True).stdout
    rows = subprocess.run([*tool, "--data-only", "-d", url], capture_output=True, text=True, check=True).stdout
    return comparable(schema), comparable(rows)


#: Values PostgreSQL makes anew each time a statement runs (``now()``, ``clock_timestamp()``,
#: ``gen_random_uuid()``): a repair re-runs the tail, so the rows it writes carry other ones than the
#: reference's. They are masked in the rows (``COPY`` data) only; everything else is compared as printed.
_MADE_ANEW = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d(?::\d\d)?)?"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def comparable(printed: str) -> str:
    """pg_dump's text without its comments and ``\\restrict`` lines, and with the values of
    :data:`_MADE_ANEW` in its rows masked: what a repaired database and a clean apply must share."""
    lines, in_rows = [], False
    for line in printed.splitlines():
        if in_rows:
            in_rows = line != "\\."
            line = _MADE_ANEW.sub("<made anew>", line) if in_rows else line
        elif re.match(r"^(\\(un)?restrict |--)", line):
            continue
        else:
            in_rows = line.startswith("COPY ") and line.endswith(" FROM stdin;")
        lines.append(line)
    return "\n".join(lines)


def copy_tail_rows(source: str, target: str, first_version: int) -> None:
    """The tracking rows from ``first_version`` on, copied from ``source`` into ``target``."""
    columns = (*tracking.COLUMNS, "sql", "tool_version")
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with psycopg.connect(source, autocommit=True) as src, psycopg.connect(target, autocommit=True) as dst:
        table = tracking.resolve(dst, TABLE)
        tracking.ensure_table(dst, table, "platform")
        audit.ensure_table(dst, table)
        records = src.execute(
            sql.SQL("SELECT {} FROM {} WHERE version >= %s").format(names, sql.Identifier(TABLE)), (first_version,)
        ).fetchall()
        with dst.transaction(), dst.cursor() as cur:
            cur.execute(sql.SQL("SELECT {}").format(sql.SQL(tracking.TOOL_WRITE)))
            cur.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    tracking.table_identifier(table), names, sql.SQL(", ").join(sql.Placeholder() * len(columns))
                ),
                [tuple(psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v for v in r) for r in records],
            )


def check_planted(url: str, folder: Path, clean_url: str, *, must_offer: bool = False) -> str:
    """A planted desync: an offered repair gives back the clean apply, a refusal changes nothing.

    Returns what happened; raises AssertionError naming the property that failed.
    """
    missing = keys(clean_url) - keys(url)
    before = tracking_rows(url), keys(url)
    try:
        up(url, folder)
    except TrackingDesync as desync:
        offered = desync.fields.get("kind") == "repairable"
        if must_offer and missing and not offered:
            raise AssertionError(f"P3: a creation-only tail was not offered the repair: {desync.details}") from None
        if not offered:
            if (tracking_rows(url), keys(url)) != before:
                raise AssertionError("P4: the refusal changed the tracking rows or the schema") from None
            return f"refused ({desync.fields.get('kind')}), nothing changed"
        up(url, folder, repair=True)
        if dump(url) != clean_dump(clean_url):
            raise AssertionError(
                "P2: the offered repair did not give back the schema and rows of a clean apply"
            ) from None
        if verified(url, folder).kind is not verify.Kind.HEALTHY:
            raise AssertionError("P2: verify is not healthy after the repair") from None
        return "offered; the repair gave back the clean apply"
    if must_offer and missing:
        raise AssertionError(f"P3: the missing objects {sorted(missing)[:5]} went unnoticed")
    return "no object missing; nothing to report" if not missing else "not detected (no recorded object missing)"


@dataclass
class Case:
    name: str
    passed: bool
    verdict: str


def _case(name: str, check: Callable[[], str]) -> Case:
    try:
        return Case(name, True, check())
    except AssertionError as failed:
        return Case(name, False, str(failed))
    except (MigrateError, psycopg.Error, subprocess.CalledProcessError) as failed:
        return Case(
            name,
            False,
            f"{type(failed).__name__}: {str(failed).strip().splitlines()[0] if str(failed).strip() else ''}",
        )


def run(scratch: Scratch, migrations: Path, work: Path) -> list[Case]:
    folder = work / "all" / "platform"
    shutil.copytree(migrations, folder)
    cases: list[Case] = []
    with scratch.database() as clean:

        def p1() -> str:
            applied = up(clean, folder)
            result = verified(clean, folder)
            if result.kind is not verify.Kind.HEALTHY:
                raise AssertionError(f"P1: false alarm after a clean apply: {verify.evidence(result)[:3]}")
            if up(clean, folder):
                raise AssertionError("P1: the next up applied something")
            return f"{len(applied)} migrations applied, verify healthy, next up a no-op"

        cases.append(_case("P1 clean apply", p1))
        if not cases[0].passed:
            return cases
        versions = [int(v) for v, *_ in tracking_rows(clean)]
        for tail in (1, 3):
            if len(versions) > tail:
                cases.append(
                    _case(f"tail {tail}", lambda tail=tail: _tail(scratch, folder, clean, versions, tail, work))
                )
        footprints = _footprints(clean, folder)
        cases.append(_case("non-contiguous", lambda: _non_contiguous(scratch, folder, clean, footprints)))
        cases.append(_case("partial", lambda: _partial(scratch, folder, clean, footprints)))
    return cases


def _tail(scratch: Scratch, folder: Path, clean: str, versions: list[int], tail: int, work: Path) -> str:
    head = work / f"head{tail}" / "platform"
    head.mkdir(parents=True, exist_ok=True)
    first = versions[-tail]
    for migration_file in source.scan("platform", folder):
        if migration_file.version < first:
            shutil.copy(migration_file.path, head / migration_file.path.name)
    with scratch.database() as planted:
        up(planted, head)
        # The reference is the planted database's head applied on: rows made with now() or
        # gen_random_uuid() by the head's migrations are the same in both.
        with scratch.database(copy_of=planted) as reference:
            up(reference, folder)
            copy_tail_rows(reference, planted, first)
            return check_planted(planted, folder, reference)


def _footprints(clean: str, folder: Path) -> dict[int, set[str]]:
    with psycopg.connect(clean, autocommit=True) as conn:
        state = verify.read(conn, tracking.resolve(conn, TABLE))
    applied = verify.applied_migrations([], state.rows or {}, state.present)
    return verify.footprints(applied)


def _tables(keys: set[str]) -> list[str]:
    return sorted(k.partition(":")[2] for k in keys if k.startswith("table:") and "#" not in k)


def _relations(keys: set[str]) -> list[str]:
    return sorted(k for k in keys if k.startswith(("table:", "index:")) and "#" not in k)


def _drop(url: str, what: str, names: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            schema, _, rel = name.partition(".")
            conn.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(what), sql.Identifier(schema, rel)))


def _non_contiguous(scratch: Scratch, folder: Path, clean: str, footprints: dict[int, set[str]]) -> str:
    versions = sorted(v for v, keys in footprints.items() if keys)
    early = next((v for v in versions[:-1] if _tables(footprints[v])), None)
    if early is None:
        return "skipped: no earlier migration owns a table"
    with scratch.database(copy_of=clean) as planted:
        _drop(planted, "TABLE", _tables(footprints[early]))
        return f"tables of {early} dropped: " + check_planted(planted, folder, clean)


def _partial(scratch: Scratch, folder: Path, clean: str, footprints: dict[int, set[str]]) -> str:
    several = [v for v, keys in sorted(footprints.items()) if len(_relations(keys)) >= 2]
    if not several:
        return "skipped: no migration owns two tables or indexes"
    last = several[-1]
    victim = _relations(footprints[last])[-1]
    kind, _, name = victim.partition(":")
    with scratch.database(copy_of=clean) as planted:
        if kind == "index":
            schema, _, rest = name.partition(".")
            _drop(planted, "INDEX", [f"{schema}.{rest.split('.', 1)[1]}"])
        else:
            _drop(planted, "TABLE", [name])
        return f"{victim} of {last} dropped: " + check_planted(planted, folder, clean)


@contextlib.contextmanager
def scratch_cluster(pg_bin: Path | None) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="desync-corpus-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    who = embedded.run_as()
    if who is not None:
        os.chown(root, who.uid, who.gid)
    try:
        server = embedded.start(root / "data", fast=True, bins=pg_bin)
        yield server.url()
    finally:
        embedded.stop(root / "data", bins=pg_bin)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations-dir", type=Path, required=True)
    parser.add_argument("--prelude", type=Path, help="SQL run in every scratch database first")
    parser.add_argument("--pg-bin", type=Path, help="the bin/ folder of the PostgreSQL to run (default: embedded 18)")
    parser.add_argument("--search-path", default="", help="the search_path of the scratch databases")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_cluster(args.pg_bin) as admin, tempfile.TemporaryDirectory() as work:
        scratch = Scratch(admin, args.prelude.read_text() if args.prelude else "", args.search_path)
        cases = run(scratch, args.migrations_dir, Path(work))
    passed = sum(c.passed for c in cases)
    summary = f"{passed} passed, {len(cases) - passed} failed"
    if args.json:
        print(json.dumps([c.__dict__ for c in cases], indent=2))
        print(summary, file=sys.stderr)
    else:
        for case in cases:
            print(f"{'ok  ' if case.passed else 'FAIL'} {case.name}: {case.verdict}")
        print(summary)
    return 0 if passed == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
