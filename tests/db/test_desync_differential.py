"""The desync check against PostgreSQL as the oracle: generated histories, applied for real.

Histories come from ``_histories`` (tables, columns, every constraint kind incl. USING INDEX and
NOT VALID, partial and expression indexes, identity and serial sequences, views, materialized views,
functions with overloads, procedures, triggers, enums, domains, schemas, an extension, partitions,
temp tables, renames and drops of everything, CASCADE, DO blocks that create, drop and write, row
writes, search_path changes, CREATE INDEX CONCURRENTLY in no-transaction files). For each:

* **P1 no false alarm** — after every ``up`` of the cleanly applying history, ``verify`` is healthy
  and the next ``up`` applies nothing.
* **P2 the offer is sound** — whenever a repair is offered for a planted desync, performing it
  succeeds and leaves the schema (``pg_dump --schema-only``) and the rows equal to a clean apply.
* **P3 the offer is made** — a planted tail of creation-only migrations whose objects are gone is
  always offered the repair.
* **P4 refusals change nothing** — a planted state that is not offered (partial, non-contiguous, a
  tail not proven safe) exits with the desync and leaves the tracking rows and schema as they were.

Desyncs are planted two ways: tail rows copied in from the fully applied database onto one where only
the earlier migrations ran, and tables of one migration dropped by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from scrydon_migrate import api, catalog, embedded, tracking
from scrydon_migrate.config import load_settings
from scrydon_migrate.errors import TrackingDesync
from tests.db import _histories

EXAMPLES = int(os.environ.get("MIGRATE_DESYNC_EXAMPLES", "500"))
TABLE = "public.platform_migrations"
_databases = iter(range(10**9))


@contextmanager
def _database(cluster) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"h_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield cluster.url(name)
    finally:
        with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _up(url: str, folder: Path, *, repair: bool = False) -> tuple[int, ...]:
    settings = load_settings(
        services=["platform"], database_url=url, migrations_dir=folder, repair_tracking=repair, env={}
    )
    return tuple(int(a.version) for a in api.up(settings)[0].applied)


def _verify(url: str, folder: Path) -> str:
    settings = load_settings(services=["platform"], database_url=url, migrations_dir=folder, env={})
    return api.verify_tracking(settings)[0].result.kind.value


def _write(folder: Path, migrations: list[_histories.Migration]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.sql"):
        old.unlink()
    for number, migration in enumerate(migrations, 1):
        (folder / f"{number:04d}_step.sql").write_text(migration.text())
    return folder


def _keys(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return catalog.snapshot(conn, TABLE)


def _tracking(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT version, status, checksum, effects::text FROM platform_migrations ORDER BY version"
        ).fetchall()


def _dump(url: str) -> tuple[str, str]:
    """Schema and rows as pg_dump prints them, the tool's own tables left out."""
    tool = [str(embedded.bin_dir() / "pg_dump"), "--no-owner", "--no-privileges", "-T", "platform_migrations*"]
    schema = subprocess.run([*tool, "--schema-only", "-d", url], capture_output=True, text=True, check=True).stdout
    rows = subprocess.run([*tool, "--data-only", "-d", url], capture_output=True, text=True, check=True).stdout
    return _plain(schema), _plain(rows)


def _plain(dump: str) -> str:
    return "\n".join(line for line in dump.splitlines() if not re.match(r"^(\\(un)?restrict |--)", line))


def _copy_tail_rows(source: str, target: str, first: int) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in (*tracking.COLUMNS, "sql", "tool_version"))
    with psycopg.connect(source, autocommit=True) as src, psycopg.connect(target, autocommit=True) as dst:
        tracking.ensure_table(dst, TABLE)
        records = src.execute(
            sql.SQL("SELECT {} FROM platform_migrations WHERE version >= %s").format(columns), (first,)
        ).fetchall()
        with dst.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO platform_migrations ({}) VALUES ({})").format(
                    columns, sql.SQL(", ").join(sql.Placeholder() * (len(tracking.COLUMNS) + 2))
                ),
                [tuple(psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v for v in r) for r in records],
            )


