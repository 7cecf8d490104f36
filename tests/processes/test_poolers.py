"""Through a real PgBouncer: transaction pooling is refused before anything is written, session pooling works.

Ten pods at once, trial after trial, each trial on a fresh database whose migrations write a
ledger row each: a migration applied twice would leave two rows.
"""

from __future__ import annotations

import itertools
import subprocess

import psycopg
import pytest
from psycopg import sql

from scrydon_migrate import embedded
from tests.fixtures.cli import clean_env, command, run_cli

PODS = 10
DATA_MIGRATIONS = 6
_trial = itertools.count()


def _write_history(migrations):
    migrations.write("0001_ledger.sql", "CREATE TABLE ledger (id bigserial PRIMARY KEY, version int NOT NULL);")
    for version in range(2, DATA_MIGRATIONS + 2):
        pause = "SELECT pg_sleep(0.2);\n" if version == 2 else ""
        migrations.write(
            f"{version:04d}_entry_{version}.sql", f"{pause}INSERT INTO ledger (version) VALUES ({version});"
        )


def _pods(url, folder, count=PODS):
    args = command("up", "--service", "platform", "--database-url", url, "--migrations-dir", str(folder))
    started = [
        subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env({"MIGRATE_APPLICATION_NAME": f"api-platform-pod-{n}"}),
        )
        for n in range(count)
    ]
    return [(pod.wait(timeout=180), pod.communicate()[1]) for pod in started]


def _fresh_database(pg_cluster):
    name = f"pooled_{next(_trial)}_{id(pg_cluster)}"
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        embedded.create_scratch_database(admin, name)
    return name


def _drop_database(pg_cluster, name):
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(url):
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1"
            ).fetchall()
        ]


def _trials(pg_cluster, pooler, migrations, trials):
    """Run ``trials`` rolling updates of PODS pods through ``pooler``; each on a fresh database."""
    _write_history(migrations)
    results = []
    for _ in range(trials):
        name = _fresh_database(pg_cluster)
        try:
            outcomes = _pods(pooler.url(pg_cluster.url(name)), migrations.path)
            with psycopg.connect(pg_cluster.url(name), autocommit=True) as conn:
                exists = conn.execute("SELECT to_regclass('ledger') IS NOT NULL").fetchone()[0]
                ledger = conn.execute("SELECT version, count(*) FROM ledger GROUP BY 1").fetchall() if exists else []
                tables = _tables(pg_cluster.url(name))
            results.append((outcomes, dict(ledger), tables))
        finally:
            _drop_database(pg_cluster, name)
    return results


def _assert_session_pooling_applies_once(results):
    for outcomes, ledger, _tables_found in results:
        codes = [code for code, _ in outcomes]
        assert codes == [0] * PODS, [err for _, err in outcomes]
        assert ledger == {v: 1 for v in range(2, DATA_MIGRATIONS + 2)}, "each data migration ran exactly once"
        applied = [line for _, err in outcomes for line in err.splitlines() if "event=MIGRATION_APPLIED" in line]
        assert len(applied) == DATA_MIGRATIONS + 1


def _assert_transaction_pooling_refused(results):
    for outcomes, ledger, tables in results:
        assert [code for code, _ in outcomes] == [3] * PODS, [err for _, err in outcomes]
        assert ledger == {} and tables == [], "a refused run writes nothing"
        for _, err in outcomes:
            assert "event=DATABASE_POOLER_REFUSED" in err
            assert "transaction or statement mode" in err and "MIGRATE_MIGRATION_URL" in err
            assert "Traceback" not in err


def test_ten_pods_through_session_pooling_apply_each_migration_once(pg_cluster, session_pooler, migrations):
    _assert_session_pooling_applies_once(_trials(pg_cluster, session_pooler, migrations, trials=2))


def test_ten_pods_through_transaction_pooling_are_refused_with_exit_3_and_write_nothing(
    pg_cluster, transaction_pooler, migrations
):
    _assert_transaction_pooling_refused(_trials(pg_cluster, transaction_pooler, migrations, trials=2))


@pytest.mark.slow
def test_twenty_trials_of_ten_pods_through_session_pooling_never_apply_twice(pg_cluster, session_pooler, migrations):
    _assert_session_pooling_applies_once(_trials(pg_cluster, session_pooler, migrations, trials=20))


@pytest.mark.slow
def test_twenty_trials_of_ten_pods_through_transaction_pooling_never_apply_anything(
    pg_cluster, transaction_pooler, migrations
):
    _assert_transaction_pooling_refused(_trials(pg_cluster, transaction_pooler, migrations, trials=20))


def test_statement_pooling_is_refused_with_exit_3(statement_pooler, db_url, db, migrations):
    _write_history(migrations)
    run = run_cli(
        "up",
        "--service",
        "platform",
        "--database-url",
        statement_pooler.url(db_url),
        "--migrations-dir",
        str(migrations.path),
    )
    assert run.code == 3, run.stderr
    assert "event=DATABASE_POOLER_REFUSED" in run.stderr
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)


def test_mark_applied_through_transaction_pooling_is_refused(transaction_pooler, db_url, db, migrations):
    _write_history(migrations)
    run = run_cli(
        "mark-applied",
        "--version",
        "1",
        "--reason",
        "done by hand",
        "--service",
        "platform",
        "--database-url",
        transaction_pooler.url(db_url),
        "--migrations-dir",
        str(migrations.path),
    )
    assert run.code == 3, run.stderr
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)


def test_a_separate_migration_url_is_used_for_migrations(transaction_pooler, db_url, db, migrations):
    _write_history(migrations)
    run = run_cli(
        "up",
        "--service",
        "platform",
        "--migrations-dir",
        str(migrations.path),
        env={"PLATFORM_DATABASE_URL": transaction_pooler.url(db_url), "PLATFORM_MIGRATION_URL": db_url},
    )
    assert run.code == 0, run.stderr
    assert db.execute("SELECT count(*) FROM ledger").fetchone() == (DATA_MIGRATIONS,)


def test_read_only_commands_through_transaction_pooling_never_collide_on_prepared_statements(
    transaction_pooler, db_url, migrations
):
    _write_history(migrations)
    assert (
        run_cli("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path)).code
        == 0
    )
    args = command(
        "status",
        "--service",
        "platform",
        "--database-url",
        transaction_pooler.url(db_url),
        "--migrations-dir",
        str(migrations.path),
    )
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        for _ in range(PODS)
    ]
    outcomes = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
    assert [code for code, _ in outcomes] == [0] * PODS, [err for _, err in outcomes]
