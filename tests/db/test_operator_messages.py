"""What the operator reads says what to do, in the runbook's words and the chart's keys."""

from __future__ import annotations

ORGS = "CREATE TABLE organisations (id bigint PRIMARY KEY, slug text);"


def test_repair_flag_left_on_says_truthfully_what_it_does(migrations, migrate):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 0
    warning = run.log_lines("REPAIR_TRACKING_LEFT_ON")[0]
    assert "a later repairable desync is rewound and re-applied without stopping (exit 0)" in warning
    assert "set it back to false (auth.migration.repairTracking: false" in warning
    assert "silences nothing" not in warning


def test_desync_message_names_the_chart_key_as_well_as_the_variable(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_regions.sql", "CREATE TABLE regions (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE regions")

    run = migrate("up")

    assert run.code == 6
    offer = run.stderr.splitlines()[-1]
    assert offer.startswith("[migrate-bootstrap] FATAL: Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from")
    assert "set auth.migration.repairTracking: true for this one upgrade" in offer


def test_a_migration_waiting_for_a_backfill_says_what_to_do_under_helm(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 's' || g FROM generate_series(1, 10) g")
    migrations.write(
        "0002_upper.sql",
        "ALTER TABLE organisations ADD COLUMN slug_upper text NULL;\n"
        "-- migrate:backfill orgs_upper table=organisations key=id\n"
        "UPDATE organisations SET slug_upper = upper(slug) WHERE id BETWEEN $1 AND $2;\n",
    )
    migrations.write("0003_require.sql", "-- migrate:requires-backfill orgs_upper\nSELECT 1;")

    run = migrate("up")

    assert run.code == 6
    line = run.log_lines("MIGRATION_BACKFILL_REQUIRED")[0]
    assert "requires backfill 'orgs_upper', which is pending" in line
    assert "this release's backfill worker is never created" in line
    assert "…" not in line
    assert "--set auth.backfill.enabled=true" in line
    assert "then run this helm upgrade again" in line


def test_every_command_logs_with_the_runbooks_prefix(migrations, migrate, tmp_path):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_later.sql", "CREATE TABLE later (id int);")
    runs = [
        migrate("up"),
        migrate("snapshot create", "--to", str(tmp_path / "snap")),
        migrate("mark-applied", "--version", "3", "--reason", "not needed", "--force"),
        migrate("snapshot restore", "--from", str(tmp_path / "snap"), "--yes"),
        migrate("status", "--exit-code"),
    ]

    lines = [line for run in runs for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) >= 4
    assert all(line.startswith("[migrate-bootstrap] ") for line in lines), lines