def _check_planted(url: str, folder: Path, full_url: str, *, creation_only_tail: bool) -> str:
    """P2, P3 and P4 for a database holding a planted desync; returns what happened, for the statistics."""
    missing = _keys(full_url) - _keys(url)
    before_rows, before_keys = _tracking(url), _keys(url)
    try:
        _up(url, folder)
    except TrackingDesync as desync:
        offered = desync.fields.get("kind") == "repairable"
        if creation_only_tail and missing:
            assert offered, f"P3: a creation-only tail was not offered the repair: {desync.details}"
        if not offered:
            assert _tracking(url) == before_rows and _keys(url) == before_keys, "P4: a refusal changed something"
            return "refused"
        _up(url, folder, repair=True)
        assert _dump(url) == _dump(full_url), "P2: the repair did not give back a clean apply"
        assert _verify(url, folder) == "healthy"
        return "repaired"
    assert not (creation_only_tail and missing), f"P3: the missing objects {sorted(missing)[:5]} went unnoticed"
    return "unnoticed" if missing else "nothing-missing"


@st.composite
def _history(draw: st.DrawFn, probe: psycopg.Connection) -> list[_histories.Migration]:
    migrations: list[_histories.Migration] = []
    tail_tables: set[str] = set()
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 9)) == 0:
            concurrent = _histories.concurrent_index(draw, probe)
            if concurrent is not None:
                migrations.append(concurrent)
                continue
        found = _histories.migration(draw, probe, tail_tables)
        if found.statements:
            migrations.append(found)
            tail_tables |= found.created_tables
    return migrations


@pytest.mark.parametrize("examples", [EXAMPLES])
def test_generated_histories_hold_p1_to_p4(pg_cluster, tmp_path_factory, examples):
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=True,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        folder = tmp_path_factory.mktemp("history")
        with _database(pg_cluster) as probe_url, psycopg.connect(probe_url, autocommit=True) as probe:
            migrations = data.draw(_history(probe))
        if not migrations:
            return
        everything = _write(folder / "all" / "platform", migrations)
        with _database(pg_cluster) as full:
            split = data.draw(st.integers(1, len(migrations)), label="first up applies")
            _up(full, _write(folder / "first" / "platform", migrations[:split]))
            assert _verify(full, everything) == "healthy", "P1: false alarm after the first up"
            _up(full, everything)
            assert _verify(full, everything) == "healthy", "P1: false alarm after the whole history"
            assert _up(full, everything) == (), "P1: the next up was not a no-op"

            tail = data.draw(st.integers(1, min(3, len(migrations))), label="tail")
            head = len(migrations) - tail
            with _database(pg_cluster) as planted:
                _up(planted, _write(folder / "head" / "platform", migrations[:head]))
                _copy_tail_rows(full, planted, head + 1)
                creation_only = all(m.creation_only for m in migrations[head:])
                outcome = _check_planted(planted, everything, full, creation_only_tail=creation_only)
                outcomes["tail " + outcome] = outcomes.get("tail " + outcome, 0) + 1

            victims = [i for i, m in enumerate(migrations) if m.created_tables]
            if victims:
                chosen = data.draw(st.sampled_from(victims), label="tables dropped by hand")
                with _database(pg_cluster) as planted:
                    _up(planted, everything)
                    with psycopg.connect(planted, autocommit=True) as conn:
                        for table in sorted(migrations[chosen].created_tables):
                            conn.execute(
                                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(*table.split(".")))
                            )
                    outcome = _check_planted(planted, everything, full, creation_only_tail=False)
                    outcomes["dropped " + outcome] = outcomes.get("dropped " + outcome, 0) + 1

    check()
    print(f"desync differential ({pg_cluster.version}): {sorted(outcomes.items())}")
