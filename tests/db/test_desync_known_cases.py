"""Histories where the predicted desync check went wrong, distilled: no false alarm, no unsafe offer.

Each clean case applies cleanly, and the next ``up`` and ``verify`` must agree that nothing is
missing. Each unsafe case plants a desync after which re-applying would re-run writes or undo a
change outside the tail: the repair must not be offered, and must name the recorded step.
"""

from __future__ import annotations

import psycopg
import pytest

CLEAN = {
    "drop column takes its index, constraints and owned sequence": [
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text UNIQUE, n serial);\n"
        "CREATE INDEX orgs_slug_idx ON orgs (slug);",
        "ALTER TABLE orgs DROP COLUMN slug;\nALTER TABLE orgs DROP COLUMN n;",
    ],
    "drop constraint takes its index": [
        "CREATE TABLE orgs (id int, slug text, CONSTRAINT orgs_slug_key UNIQUE (slug));",
        "ALTER TABLE orgs DROP CONSTRAINT orgs_slug_key;",
    ],
    "unique using index renames the index": [
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);",
        "-- migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY orgs_slug_idx ON orgs (slug);",
        "ALTER TABLE orgs ADD CONSTRAINT orgs_slug_key UNIQUE USING INDEX orgs_slug_idx;",
    ],
    "not null set and dropped (named constraints on PostgreSQL 18)": [
        "CREATE TABLE orgs (id int PRIMARY KEY, name text);",
        "ALTER TABLE orgs ALTER COLUMN name SET NOT NULL;",
        "ALTER TABLE orgs ALTER COLUMN name DROP NOT NULL;",
    ],
    "a temp table in a data migration": [
        "CREATE TABLE orgs (id int PRIMARY KEY, name text);",
        "CREATE TEMP TABLE staging AS SELECT 1 AS id, 'a' AS name;\nINSERT INTO orgs SELECT * FROM staging;",
    ],
    "a partitioned table dropped with its partitions": [
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        "DROP TABLE events;",
    ],
    "rename of a serial's implicit sequence": [
        "CREATE TABLE orgs (id serial PRIMARY KEY);",
        "ALTER SEQUENCE orgs_id_seq RENAME TO orgs_ids;",
    ],
    "a DO block's objects removed implicitly by a later plain migration": [
        "DO $$ BEGIN EXECUTE 'CREATE TABLE orgs (id int PRIMARY KEY, slug text)'; "
        "EXECUTE 'CREATE INDEX orgs_slug ON orgs (slug)'; END $$;",
        "ALTER TABLE orgs DROP COLUMN slug;",
    ],
    "a migration that deallocates every prepared statement (the recorder's reads included)": [
        "CREATE TABLE orgs (id int PRIMARY KEY);",
        "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$;\nCREATE TABLE teams (id int PRIMARY KEY);",
        "DEALLOCATE ALL;\nALTER TABLE teams ADD COLUMN org int REFERENCES orgs;",
    ],
    "cascade keeps the rest checked": [
        "CREATE TABLE orgs (id int PRIMARY KEY, name text);\nCREATE VIEW names AS SELECT name FROM orgs;\n"
        "CREATE FUNCTION org_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orgs';",
        "ALTER TABLE orgs DROP COLUMN name CASCADE;",
    ],
    "enum values added and renamed, a type renamed": [
        "CREATE TYPE mood AS ENUM ('ok');\nCREATE FUNCTION cheer(mood) RETURNS text LANGUAGE sql AS 'SELECT ''y''';",
        "ALTER TYPE mood ADD VALUE 'great';",
        "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';\nALTER TYPE mood RENAME TO feeling;",
    ],
    "a schema renamed with its tables": [
        "CREATE SCHEMA billing;\nCREATE TABLE billing.invoices (id int PRIMARY KEY);",
        "ALTER SCHEMA billing RENAME TO accounts;",
    ],
    "a constraint validated on a partitioned table reaches its sub-partitions (found by a campaign)": [
        "CREATE TABLE events (id int, region text, kind text) PARTITION BY LIST (region);\n"
        "CREATE TABLE events_ap PARTITION OF events FOR VALUES IN ('ap') PARTITION BY HASH (id);\n"
        "CREATE TABLE events_ap_0 PARTITION OF events_ap FOR VALUES WITH (MODULUS 1, REMAINDER 0);",
        "ALTER TABLE events ADD CONSTRAINT events_kind CHECK (kind <> '') NOT VALID;",
        "ALTER TABLE events VALIDATE CONSTRAINT events_kind;",
    ],
    "a constraint validated on an inheritance parent reaches its grandchildren": [
        "CREATE TABLE logs (id int, msg text);\nCREATE TABLE logs_a () INHERITS (logs);\n"
        "CREATE TABLE logs_a1 () INHERITS (logs_a);",
        "ALTER TABLE logs ADD CONSTRAINT logs_msg CHECK (msg <> '') NOT VALID;",
        "ALTER TABLE logs VALIDATE CONSTRAINT logs_msg;",
    ],
    "search_path changed by a migration": [
        "CREATE SCHEMA app;",
        "SET search_path = app, public;\nCREATE TABLE orgs (id int PRIMARY KEY);",
        "CREATE TABLE public.plans (id int PRIMARY KEY);",
    ],
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_a_cleanly_applied_history_raises_no_alarm(case, migrations, migrate):
    for number, sql in enumerate(CLEAN[case], 1):
        migrations.write(f"{number:04d}_step.sql", sql)
        assert migrate("up").code == 0

    verified = migrate("verify", "--json")
    again = migrate("up")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout
    assert again.code == 0 and not again.log_lines("MIGRATION_APPLIED")


