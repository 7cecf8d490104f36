"""A database migrated by the previous release verifies without a false desync after upgrading.

That release stored a static prediction in each row's ``effects`` (``{"v": 1, ...}``), which
missed what PostgreSQL drops and renames implicitly. Here the rows are rewritten to exactly what
it stored (its derivation is kept in ``effects.derive_sql``), for histories where that prediction
was wrong; the new release must verify them healthy and record its own migrations the new way.
"""

from __future__ import annotations

import json

import pytest

from scrydon_migrate import effects
from scrydon_migrate.analysis import parse_statements

PREDICTION_WAS_WRONG = {
    "drop column takes its index": (
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);\nCREATE INDEX orgs_slug ON orgs (slug);",
        "ALTER TABLE orgs DROP COLUMN slug;",
    ),
    "unique using index renames the index": (
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);\nCREATE UNIQUE INDEX orgs_slug_idx ON orgs (slug);",
        "ALTER TABLE orgs ADD CONSTRAINT orgs_slug_key UNIQUE USING INDEX orgs_slug_idx;",
    ),
    "rename of a serial's sequence": (
        "CREATE TABLE orgs (id serial PRIMARY KEY);",
        "ALTER SEQUENCE orgs_id_seq RENAME TO orgs_ids;",
    ),
    "cascade takes a view": (
        "CREATE TABLE orgs (id int PRIMARY KEY, name text);\nCREATE VIEW org_names AS SELECT name FROM orgs;",
        "ALTER TABLE orgs DROP COLUMN name CASCADE;",
    ),
    "partitions go with their parent": (
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        "DROP TABLE events;",
    ),
}


def _rewrite_as_previous_release(db, migrations_path):
    """Give every row the effects document the previous release stored for its file."""
    for version, file in db.execute("SELECT version, file FROM platform_migrations").fetchall():
        text = (migrations_path / file).read_text()
        statements = [s.text for s in parse_statements(text) if not s.transaction_control]
        document = effects.to_json(effects.derive_sql(statements, "public"), recorded=False)
        db.execute("UPDATE platform_migrations SET effects = %s WHERE version = %s", (json.dumps(document), version))


@pytest.mark.parametrize("history", sorted(PREDICTION_WAS_WRONG))
def test_rows_of_the_previous_release_verify_healthy_where_its_prediction_was_wrong(history, migrations, migrate, db):
    first, second = PREDICTION_WAS_WRONG[history]
    migrations.write("0001_first.sql", first)
    migrations.write("0002_second.sql", second)
    assert migrate("up").code == 0
    _rewrite_as_previous_release(db, migrations.path)

    verified = migrate("verify", "--json")
    again = migrate("up")

    assert verified.code == 0, verified.stdout
    assert verified.json()[0]["kind"] == "healthy"
    assert again.code == 0, again.stderr


def test_after_the_upgrade_new_migrations_are_recorded_from_postgresql(migrations, migrate, db):
    migrations.write("0001_first.sql", "CREATE TABLE orgs (id int PRIMARY KEY, slug text);")
    assert migrate("up").code == 0
    _rewrite_as_previous_release(db, migrations.path)
    migrations.write("0002_second.sql", "CREATE INDEX orgs_slug ON orgs (slug);")

    assert migrate("up").code == 0

    versions = dict(db.execute("SELECT version, effects->>'source' FROM platform_migrations").fetchall())
    assert versions == {1: "predicted", 2: "recorded"}
    assert migrate("verify").code == 0


def test_a_previous_release_row_confirmed_at_the_upgrade_is_checked_but_never_repaired(migrations, migrate, db):
    migrations.write("0001_first.sql", "CREATE TABLE orgs (id int PRIMARY KEY);")
    migrations.write("0002_second.sql", "CREATE TABLE plans (id int PRIMARY KEY);")
    assert migrate("up").code == 0
    _rewrite_as_previous_release(db, migrations.path)
    migrations.write("0003_third.sql", "CREATE TABLE teams (id int PRIMARY KEY);")
    upgraded = migrate("up")
    assert upgraded.code == 0 and upgraded.log_lines("TRACKING_RECORDS_CONFIRMED")
    db.execute("DROP TABLE teams")
    db.execute("DROP TABLE plans")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "before effects were recorded from PostgreSQL" in run.stderr
    assert db.execute("SELECT count(*) FROM platform_migrations").fetchone() == (3,)
