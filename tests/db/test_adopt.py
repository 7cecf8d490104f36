"""`adopt`: take over a database another tool migrated, from that tool's own tracking table.

Each history is written the way the tool writes it (its table, its rows) together with the schema
its migrations left; `adopt` must record exactly the files the tool applied, audited, so that `up`
runs only the rest. A re-run of an adopted file would fail on "already exists": `up` passing proves
nothing was applied twice.
"""

from __future__ import annotations

import pytest

USERS = "CREATE TABLE users (id bigint PRIMARY KEY, email text);"
POSTS = "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);"
TAGS = "CREATE TABLE tags (id bigint PRIMARY KEY, name text);"


def _adopted_then_up_applies_only_the_rest(migrate, db, tool, expected_versions, pending_table="tags"):
    dry = migrate("adopt", "--json")
    assert dry.code == 0, dry.stderr
    plan = dry.json()
    assert (plan["from"], plan["written"]) == (tool, False)
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)

    done = migrate("adopt", "--yes")
    assert done.code == 0, done.stderr
    assert len(done.log_lines("MIGRATION_ADOPTED")) == len(expected_versions)
    rows = db.execute(
        "SELECT version, status, effects->>'source' = 'adopted', reason LIKE 'adopted from ' || %s || '%%'"
        " FROM platform_migrations ORDER BY version",
        (tool,),
    ).fetchall()
    assert rows == [(v, "applied", True, True) for v in expected_versions]
    assert db.execute(
        "SELECT array_agg(version ORDER BY version) FROM platform_migrations_audit WHERE event = 'MIGRATION_ADOPTED'"
    ).fetchone() == (list(expected_versions),)

    shown = {m["version"].lstrip("0") or "0": m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert shown[str(expected_versions[-1])]["detail"].startswith(f"adopted from {tool}")

    up = migrate("up")
    assert up.code == 0, up.stderr
    assert len(up.log_lines("MIGRATION_APPLIED")) == 1
    assert db.execute("SELECT to_regclass(%s)", (pending_table,)).fetchone() == (pending_table,)
    assert migrate("adopt", "--yes").code == 0
    assert migrate("verify").code == 0


def test_golang_migrate_every_file_up_to_its_version_is_adopted(migrations, migrate, db):
    migrations.write("000001_users.up.sql", USERS)
    migrations.write("000001_users.down.sql", "DROP TABLE users;")
    migrations.write("000002_posts.up.sql", POSTS)
    migrations.write("000003_tags.up.sql", TAGS)
    db.execute(USERS + POSTS)
    db.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
    db.execute("INSERT INTO schema_migrations (version, dirty) VALUES (2, false)")

    _adopted_then_up_applies_only_the_rest(migrate, db, "golang-migrate", [1, 2])


def test_dbmate_each_version_in_its_table_is_adopted(migrations, migrate, db):
    migrations.write("20240101000000_users.sql", f"-- migrate:up\n{USERS}\n\n-- migrate:down\nDROP TABLE users;\n")
    migrations.write("20240102000000_posts.sql", f"-- migrate:up\n{POSTS}\n\n-- migrate:down\nDROP TABLE posts;\n")
    migrations.write("20240103000000_tags.sql", f"-- migrate:up\n{TAGS}\n")
    db.execute(USERS + POSTS)
    db.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
    db.execute("INSERT INTO schema_migrations (version) VALUES ('20240101000000'), ('20240102000000')")

    _adopted_then_up_applies_only_the_rest(migrate, db, "dbmate", [20240101000000, 20240102000000])


FLYWAY_TABLE = """
CREATE TABLE flyway_schema_history (
    installed_rank integer NOT NULL PRIMARY KEY,
    version varchar(50),
    description varchar(200) NOT NULL,
    type varchar(20) NOT NULL,
    script varchar(1000) NOT NULL,
    checksum integer,
    installed_by varchar(100) NOT NULL,
    installed_on timestamp NOT NULL DEFAULT now(),
    execution_time integer NOT NULL,
    success boolean NOT NULL
)
"""


def _flyway_row(db, rank, version, kind="SQL", success=True, installed_on="2024-03-01 10:00:00"):
    db.execute(
        "INSERT INTO flyway_schema_history VALUES (%s, %s, %s, %s, %s, 0, 'flyway', %s, 5, %s)",
        (rank, version, f"step {version}", kind, f"V{version}__step.sql", installed_on, success),
    )


def test_flyway_successful_versioned_rows_are_adopted_with_their_install_time(migrations, migrate, db):
    migrations.write("V1__users.sql", USERS)
    migrations.write("V2__posts.sql", POSTS)
    migrations.write("V3__tags.sql", TAGS)
    db.execute(USERS + POSTS + FLYWAY_TABLE)
    _flyway_row(db, 1, "1")
    _flyway_row(db, 2, "2")

    _adopted_then_up_applies_only_the_rest(migrate, db, "flyway", [1, 2])
    assert db.execute("SELECT applied_at::date::text FROM platform_migrations WHERE version = 1").fetchone() == (
        "2024-03-01",
    )


def test_flyway_a_baseline_covers_every_file_up_to_it(migrations, migrate, db):
    migrations.write("V1__users.sql", USERS)
    migrations.write("V2__posts.sql", POSTS)
    migrations.write("V3__tags.sql", TAGS)
    db.execute(USERS + POSTS + FLYWAY_TABLE)
    _flyway_row(db, 1, "1", kind="BASELINE")
    _flyway_row(db, 2, "2")

    _adopted_then_up_applies_only_the_rest(migrate, db, "flyway", [1, 2])


def test_diesel_versions_map_to_its_folders_without_the_dashes(migrations, migrate, db):
    migrations.write("00000000000000_diesel_initial_setup/up.sql", USERS)
    migrations.write("2024-01-31-120000_create_posts/up.sql", POSTS)
    migrations.write("2024-01-31-120000_create_posts/down.sql", "DROP TABLE posts;")
    migrations.write("2024-02-01-090000_create_tags/up.sql", TAGS)
    db.execute(USERS + POSTS)
    db.execute(
        "CREATE TABLE __diesel_schema_migrations ("
        " version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    db.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('00000000000000'), ('20240131120000')")

    _adopted_then_up_applies_only_the_rest(migrate, db, "diesel", [0, 20240131120000])


ALEMBIC_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
    " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def _alembic_history(migrations):
    migrations.write("0001_a1b2c3d4e5f6_users.sql", USERS)
    migrations.write("0002_b2c3d4e5f6a7_posts.sql", POSTS)
    migrations.write("0003_c3d4e5f6a7b8_tags.sql", TAGS)


def test_alembic_the_head_revision_and_every_file_before_it_are_adopted(migrations, migrate, db):
    _alembic_history(migrations)
    db.execute(USERS + POSTS + ALEMBIC_TABLE)
    db.execute("INSERT INTO alembic_version VALUES ('b2c3d4e5f6a7')")

    _adopted_then_up_applies_only_the_rest(migrate, db, "alembic", [1, 2])


def test_goose_the_latest_row_of_each_version_in_its_log_decides(migrations, migrate, db):
    migrations.write("00001_users.sql", f"-- +goose Up\n{USERS}\n-- +goose Down\nDROP TABLE users;\n")
    migrations.write("00002_posts.sql", f"-- +goose Up\n{POSTS}\n")
    migrations.write("00003_tags.sql", f"-- +goose Up\n{TAGS}\n")
    db.execute(USERS + POSTS)
    db.execute(
        "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL,"
        " is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())"
    )
    # goose's own first row, 1 and 2 applied, 3 applied then rolled back (goose down)
    db.execute(
        "INSERT INTO goose_db_version (version_id, is_applied)"
        " VALUES (0, true), (1, true), (2, true), (3, true), (3, false)"
    )

    _adopted_then_up_applies_only_the_rest(migrate, db, "goose", [1, 2])


def test_sql_migrate_file_names_in_its_table_are_read_by_their_version(migrations, migrate, db):
    migrations.write("1_users.sql", f"-- +migrate Up\n{USERS}\n-- +migrate Down\nDROP TABLE users;\n")
    migrations.write("2_posts.sql", f"-- +migrate Up\n{POSTS}\n")
    migrations.write("3_tags.sql", f"-- +migrate Up\n{TAGS}\n")
    db.execute(USERS + POSTS)
    db.execute("CREATE TABLE gorp_migrations (id text PRIMARY KEY, applied_at timestamptz)")
    db.execute("INSERT INTO gorp_migrations VALUES ('1_users.sql', now()), ('2_posts.sql', now())")

    _adopted_then_up_applies_only_the_rest(migrate, db, "sql-migrate", [1, 2])


def test_postgres_migrations_each_id_but_its_own_table_creation_is_adopted(migrations, migrate, db):
    migrations.write("1_users.sql", USERS)
    migrations.write("2_posts.sql", POSTS)
    migrations.write("3_tags.sql", TAGS)
    db.execute(USERS + POSTS)
    db.execute(
        "CREATE TABLE migrations (id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL,"
        " hash varchar(40) NOT NULL, executed_at timestamp DEFAULT current_timestamp)"
    )
    db.execute(
        "INSERT INTO migrations (id, name, hash) VALUES"
        " (0, 'create-migrations-table', 'h0'), (1, 'users', 'h1'), (2, 'posts', 'h2')"
    )

    _adopted_then_up_applies_only_the_rest(migrate, db, "postgres-migrations", [1, 2])


def _refused(migrate, db, code=6):
    run = migrate("adopt", "--yes")
    assert run.code == code, run.stderr
    assert db.execute("SELECT to_regclass('platform_migrations')").fetchone() == (None,)
    return run


def test_a_dirty_golang_migrate_version_is_refused(migrations, migrate, db):
    migrations.write("000001_users.up.sql", USERS)
    db.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
    db.execute("INSERT INTO schema_migrations VALUES (1, true)")

    run = _refused(migrate, db)

    assert "version 1 is dirty" in run.stderr and "migrate force" in run.stderr


def test_a_version_the_other_tool_applied_without_a_file_here_is_refused(migrations, migrate, db):
    migrations.write("20240101000000_users.sql", USERS)
    db.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
    db.execute("INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240109000000')")

    run = _refused(migrate, db)

    assert "20240109000000" in run.stderr and "has no file" in run.stderr


def test_a_failed_flyway_row_is_refused(migrations, migrate, db):
    migrations.write("V1__users.sql", USERS)
    db.execute(FLYWAY_TABLE)
    _flyway_row(db, 1, "1", success=False)

    assert "flyway repair" in _refused(migrate, db).stderr


def test_a_dotted_flyway_version_is_refused(migrations, migrate, db):
    migrations.write("V1__users.sql", USERS)
    db.execute(FLYWAY_TABLE)
    _flyway_row(db, 1, "1.1")

    assert "'1.1'" in _refused(migrate, db).stderr


@pytest.mark.parametrize(
    ("heads", "says"),
    [(["b2c3d4e5f6a7", "ffffffffffff"], "2 heads"), (["0123456789ab"], "no migration file")],
)
def test_alembic_branches_or_an_unmapped_revision_are_refused(migrations, migrate, db, heads, says):
    _alembic_history(migrations)
    db.execute(ALEMBIC_TABLE)
    for head in heads:
        db.execute("INSERT INTO alembic_version VALUES (%s)", (head,))

    assert says in _refused(migrate, db).stderr


def test_a_database_with_no_other_tools_table_is_refused_naming_the_tables_looked_for(migrations, migrate, db):
    migrations.write("0001_users.sql", USERS)

    run = _refused(migrate, db, code=3)

    assert "schema_migrations" in run.stderr and "flyway_schema_history" in run.stderr


def test_two_tools_tables_need_from_to_choose(migrations, migrate, db):
    _alembic_history(migrations)
    db.execute(ALEMBIC_TABLE + ";" + FLYWAY_TABLE)

    run = _refused(migrate, db, code=3)

    assert "--from" in run.stderr
    assert migrate("adopt", "--from", "alembic", "--json").code == 0


def test_a_renamed_table_is_read_with_table(migrations, migrate, db):
    migrations.write("000001_users.up.sql", USERS)
    migrations.write("000002_posts.up.sql", POSTS)
    db.execute(USERS + "CREATE SCHEMA ops")
    db.execute("CREATE TABLE ops.migrate_versions (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
    db.execute("INSERT INTO ops.migrate_versions VALUES (1, false)")

    run = migrate("adopt", "--from", "golang-migrate", "--table", "ops.migrate_versions", "--yes")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT array_agg(version) FROM platform_migrations").fetchone() == ([1],)
