"""Audit integrity: only the migration role writes the log, rewrites break its hash chain, a dropped log is reported."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from tests.db.test_privileges_and_secrets import owner_url  # noqa: F401 - a fixture
from tests.fixtures.cli import run_cli


def _history(migrations, migrate, count=3):
    for version in range(1, count + 1):
        migrations.write(f"{version:04d}_t{version}.sql", f"CREATE TABLE t{version} (id int);")
    assert migrate("up").code == 0


def test_an_application_role_granted_everything_cannot_insert_forged_events(owner_url, migrations, pg_cluster):  # noqa: F811
    url, _role = owner_url
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    base = ("--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path))
    assert run_cli("up", *base).code == 0
    app = f"app_{url.rsplit('/', 1)[1]}"[:60]
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(app)))
    app_url = url.replace(url.split("//", 1)[1].split("@", 1)[0], app)
    try:
        with psycopg.connect(app_url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO platform_migrations_audit (service, event, actor)"
                " VALUES ('platform', 'MIGRATION_APPLIED', 'forger')"
            )
        assert run_cli("audit", *base, "--verify").code == 0
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(sql.Identifier(app)))
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(app)))


def test_an_intact_log_verifies(migrations, migrate):
    _history(migrations, migrate)

    run = migrate("audit", "--verify", "--json")

    assert run.code == 0, run.stderr
    [check] = run.json()
    assert check["intact"] is True and check["rows"] == 3


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ("UPDATE platform_migrations_audit SET reason = 'forged' WHERE id = 2", "does not match its hash"),
        ("DELETE FROM platform_migrations_audit WHERE id = 2", "does not follow the one before it"),
    ],
)
def test_a_rewrite_by_the_migration_role_breaks_the_chain_and_doctor_says_so(migrations, migrate, db, tamper, why):
    _history(migrations, migrate)
    db.execute(
        f"ALTER TABLE platform_migrations_audit DISABLE TRIGGER USER; {tamper};"
        " ALTER TABLE platform_migrations_audit ENABLE TRIGGER USER"
    )

    run = migrate("audit", "--verify")
    doctor = {f["code"]: f for f in migrate("doctor", "--json").json()}

    assert run.code == 1, run.stderr
    assert "BROKEN at id" in run.stdout and why in run.stdout
    assert doctor["AUDIT_LOG_TAMPERED"]["severity"] == "error"


def test_a_dropped_audit_log_is_reported_not_recreated_until_asked(migrations, migrate, db):
    _history(migrations, migrate, count=1)
    db.execute("DROP TABLE platform_migrations_audit")
    migrations.write("0002_more.sql", "CREATE TABLE more (id int);")

    up = migrate("up")
    doctor = {f["code"]: f for f in migrate("doctor", "--json").json()}

    assert up.code == 6, up.stderr
    assert up.log_lines("AUDIT_LOG_MISSING") and "audit --recreate" in up.stderr
    assert db.execute("SELECT to_regclass('more')").fetchone() == (None,)
    assert db.execute("SELECT to_regclass('platform_migrations_audit')").fetchone() == (None,)
    assert "AUDIT_LOG_MISSING" in doctor
    assert migrate("audit", "--recreate").code == 0
    assert migrate("up").code == 0
    events = [r[0] for r in db.execute("SELECT event FROM platform_migrations_audit ORDER BY id")]
    assert events == ["AUDIT_LOG_RECREATED", "MIGRATION_APPLIED"]


def test_an_older_audit_log_gets_its_chain_and_keeps_its_rows(migrations, migrate, db):
    _history(migrations, migrate, count=2)
    db.execute(
        "DROP TRIGGER hash_chain ON platform_migrations_audit;"
        " ALTER TABLE platform_migrations_audit DROP COLUMN hash, DROP COLUMN prev_hash"
    )
    migrations.write("0003_more.sql", "CREATE TABLE more (id int);")

    assert migrate("up").code == 0
    run = migrate("audit", "--verify", "--json")

    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)[0] | {} == {
        "service": "platform",
        "intact": True,
        "rows": 3,
        "unchained_older_rows": 2,
        "broken_at_id": None,
        "why": None,
    }


_OLDER_CHAIN_BODY = """
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('scrydon-migrate audit'), hashtext(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME));
    EXECUTE format('SELECT hash FROM %I.%I ORDER BY id DESC LIMIT 1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO NEW.prev_hash;
    NEW.prev_hash := coalesce(NEW.prev_hash, '');
    NEW.hash := scrydon_migrate_audit_hash(NEW.prev_hash, NEW.id, NEW.at, NEW.service, NEW.event, NEW.version,
                                           NEW.actor, NEW.reason, NEW.details);
    RETURN NEW;
END
"""


def test_a_chain_trigger_of_an_older_release_is_replaced_and_the_chain_goes_on(migrations, migrate, db):
    _history(migrations, migrate, count=2)
    db.execute(
        "CREATE OR REPLACE FUNCTION scrydon_migrate_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $body$"
        + _OLDER_CHAIN_BODY
        + "$body$"
    )
    migrations.write("0003_more.sql", "CREATE TABLE more (id int);")
    assert migrate("up").code == 0  # the older body chains this run's first rows, then is replaced
    migrations.write("0004_again.sql", "CREATE TABLE again (id int);")
    assert migrate("up").code == 0

    body = db.execute("SELECT prosrc FROM pg_proc WHERE proname = 'scrydon_migrate_audit_chain'").fetchone()
    run = migrate("audit", "--verify", "--json")

    assert body is not None and "scrydon_migrate_audit_hash(" not in body[0]
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)[0]["intact"] is True and json.loads(run.stdout)[0]["rows"] == 4
