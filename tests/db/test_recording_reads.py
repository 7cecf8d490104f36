"""A migration's record is read by the recorder's narrowest fitting read, and is the same whichever it was.

A migration of table statements only (or of function statements only) is read with the relations'
(the functions') objects alone: a smaller read. What its statements did still comes from the server:
when a trigger, an event trigger or an ``ALTER`` reached objects outside that read, the record is read
from the whole catalog instead, and nothing it did is missed.
"""

from __future__ import annotations

import json


def _steps(db, version):
    [(effects,)] = db.execute("SELECT effects FROM platform_migrations WHERE version = %s", (version,)).fetchall()
    document = effects if isinstance(effects, dict) else json.loads(effects)
    assert document["complete"] is True
    return {(s["op"], s.get("key") or s.get("table")) for s in document["steps"]}


def _applies_cleanly(migrate):
    assert migrate("up").code == 0
    again = migrate("up")
    assert again.code == 0, again.stderr
    assert migrate("verify").code == 0


def test_a_table_migration_records_its_table_its_columns_and_its_index(migrations, migrate, db):
    migrations.write(
        "0001_orgs.sql", "CREATE TABLE orgs (id int PRIMARY KEY, name text);\nCOMMENT ON TABLE orgs IS 'x';"
    )
    migrations.write("0002_index.sql", "CREATE INDEX orgs_name ON orgs (name);\nINSERT INTO orgs VALUES (1, 'a');")

    _applies_cleanly(migrate)

    assert {("create", "table:public.orgs"), ("create", "column:public.orgs.name")} <= _steps(db, 1)
    assert _steps(db, 2) == {("create", "index:public.orgs.orgs_name"), ("write", "table:public.orgs")}


def test_a_row_trigger_that_creates_a_function_is_recorded_for_the_insert_that_fired_it(migrations, migrate, db):
    migrations.write(
        "0001_orgs.sql",
        "CREATE TABLE orgs (id int PRIMARY KEY);\n"
        "CREATE FUNCTION orgs_made() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "  EXECUTE 'CREATE FUNCTION made_by_trigger() RETURNS int LANGUAGE sql AS ''SELECT 1''';\n"
        "  RETURN NEW;\nEND $$;\n"
        "CREATE TRIGGER orgs_made AFTER INSERT ON orgs FOR EACH ROW EXECUTE FUNCTION orgs_made();",
    )
    migrations.write("0002_seed.sql", "INSERT INTO orgs VALUES (1);")

    _applies_cleanly(migrate)

    assert _steps(db, 2) == {("create", "function:public.made_by_trigger()"), ("write", "table:public.orgs")}


def test_an_event_trigger_that_creates_a_table_is_recorded_for_the_function_that_fired_it(migrations, migrate, db):
    migrations.write(
        "0001_watch.sql",
        "CREATE FUNCTION keep_a_log() RETURNS event_trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "  CREATE TABLE IF NOT EXISTS function_log (id int);\nEND $$;\n"
        "CREATE EVENT TRIGGER keep_a_log ON ddl_command_end WHEN TAG IN ('CREATE FUNCTION')\n"
        "  EXECUTE FUNCTION keep_a_log();",
    )
    migrations.write("0002_fn.sql", "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';")

    _applies_cleanly(migrate)

    assert {("create", "function:public.answer()"), ("create", "table:public.function_log")} <= _steps(db, 2)


def test_an_attribute_added_to_a_composite_type_is_recorded(migrations, migrate, db):
    migrations.write("0001_pair.sql", "CREATE TYPE pair AS (a int);")
    migrations.write("0002_more.sql", "ALTER TYPE pair ADD ATTRIBUTE b int;")

    _applies_cleanly(migrate)

    assert ("create", "attribute:public.pair.b") in _steps(db, 2)
