"""``runner.make_plan``: which files are pending, edited, out of order, and which rows have no file.

Pure: files and tracking rows are built in memory; no database, no file is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scrydon_migrate.runner import Plan, make_plan
from scrydon_migrate.source import MigrationFile
from scrydon_migrate.tracking import Status, TrackedRow

SERVICE = "platform"
APPLIED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def sha(version: int, edit: int = 0) -> str:
    return f"{version:04d}-{edit}".ljust(64, "0")


def migration_file(version: int, edit: int = 0) -> MigrationFile:
    name = f"{version:04d}_step_{version}.sql"
    return MigrationFile(
        service=SERVICE,
        version=version,
        version_text=f"{version:04d}",
        name=f"step_{version}",
        path=Path("/app/migrations/platform") / name,
        content_sha256=sha(version, edit),
    )


def row(
    version: int,
    status: Status = Status.APPLIED,
    *,
    content_sha256: str | None = "same",
    reason: str | None = None,
) -> TrackedRow:
    """A row as the tool writes it; ``content_sha256="same"`` is the hash of the unedited file."""
    failed = status is Status.FAILED
    return TrackedRow(
        version=version,
        name=f"step_{version}",
        file=f"{version:04d}_step_{version}.sql",
        checksum="c" * 64,
        content_sha256=sha(version) if content_sha256 == "same" else content_sha256,
        status=status,
        applied_at=APPLIED_AT,
        duration_ms=12,
        applied_by="api-platform-7d9f (pid 1)",
        statements_done=None,
        statements_total=None,
        error='column "missing_column" does not exist' if failed else None,
        sqlstate="42703" if failed else None,
        failed_statement=None,
        failed_line=None,
        reason=reason,
    )


def hand_inserted(version: int) -> TrackedRow:
    """``INSERT INTO platform_migrations (version) VALUES (n)``: every other column at its default."""
    return TrackedRow(
        version=version,
        name=None,
        file=None,
        checksum=None,
        content_sha256=None,
        status=Status.SKIPPED,
        applied_at=APPLIED_AT,
        duration_ms=None,
        applied_by=None,
        statements_done=None,
        statements_total=None,
        error=None,
        sqlstate=None,
        failed_statement=None,
        failed_line=None,
        reason=None,
    )


def plan(files: Iterable[int | MigrationFile], rows: Iterable[TrackedRow] = ()) -> Plan:
    built = [f if isinstance(f, MigrationFile) else migration_file(f) for f in files]
    return make_plan(SERVICE, sorted(built, key=lambda f: f.version), {r.version: r for r in rows})


def versions(items: Iterable[MigrationFile | TrackedRow]) -> list[int]:
    return [item.version for item in items]


# --- pending --------------------------------------------------------------------------------------------


def test_on_a_fresh_database_every_file_is_pending_in_version_order() -> None:
    result = plan([1, 2, 10, 11])

    assert versions(result.pending) == [1, 2, 10, 11]
    assert (result.changed, result.unknown_newer, result.missing_files, result.out_of_order) == ((), (), (), ())
    assert result.service == SERVICE


def test_applied_files_are_not_pending_and_new_files_are() -> None:
    result = plan([1, 2, 3], [row(1), row(2)])

    assert versions(result.pending) == [3]
    assert result.out_of_order == ()


def test_failed_and_running_migrations_are_pending_again() -> None:
    result = plan([1, 2, 3], [row(1), row(2, Status.FAILED), row(3, Status.RUNNING)])

    assert versions(result.pending) == [2, 3]
    assert result.out_of_order == ()


def test_an_up_to_date_service_has_nothing_pending() -> None:
    result = plan([1, 2], [row(1), row(2)])

    assert result.pending == ()


# --- skipped rows ----------------------------------------------------------------------------------------


def test_skipped_migrations_are_never_pending() -> None:
    result = plan([1, 2, 3], [row(1), row(2, Status.SKIPPED, reason="not needed on this cluster"), hand_inserted(3)])

    assert result.pending == ()
    assert result.changed == ()


def test_a_hand_inserted_row_is_a_skip_marked_by_hand() -> None:
    manual = hand_inserted(2)
    with_reason = row(2, Status.SKIPPED, reason="superseded by 0003")

    assert manual.status is Status.SKIPPED
    assert manual.marked_by_hand and manual.counts_as_done
    assert not with_reason.marked_by_hand and with_reason.counts_as_done
    assert not row(2).marked_by_hand
    assert not row(2, Status.FAILED).counts_as_done


def test_the_runbooks_manual_skip_of_a_failed_migration_lets_the_next_ones_run() -> None:
    # 0002 failed; the operator ran UPDATE platform_migrations SET status = 'skipped' WHERE version = 2.
    skipped = row(2, Status.SKIPPED)

    result = plan([1, 2, 3], [row(1), skipped])

    assert skipped.marked_by_hand
    assert versions(result.pending) == [3]
    assert result.out_of_order == ()


# --- edited files -------------------------------------------------------------------------------------------


def test_an_applied_migration_whose_file_bytes_changed_is_in_changed() -> None:
    result = plan([migration_file(1), migration_file(2, edit=1), 3], [row(1), row(2)])

    assert versions(result.changed) == [2]
    assert versions(result.pending) == [3]


def test_an_applied_row_without_a_file_hash_is_in_changed_so_its_checksum_gets_compared() -> None:
    result = plan([1], [row(1, content_sha256=None)])

    assert versions(result.changed) == [1]


def test_only_applied_rows_can_be_changed() -> None:
    files = [migration_file(1, edit=1), migration_file(2, edit=1), migration_file(3, edit=1)]

    result = plan(files, [row(1, Status.FAILED), row(2, Status.SKIPPED, reason="x"), hand_inserted(3)])

    assert result.changed == ()
    assert versions(result.pending) == [1]


# --- rows without a file ------------------------------------------------------------------------------------


def test_rows_newer_than_every_file_are_unknown_newer_after_a_helm_rollback() -> None:
    result = plan([1, 2], [row(1), row(2), row(3), row(4, Status.SKIPPED, reason="x")])

    assert versions(result.unknown_newer) == [3, 4]
    assert result.pending == ()
    assert result.missing_files == ()
    assert result.out_of_order == ()


def test_with_no_files_every_applied_row_is_unknown_newer() -> None:
    result = plan([], [row(1), row(2)])

    assert versions(result.unknown_newer) == [1, 2]
    assert result.missing_files == ()


def test_rows_without_a_file_below_the_newest_file_are_missing_files() -> None:
    result = plan([1, 3, 5], [row(1), row(2), row(3), row(4), row(5), row(6)])

    assert versions(result.missing_files) == [2, 4]
    assert versions(result.unknown_newer) == [6]
    assert result.pending == ()


def test_failed_rows_without_a_file_are_neither_missing_nor_unknown_newer() -> None:
    result = plan([1, 3], [row(1), row(2, Status.FAILED), row(3), row(4, Status.RUNNING)])

    assert result.missing_files == ()
    assert result.unknown_newer == ()


# --- out of order -------------------------------------------------------------------------------------------


def test_a_pending_file_older_than_the_newest_applied_one_is_out_of_order() -> None:
    result = plan([1, 2, 3, 4], [row(1), row(3)])

    assert versions(result.pending) == [2, 4]
    assert versions(result.out_of_order) == [2]


def test_a_pending_file_older_than_a_skipped_one_is_out_of_order() -> None:
    result = plan([1, 2, 3], [row(1), hand_inserted(3)])

    assert versions(result.out_of_order) == [2]


def test_a_failed_migration_retried_in_order_is_not_out_of_order() -> None:
    result = plan([1, 2, 3], [row(1), row(2, Status.FAILED), row(3, Status.FAILED)])

    assert versions(result.pending) == [2, 3]
    assert result.out_of_order == ()


def test_a_pending_file_older_than_an_applied_migration_whose_file_is_gone_is_out_of_order() -> None:
    # 0003 was applied (its file was later removed); 0002 is new. Applying it now runs it after 0003.
    result = plan([1, 2, 4], [row(1), row(3)])

    assert versions(result.missing_files) == [3]
    assert versions(result.out_of_order) == [2]


# --- property: make_plan agrees with a brute-force oracle ----------------------------------------------------

DONE = (Status.APPLIED, Status.SKIPPED)


def oracle(files: dict[int, MigrationFile], rows: dict[int, TrackedRow]) -> dict[str, list[int]]:
    """The runbook's rules, one version at a time, written as plainly as possible."""
    newest_file = max(files, default=None)
    done = {v for v, r in rows.items() if r.status in DONE}
    result: dict[str, list[int]] = {"pending": [], "changed": [], "unknown_newer": [], "missing_files": []}
    for version in sorted(set(files) | set(rows)):
        file, tracked = files.get(version), rows.get(version)
        if file is not None and (tracked is None or tracked.status in (Status.FAILED, Status.RUNNING)):
            result["pending"].append(version)
        applied = tracked is not None and tracked.status is Status.APPLIED
        if file is not None and applied and tracked.content_sha256 != file.content_sha256:
            result["changed"].append(version)
        if file is None and tracked is not None and tracked.status in DONE:
            if newest_file is None or version > newest_file:
                result["unknown_newer"].append(version)
            else:
                result["missing_files"].append(version)
    # "Newest applied" ignores rows from a newer release (a rollback must start), nothing else.
    known_done = [v for v in done if newest_file is not None and v <= newest_file]
    newest_done = max(known_done, default=None)
    result["out_of_order"] = [v for v in result["pending"] if newest_done is not None and v < newest_done]
    return result


