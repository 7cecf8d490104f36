"""The repair is offered only when the record proves it safe (the rules themselves; no database).

What each migration did comes from PostgreSQL in the database tests; here the records are written
by hand to pin down the rule the runbook states: the offer only for a contiguous tail whose record
holds nothing but creations, all absent now, with no row writes to tables that still exist and no
change to anything outside the tail.
"""

from __future__ import annotations

from scrydon_migrate.record import Altered, Created, Dropped, Record, Renamed, Wrote
from scrydon_migrate.tracking import Status
from scrydon_migrate.verify import AppliedMigration, Kind, classify


def _m(version: int, *steps: object, source: str = "recorded", complete: bool = True) -> AppliedMigration:
    return AppliedMigration(version, f"{version:04d}", Record(tuple(steps), source, complete))  # type: ignore[arg-type]


BASE = _m(1, Created("table:public.orgs"), Created("column:public.orgs.id"))


def test_a_tail_of_creations_that_are_all_gone_is_repairable():
    tail = _m(2, Created("table:public.plans"), Created("column:public.plans.name"))

    result = classify([BASE, tail], {"table:public.orgs", "column:public.orgs.id"})

    assert result.kind is Kind.REPAIRABLE
    assert result.rewind_versions == (2,)


def test_writes_to_a_table_the_tail_created_do_not_block_the_offer():
    tail = _m(2, Created("table:public.plans"), Wrote("table:public.plans"))

    assert classify([BASE, tail], {"table:public.orgs", "column:public.orgs.id"}).kind is Kind.REPAIRABLE


def test_a_write_to_a_surviving_table_blocks_the_offer_and_names_it():
    tail = _m(2, Created("table:public.plans"), Wrote("table:public.orgs"))

    result = classify([BASE, tail], {"table:public.orgs", "column:public.orgs.id"})

    assert result.kind is Kind.PARTIAL
    assert "0002 wrote to rows of table public.orgs, which still exists" in result.reasons


def test_a_drop_rename_or_change_outside_the_tail_blocks_the_offer():
    present = {"table:public.orgs"}
    for step, words in (
        (Dropped("column:public.orgs.id"), "dropped column public.orgs.id"),
        (Renamed("column:public.orgs.id", "column:public.orgs.ident"), "renamed column public.orgs.id"),
        (Altered("table:public.orgs"), "altered table public.orgs"),
    ):
        tail = _m(2, Created("table:public.plans"), step)
        result = classify([BASE, tail], present | {"column:public.orgs.id"})
        assert result.kind is not Kind.REPAIRABLE, step
        assert any(words in reason for reason in result.reasons), (step, result.reasons)


def test_changes_to_what_the_tail_itself_created_keep_the_offer():
    tail = [
        _m(2, Created("table:public.plans"), Created("column:public.plans.a")),
        _m(3, Renamed("column:public.plans.a", "column:public.plans.b"), Altered("table:public.plans")),
        _m(4, Dropped("column:public.plans.b"), Created("index:public.plans.i")),
    ]

    result = classify([BASE, *tail], {"table:public.orgs", "column:public.orgs.id"})

    assert result.kind is Kind.REPAIRABLE
    assert result.rewind_versions == (2, 3, 4)


def test_an_incomplete_or_predicted_record_never_proves_a_repair():
    for tail in (
        _m(2, Created("table:public.plans"), complete=False),
        _m(2, Created("table:public.plans"), source="predicted"),
    ):
        result = classify([BASE, tail], {"table:public.orgs", "column:public.orgs.id"})
        assert result.kind is Kind.PARTIAL
        assert result.reasons


def test_a_journaled_migration_still_running_is_never_rewound():
    running = AppliedMigration(2, "0002", Record((Created("index:public.orgs.i"),)), Status.RUNNING)

    assert classify([BASE, running], {"table:public.orgs", "column:public.orgs.id"}).kind is Kind.PARTIAL


def test_a_gap_followed_by_present_migrations_is_non_contiguous():
    gone = _m(2, Created("table:public.plans"))
    later = _m(3, Created("table:public.teams"))

    result = classify([BASE, gone, later], {"table:public.orgs", "column:public.orgs.id", "table:public.teams"})

    assert result.kind is Kind.NON_CONTIGUOUS


def test_the_record_round_trips_through_its_versioned_json():
    original = Record(
        (Created("table:s.t"), Dropped("index:s.t.i"), Renamed("a", "b"), Altered("c"), Wrote("table:s.t", True)),
        "recorded",
        True,
    )

    assert Record.from_json(original.to_json()) == original
    assert original.to_json()["v"] == 2
    assert Record.from_json({"v": 1, "ops": []}) is None


def test_a_drop_whose_object_exists_again_counts_as_not_applied():
    dropped = _m(2, Dropped("table:public.orgs"))
    later = _m(3, Created("table:public.plans"))

    result = classify([BASE, dropped, later], {"table:public.orgs", "column:public.orgs.id"})

    assert [v.state.value for v in result.verdicts] == ["present", "absent", "absent"]
    assert result.kind is not Kind.REPAIRABLE
