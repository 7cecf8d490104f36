"""The corpus check (``bench/desync_corpus.py``) on a folder whose data migrations write values made anew.

A repair re-runs the rewound tail, so the rows it writes hold other ``now()`` and ``gen_random_uuid()``
values than the clean apply it is compared with; the check must still hold when the repair is sound.
"""

from __future__ import annotations

from pathlib import Path

from bench import desync_corpus as corpus

MIGRATIONS = {
    "000001_events.sql": "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);\n",
    "000002_audit.sql": "CREATE TABLE audit_entries (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n"
    "    at timestamptz NOT NULL DEFAULT now(), what text NOT NULL);\n",
    "000003_first_audit_entries.sql": "INSERT INTO audit_entries (what) VALUES ('installed');\n"
    "INSERT INTO audit_entries VALUES (gen_random_uuid(), clock_timestamp(), 'checked');\n",
    "000004_audit_by_time.sql": "CREATE INDEX audit_entries_at ON audit_entries (at);\n",
}


def test_a_repaired_tail_that_writes_new_timestamps_and_uuids_passes_every_case(pg_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "platform"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)

    cases = corpus.run(corpus.Scratch(pg_cluster.admin_url), folder, tmp_path / "work")

    assert [(c.name, c.passed) for c in cases] == [
        ("P1 clean apply", True),
        ("tail 1", True),
        ("tail 3", True),
        ("non-contiguous", True),
        ("partial", True),
    ], [c.verdict for c in cases]
    assert next(c.verdict for c in cases if c.name == "tail 3") == "offered; the repair gave back the clean apply"


def test_rows_made_anew_are_masked_and_nothing_else() -> None:
    printed = (
        "-- Dumped by pg_dump\n"
        "ALTER TABLE events ALTER COLUMN at SET DEFAULT '2020-01-01 00:00:00+00';\n"
        "COPY public.events (id, at, note) FROM stdin;\n"
        "6f1c9a52-8d3e-4b0a-9d7e-2f5c1b3a4e6d\t2026-12-02 12:38:37.230114+00\t-- a note\n"
        "\\.\n"
    )

    assert corpus.comparable(printed).splitlines() == [
        "ALTER TABLE events ALTER COLUMN at SET DEFAULT '2020-01-01 00:00:00+00';",
        "COPY public.events (id, at, note) FROM stdin;",
        "<made anew>\t<made anew>\t-- a note",
        "\\.",
    ]