ONE_RUN = {
    "an index rebuilt concurrently, then its table written (no REINDEX event before PostgreSQL 17)": [
        "CREATE TABLE sessions (id int PRIMARY KEY, user_id int);\nCREATE INDEX sessions_user ON sessions (user_id);",
        "-- migrate:no-transaction\nREINDEX TABLE CONCURRENTLY sessions;",
        "DELETE FROM sessions WHERE id < 0;",
    ],
}


@pytest.mark.parametrize("case", sorted(ONE_RUN))
def test_a_history_applied_in_one_run_raises_no_alarm(case, migrations, migrate):
    """The recorder compares each migration with what the run saw before it: one ``up`` for the whole
    history keeps that memory across migrations, as a fresh install does."""
    for number, sql in enumerate(ONE_RUN[case], 1):
        migrations.write(f"{number:04d}_step.sql", sql)
    assert migrate("up").code == 0

    verified = migrate("verify", "--json")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout


def test_a_tail_whose_do_block_wrote_rows_of_a_surviving_table_is_not_offered(migrations, migrate, db):
    migrations.write(
        "0001_counters.sql", "CREATE TABLE counters (id int PRIMARY KEY, n int);\nINSERT INTO counters VALUES (1, 1);"
    )
    migrations.write(
        "0002_bump.sql",
        "CREATE TABLE audit_notes (id int);\nDO $$ BEGIN UPDATE counters SET n = n + 1; END $$;",
    )
    assert migrate("up").code == 0
    db.execute("DROP TABLE audit_notes")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "0002 (0002_bump.sql) wrote to rows of table public.counters, which still exists" in run.stderr
    assert db.execute("SELECT n FROM counters").fetchone() == (2,)


def test_a_tail_that_renamed_an_earlier_table_is_not_offered(migrations, migrate, db):
    migrations.write("0001_orgs.sql", "CREATE TABLE orgs (id int PRIMARY KEY);")
    migrations.write("0002_rename.sql", "ALTER TABLE orgs RENAME TO organisations;\nCREATE TABLE teams (id int);")
    assert migrate("up").code == 0
    db.execute("ALTER TABLE organisations RENAME TO orgs")
    db.execute("DROP TABLE teams")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "renamed table public.orgs (created by an earlier migration)" in run.stderr


def test_a_tail_that_starts_with_an_alteration_is_found_and_not_offered(migrations, migrate, db):
    """Found by the corpus check on the agentic reference schema: a VALIDATE before the missing tail."""
    migrations.write(
        "0001_fk.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (a_id int);\n"
        "ALTER TABLE b ADD CONSTRAINT b_a_fkey FOREIGN KEY (a_id) REFERENCES a NOT VALID;",
    )
    migrations.write("0002_validate.sql", "ALTER TABLE b VALIDATE CONSTRAINT b_a_fkey;")
    migrations.write("0003_more.sql", "CREATE TABLE c (id int);")
    assert migrate("up").code == 0
    db.execute("ALTER TABLE b DROP CONSTRAINT b_a_fkey")
    db.execute("ALTER TABLE b ADD CONSTRAINT b_a_fkey FOREIGN KEY (a_id) REFERENCES a NOT VALID")
    db.execute("DROP TABLE c")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "0002 (0002_validate.sql): absent" in run.stderr
    assert "Re-run with MIGRATE_REPAIR_TRACKING=1" not in run.stderr


