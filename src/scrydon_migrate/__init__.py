"""scrydon-migrate: forward-only PostgreSQL migrations for Scrydon's services.

A service can run its migrations on start-up from Python::

    import scrydon_migrate
    scrydon_migrate.up(service="platform", database_url=os.environ["DATABASE_URL"])

Importing the package loads neither psycopg, pglast nor click: every pod pays the
start-up of ``up``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrydon_migrate.startup import UpResult

__version__ = "0.1.0"
__all__ = ["__version__", "up"]


def up(
    service: str,
    *,
    database_url: str | None = None,
    migrations_dir: str | Path | None = None,
    lock_wait_s: float | None = None,
    wait_for_db_s: float | None = None,
) -> UpResult:
    """Apply ``service``'s pending migrations: the start-up hook a service calls before serving.

    Raises :class:`scrydon_migrate.errors.MigrateError` (with an ``exit_code``) on failure.
    """
    from scrydon_migrate import api
    from scrydon_migrate.config import load_settings

    settings = load_settings(
        services=[service],
        database_url=database_url,
        migrations_dir=migrations_dir,
        lock_wait_s=lock_wait_s,
        wait_for_db_s=wait_for_db_s,
    )
    return api.up(settings)[0]
