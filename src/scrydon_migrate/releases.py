"""Releases: which migrations ship together, for multi-release changes like a column deprecation.

A service's folder may hold ``releases.toml``::

    [[release]]
    name = "2026.1"
    first_version = 101

A migration belongs to the last release whose ``first_version`` is not above its
version. The linter uses this to check that a column is dropped only in a later
release than the one that stopped using it (``-- migrate:stops-using table.column``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from scrydon_migrate.errors import ConfigError

FILE_NAME = "releases.toml"


@dataclass(frozen=True, slots=True)
class Release:
    name: str
    first_version: int


@dataclass(frozen=True, slots=True)
class Releases:
    releases: tuple[Release, ...]

    def of(self, version: int) -> int | None:
        """The index of the release ``version`` belongs to (``None`` before the first)."""
        found = None
        for index, release in enumerate(self.releases):
            if release.first_version <= version:
                found = index
        return found

    def name(self, index: int | None) -> str:
        return self.releases[index].name if index is not None else "(no release)"


def load(folder: Path) -> Releases | None:
    path = folder / FILE_NAME
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
        entries = [Release(str(r["name"]), int(r["first_version"])) for r in data.get("release", [])]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{str(path)!r} is not a valid releases file: {exc}",
            hint='each [[release]] needs name = "..." and first_version = <integer>',
        ) from exc
    return Releases(tuple(sorted(entries, key=lambda r: r.first_version)))


def save(folder: Path, releases: Releases) -> None:
    lines = ["# Releases of this service: a migration belongs to the last release whose first_version <= its version."]
    for release in releases.releases:
        lines += ["", "[[release]]", f'name = "{release.name}"', f"first_version = {release.first_version}"]
    (folder / FILE_NAME).write_text("\n".join(lines) + "\n")