def test_a_migration_that_left_nothing_to_check_is_rewound_with_the_missing_tail_after_it(migrations, migrate, db):
    """Found by the differential test: a COMMENT right before a missing index build was left unapplied."""
    migrations.write("0001_orgs.sql", "CREATE TABLE orgs (id serial PRIMARY KEY, a int);")
    migrations.write("0002_comment.sql", "COMMENT ON TABLE orgs IS 'organisations';")
    migrations.write("0003_index.sql", "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY orgs_a ON orgs (a);")
    assert migrate("up").code == 0
    db.execute("COMMENT ON TABLE orgs IS NULL")
    db.execute("DROP INDEX orgs_a")

    refused = migrate("up")
    repaired = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert refused.code == 6 and "kind=repairable missing_versions=[3] rewind_from=2" in refused.stderr, refused.stderr
    assert repaired.code == 0, repaired.stderr
    assert db.execute("SELECT obj_description('orgs'::regclass), to_regclass('orgs_a') IS NOT NULL").fetchone() == (
        "organisations",
        True,
    )


def test_a_tail_whose_drop_did_not_happen_is_found_and_not_offered(migrations, migrate, db):
    """Found by the differential test: a tail that dropped an earlier table, planted unapplied, was
    offered a repair of its later creations only, leaving the table the drop should have removed."""
    migrations.write("0001_tables.sql", "CREATE TABLE legacy (id int);\nCREATE TABLE orgs (id int PRIMARY KEY);")
    migrations.write("0002_drop_legacy.sql", "DROP TABLE legacy;")
    migrations.write("0003_plans.sql", "CREATE TABLE plans (id int PRIMARY KEY);")
    assert migrate("up").code == 0
    db.execute("CREATE TABLE legacy (id int)")
    db.execute("DROP TABLE plans")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "0002 (0002_drop_legacy.sql): absent; missing the drop of table public.legacy (it exists)" in run.stderr
    assert "0002 (0002_drop_legacy.sql) dropped column public.legacy.id, which an earlier migration" in run.stderr
    assert db.execute("SELECT to_regclass('legacy') IS NOT NULL, to_regclass('plans') IS NULL").fetchone() == (
        True,
        True,
    )


def test_a_table_tuned_by_hand_is_not_a_desync(migrations, migrate, db):
    """An operator's autovacuum or fillfactor setting changes no migration's footprint."""
    migrations.write("0001_orgs.sql", "CREATE TABLE orgs (id int PRIMARY KEY, name text);")
    assert migrate("up").code == 0
    db.execute("ALTER TABLE orgs SET (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 90)")
    db.execute("COMMENT ON TABLE orgs IS 'tuned by hand'")

    again = migrate("up")
    verified = migrate("verify", "--json")

    assert again.code == 0, again.stderr
    assert verified.json()[0]["kind"] == "healthy"


@pytest.mark.parametrize(
    "change",
    [
        "CREATE STATISTICS orgs_a_b (dependencies) ON a, b FROM orgs;",
        "CREATE RULE orgs_keep AS ON DELETE TO orgs DO INSTEAD NOTHING;",
        "ALTER TYPE address RENAME ATTRIBUTE line1 TO street;",
        "ALTER TYPE address ADD ATTRIBUTE region text;",
        "CREATE COLLATION orgs_c (provider = libc, locale = 'C');",
        "CREATE TEXT SEARCH CONFIGURATION org_search (COPY = pg_catalog.simple);",
        "CREATE ROLE desync_case_reader NOLOGIN;",
    ],
    ids=[
        "statistics object",
        "rule",
        "composite attribute renamed",
        "composite attribute added",
        "collation",
        "text search configuration",
        "role",
    ],
)
def test_a_migration_right_before_a_missing_tail_is_checked_and_not_run_again(migrations, migrate, db, change):
    """Found by a campaign of realistic histories: a migration whose only change the check did not record
    (CREATE STATISTICS, CREATE RULE on a table, an attribute of a composite type, a collation, a role) was
    rewound with the missing tail after it as if it had left nothing, and the repair failed running it
    again. Roles are global: the test drops its own, which the cluster's other databases would see."""
    migrations.write(
        "0001_orgs.sql",
        "CREATE TABLE orgs (id int PRIMARY KEY, a int, b int);\nCREATE TYPE address AS (line1 text, city text);",
    )
    migrations.write("0002_change.sql", change)
    migrations.write("0003_plans.sql", "CREATE TABLE plans (id int PRIMARY KEY);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE plans")

    refused = migrate("up")
    repaired = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert refused.code == 6 and "kind=repairable missing_versions=[3] rewind_from=3" in refused.stderr, refused.stderr
    assert repaired.code == 0, repaired.stderr
    assert db.execute("SELECT to_regclass('plans') IS NOT NULL").fetchone() == (True,)
    db.execute("DROP ROLE IF EXISTS desync_case_reader")