@st.composite
def files_and_rows(draw: st.DrawFn) -> tuple[dict[int, MigrationFile], dict[int, TrackedRow]]:
    file_versions = draw(st.sets(st.integers(min_value=1, max_value=25), max_size=12))
    files = {v: migration_file(v, edit=draw(st.sampled_from([0, 0, 0, 1]))) for v in file_versions}
    row_versions = draw(st.sets(st.integers(min_value=1, max_value=30), max_size=14))
    rows: dict[int, TrackedRow] = {}
    for version in row_versions:
        kind = draw(st.sampled_from(["applied", "failed", "running", "skipped", "by-hand"]))
        if kind == "by-hand":
            rows[version] = hand_inserted(version)
            continue
        content = draw(st.sampled_from(["same", None, sha(version, 7)]))
        reason = "decided safe" if kind == "skipped" and draw(st.booleans()) else None
        rows[version] = row(version, Status(kind), content_sha256=content, reason=reason)
    return files, rows


@settings(max_examples=400, deadline=None, database=None)
@given(files_and_rows())
def test_make_plan_agrees_with_a_brute_force_oracle(
    case: tuple[dict[int, MigrationFile], dict[int, TrackedRow]],
) -> None:
    files, rows = case
    expected = oracle(files, rows)

    result = make_plan(SERVICE, [files[v] for v in sorted(files)], rows)

    assert versions(result.pending) == expected["pending"]
    assert versions(result.changed) == expected["changed"]
    assert versions(result.unknown_newer) == expected["unknown_newer"]
    assert versions(result.missing_files) == expected["missing_files"]
    # Never pending and done at once; no row both unknown-newer and missing.
    done = {v for v, r in rows.items() if r.status in DONE}
    assert not set(versions(result.pending)) & done
    assert not set(versions(result.unknown_newer)) & set(versions(result.missing_files))
    assert versions(result.out_of_order) == expected["out_of_order"]
    assert result.files == tuple(files[v] for v in sorted(files))
