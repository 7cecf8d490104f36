"""Scaffolding: a new migration file with the next version, and the runbook's column soft-deprecation.

The runbook's sequence for replacing a column, one step per release so that every pod of
a rolling update finds the columns it uses:

1. release N+1: add the new column, keep old and new in sync on every write (a trigger),
   and fill the new one from the old with a background backfill;
2. release N+2: the application reads and writes only the new column: the sync stops,
   and the migration says so with ``-- migrate:stops-using <table>.<old>``;
3. release N+3: drop the old column (the linter checks it is a later release than step 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scrydon_migrate import releases as releases_module
from scrydon_migrate.errors import ConfigError
from scrydon_migrate.source import scan

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


@dataclass(frozen=True, slots=True)
class Scaffolded:
    path: Path
    release: str


def _check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ConfigError(
            f"migration name {slug!r} must be lowercase letters, digits and underscores",
            hint="e.g. add_org_region",
        )
    return slug


def _check_ident(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise ConfigError(
            f"{what} {value!r} must be a plain lowercase SQL identifier",
            hint="quoted or mixed-case names are not scaffolded; write those migrations by hand",
        )
    return value


def _width_and_last(service: str, folder: Path) -> tuple[int, int]:
    files = scan(service, folder, allow_empty=True)
    if not files:
        return 4, 0
    return max(len(f.version_text) for f in files), files[-1].version


def _new_release(folder: Path, last_version: int) -> tuple[str, int]:
    """Open the next release: its first version is the next hundred (101, 201, ...) under 4 digits."""
    current = releases_module.load(folder) or releases_module.Releases(())
    first = (last_version // 100 + 1) * 100 + 1 if last_version < 9900 else last_version + 1
    name = str(len(current.releases) + 1)
    names = {r.name for r in current.releases}
    while name in names:
        name = str(int(name) + 1)
    updated = releases_module.Releases((*current.releases, releases_module.Release(name, first)))
    releases_module.save(folder, updated)
    return name, first


def _write(folder: Path, version: int, width: int, slug: str, text: str) -> Path:
    path = folder / f"{version:0{width}d}_{slug}.sql"
    if path.exists():
        raise ConfigError(f"{str(path)!r} exists already")
    path.write_text(text)
    return path


def new_migration(service: str, folder: Path, slug: str, *, new_release: bool = False) -> Scaffolded:
    """An empty migration with the next version, in the current release (or a new one)."""
    _check_slug(slug)
    folder.mkdir(parents=True, exist_ok=True)
    width, last = _width_and_last(service, folder)
    if new_release:
        release, version = _new_release(folder, last)
    else:
        version = last + 1
        loaded = releases_module.load(folder)
        release = loaded.name(loaded.of(version)) if loaded else "-"
    text = f"-- release {release}: {slug.replace('_', ' ')}\n\n-- write the migration's SQL here\n"
    return Scaffolded(_write(folder, version, width, slug, text), release)


def deprecate_column(
    service: str,
    folder: Path,
    *,
    table: str,
    old: str,
    new: str,
    column_type: str,
    key: str = "id",
) -> list[Scaffolded]:
    """The three migrations of the runbook's column soft-deprecation, one per release."""
    for value, what in ((table, "table"), (old, "column"), (new, "new column"), (key, "key column")):
        _check_ident(value, what)
    folder.mkdir(parents=True, exist_ok=True)
    width, last = _width_and_last(service, folder)
    function = f"{table}_sync_{old}_{new}"[:63]
    # The identifiers were checked above; this is file text for a person to review, not SQL we run.
    steps = [
        (
            f"add_{table}_{new}",
            f"""-- release {{release}}: replace {table}.{old} by {table}.{new}, step 1 of 3: add {new}, sync both
--
-- This release's code writes {new} and reads it with a fallback to {old}. Pods of the
-- previous release still write only {old}: the trigger copies each write across, and the
-- backfill fills {new} for the rows written before this release.

ALTER TABLE {table} ADD COLUMN {new} {column_type} NULL;

CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.{new} IS NULL THEN
            NEW.{new} := NEW.{old};
        ELSIF NEW.{old} IS NULL THEN
            NEW.{old} := NEW.{new};
        END IF;
    ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} THEN
        NEW.{new} := NEW.{old};
    ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} THEN
        NEW.{old} := NEW.{new};
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER {function} BEFORE INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();

-- migrate:backfill {table}_{new} table={table} key={key}
UPDATE {table} SET {new} = {old} WHERE {key} BETWEEN $1 AND $2 AND {new} IS NULL;
""",
        ),
        (
            f"{table}_stops_using_{old}",
            f"""-- release {{release}}: replace {table}.{old} by {table}.{new}, step 2 of 3: stop using {old}
--
-- From this release on the code reads and writes {new} only. Pods of the previous
-- release still write both columns, so the sync trigger is no longer needed.
-- migrate:stops-using {table}.{old}
-- migrate:requires-backfill {table}_{new}

DROP TRIGGER {function} ON {table};

DROP FUNCTION {function}();
""",
        ),
        (
            f"drop_{table}_{old}",
            f"""-- release {{release}}: replace {table}.{old} by {table}.{new}, step 3 of 3: drop {old}
--
-- No pod of this or the previous release uses {old} any more.

ALTER TABLE {table} DROP COLUMN {old};
""",
        ),
    ]
    written = []
    for slug, text in steps:
        release, version = _new_release(folder, last)
        written.append(Scaffolded(_write(folder, version, width, slug, text.format(release=release)), release))
        last = version
    return written