def test_a_tail_that_made_an_object_the_check_does_not_record_is_not_offered(migrations, migrate, db):
    """A cast, an operator or a collation may survive the tables of its migration: running it again fails."""
    migrations.write("0001_orgs.sql", "CREATE TABLE orgs (id int PRIMARY KEY);")
    migrations.write(
        "0002_names.sql",
        "CREATE TABLE names (id int);\nCREATE COLLATION names_c (provider = libc, locale = 'C');",
    )
    assert migrate("up").code == 0
    db.execute("DROP TABLE names")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert (
        "0002 (0002_names.sql) changed objects the desync check does not record (pg_collation), "
        "so re-applying it is not provably safe" in run.stderr
    ), run.stderr
    assert db.execute("SELECT to_regclass('names') IS NULL").fetchone() == (True,)


@pytest.mark.parametrize(
    ("extension", "table"),
    [
        ("btree_gist", "bookings (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&))"),
        ("hstore", "bookings (room int, attrs hstore)"),
    ],
    ids=["operator classes", "update scripts that drop their own operators"],
)
def test_a_tail_that_created_an_extension_is_offered(migrations, migrate, db, extension, table):
    """The commands of an extension's script fire the event triggers too: its operator classes are the
    extension's, which the record covers, not objects it cannot check. Found by a campaign of realistic
    histories: hstore's update scripts create operators and drop them again; the created ones, which no
    longer exist and belong to no extension, were named as objects the check does not record, and a tail
    that created hstore was refused the repair."""
    migrations.write("0001_orgs.sql", "CREATE TABLE orgs (id int PRIMARY KEY);")
    migrations.write("0002_bookings.sql", f"CREATE EXTENSION {extension};\nCREATE TABLE {table};")
    assert migrate("up").code == 0
    db.execute("DROP TABLE bookings")
    db.execute(f"DROP EXTENSION {extension}")

    refused = migrate("up")
    repaired = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert refused.code == 6 and "kind=repairable missing_versions=[2] rewind_from=2" in refused.stderr, refused.stderr
    assert repaired.code == 0, repaired.stderr
    assert db.execute("SELECT to_regclass('bookings') IS NOT NULL").fetchone() == (True,)


RESPELLED = {
    "a schema renamed under a type that columns, domains and functions elsewhere use": [
        "CREATE SCHEMA lib;\nCREATE TYPE lib.mood AS ENUM ('ok');\nCREATE TABLE t (id int, m lib.mood);\n"
        "CREATE DOMAIN calm AS lib.mood;\nCREATE FUNCTION f(lib.mood) RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "ALTER SCHEMA lib RENAME TO library;",
    ],
    "an enum renamed and moved to another schema under a column": [
        "CREATE SCHEMA ref;\nCREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE t (id int, m mood);",
        "ALTER TYPE mood RENAME TO feeling;",
        "ALTER TYPE feeling SET SCHEMA ref;",
    ],
    "an extension moved to another schema under columns and functions of its type": [
        "CREATE EXTENSION hstore;\nCREATE TABLE t (id int, attrs hstore);\n"
        "CREATE FUNCTION keys_of(hstore) RETURNS text[] LANGUAGE sql AS 'SELECT akeys($1)';",
        "CREATE SCHEMA ext;\nALTER EXTENSION hstore SET SCHEMA ext;",
    ],
    "a table renamed whose row type a column and a function use": [
        "CREATE TABLE orgs (id int);\nCREATE TABLE snapshots (o orgs);\n"
        "CREATE FUNCTION org_id(orgs) RETURNS int LANGUAGE sql AS 'SELECT $1.id';",
        "ALTER TABLE orgs RENAME TO organisations;",
    ],
}


@pytest.fixture
def plain_owner_url(pg_cluster, db_url, db):
    """The test database owned by a LOGIN role that is no superuser: no event triggers, whole-catalog reads."""
    from psycopg import sql

    role = f"plain_{db_url.rsplit('/', 1)[1]}"[:60]
    database = db_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'plain'").format(sql.Identifier(role)))
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)))
    db.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
    host = pg_cluster.admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    yield f"postgresql://{role}:plain@{host}/{database}"
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("case", sorted(RESPELLED))
def test_a_name_change_that_respells_other_objects_raises_no_alarm(case, migrations, migrate):
    """Found by a campaign of realistic histories (ALTER EXTENSION hstore SET SCHEMA ext in a type-evolution
    history): a column's shape and a function's key spell the names of their types, which a rename or
    move of the type, its schema, its extension or its table changes without writing the column's or the
    function's catalog row. The record missed that change, and verify called the earlier migration partial."""
    for number, sql_text in enumerate(RESPELLED[case], 1):
        migrations.write(f"{number:04d}_step.sql", sql_text)
        assert migrate("up").code == 0

    verified = migrate("verify", "--json")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout


@pytest.mark.parametrize("case", sorted(c for c in RESPELLED if "extension" not in c))
def test_a_name_change_that_respells_other_objects_raises_no_alarm_without_event_triggers(
    case, migrations, plain_owner_url
):
    """The same as a role that may not create event triggers, whose every record is a whole-catalog read
    (such a role may not move a trusted extension: its types belong to the superuser)."""
    from tests.fixtures.cli import run_cli

    base = ("--service", "platform", "--database-url", plain_owner_url, "--migrations-dir", str(migrations.path))
    for number, sql_text in enumerate(RESPELLED[case], 1):
        migrations.write(f"{number:04d}_step.sql", sql_text)
        applied = run_cli("up", *base)
        assert applied.code == 0, applied.stderr

    verified = run_cli("verify", *base, "--json")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout


@pytest.mark.parametrize("stored_shape", [False, True], ids=["recorded now", "recorded with a version shape"])
def test_an_extension_updated_by_the_dba_is_not_a_desync(migrations, migrate, db, stored_shape):
    """Found by a campaign of realistic histories: citext is 1.6 on PostgreSQL 15 and 1.8 on 18, so the
    ``ALTER EXTENSION citext UPDATE`` that pg_upgrade prescribes (or a dump restored on the newer major,
    whose CREATE EXTENSION names no version) made the migration that created it partial, and every pod
    start failed (here citext 1.4, older than either default). Rows recorded by the release that kept the
    version in the shape are read the same way."""
    migrations.write("0001_users.sql", "CREATE EXTENSION citext VERSION '1.4';\nCREATE TABLE users (email citext);")
    assert migrate("up").code == 0
    if stored_shape:
        db.execute(
            "UPDATE platform_migrations"
            " SET effects = jsonb_set(effects, '{steps,0,shape}', to_jsonb(left(md5('1.4'), 8)))"
            " WHERE effects #>> '{steps,0,key}' = 'extension:citext'"
        )
    db.execute("ALTER EXTENSION citext UPDATE")

    verified = migrate("verify", "--json")
    again = migrate("up")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout
    assert again.code == 0, again.stderr


def test_a_partition_identity_column_recorded_on_15_is_healthy_where_partitions_inherit_identity(
    migrations, migrate, db
):
    """Found by restoring a partitioning history applied on PostgreSQL 15 into 18: since 17 a partition's
    column inherits its parent's identity (``attidentity`` 'a'; 15 leaves it empty, and neither lets the
    partition change it), so the migration that created the partition read as partial. The record is the
    one 15 writes: the column's shape without identity."""
    migrations.write(
        "0001_events.sql",
        "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, region text NOT NULL)"
        " PARTITION BY LIST (region);\n"
        "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');",
    )
    assert migrate("up").code == 0
    db.execute(
        "UPDATE platform_migrations SET effects = jsonb_set(effects, '{steps}', (SELECT jsonb_agg("
        " CASE WHEN s ->> 'key' = 'column:public.events_eu.id'"
        " THEN jsonb_set(s, '{shape}', to_jsonb(left(md5('pg_catalog.int8/-1truefalse'), 8))) ELSE s END ORDER BY n)"
        " FROM jsonb_array_elements(effects -> 'steps') WITH ORDINALITY AS steps (s, n)))"
    )

    verified = migrate("verify", "--json")

    assert verified.code == 0 and verified.json()[0]["kind"] == "healthy", verified.stdout
