"""The one error tree of scrydon-migrate, and the exit codes it maps to.

Every error a user can meet is a :class:`MigrateError`. Each class carries an
``exit_code`` (see :class:`ExitCode`), the audit/log ``event`` name, a ``hint``
saying what to do next, and the data it was raised with, so the CLI can render it
as text or ``--json`` without parsing messages::

    MigrateError
    ├── ConfigError            bad settings: unknown service, no URL, bad TOML       (3)
    ├── SourceError            bad migration files: name, duplicate, parse, edited   (3 / 6)
    │   └── ChecksumMismatch   an applied migration's file was edited                (6)
    ├── DatabaseUnavailable    cannot connect, or the connection was lost            (4)
    ├── LockWaitTimeout        the service's migration lock was not acquired in time (4)
    ├── StatementFailed        a migration statement failed on the server            (5)
    │   ├── LockTimeoutExhausted  a statement never got its lock within the retries   (5)
    │   └── LockBudgetExceeded    cancelled: held a write-blocking lock past the budget (5)
    ├── UnsafeOperation        a lock-the-table step on a large table, not allowed   (6)
    ├── RefusedError           refused for safety (out-of-order version, ...)        (6)
    ├── TrackingDesync         tracking claims migrations whose objects are gone     (6)
    └── EmbeddedError          the embedded PostgreSQL could not be started/stopped  (4)

The library never prints or exits: ``cli.main`` turns these into output and exit codes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Process exit codes; documented in the README and pinned by tests."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    CONFIG = 3
    UNAVAILABLE = 4
    MIGRATION_FAILED = 5
    REFUSED = 6
    INTERNAL = 70


class MigrateError(Exception):
    """Base of every error scrydon-migrate reports to a user."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    event: ClassVar[str] = "MIGRATE_ERROR"

    def __init__(self, message: str, *, hint: str = "", **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready document for ``--json`` and logs."""
        doc: dict[str, Any] = {
            "error": type(self).__name__,
            "event": self.event,
            "exit_code": int(self.exit_code),
            "message": self.message,
        }
        if self.hint:
            doc["hint"] = self.hint
        doc.update(self.fields)
        return doc


class ConfigError(MigrateError):
    exit_code = ExitCode.CONFIG
    event = "CONFIG_INVALID"


class SourceError(MigrateError):
    """A migration file is unusable; always names the file (and the line when known)."""

    exit_code = ExitCode.CONFIG
    event = "MIGRATION_SOURCE_INVALID"


class ChecksumMismatch(SourceError):
    exit_code = ExitCode.REFUSED
    event = "MIGRATION_CHECKSUM_MISMATCH"


class TransactionPooling(ConfigError):
    """The URL reaches PostgreSQL through a pooler that hands each transaction to any server session."""

    event = "DATABASE_POOLER_REFUSED"


class DatabaseUnavailable(MigrateError):
    exit_code = ExitCode.UNAVAILABLE
    event = "DATABASE_UNAVAILABLE"


class LockWaitTimeout(MigrateError):
    exit_code = ExitCode.UNAVAILABLE
    event = "LOCK_WAIT_TIMEOUT"


class StatementFailed(MigrateError):
    exit_code = ExitCode.MIGRATION_FAILED
    event = "MIGRATION_FAILED"


class LockTimeoutExhausted(StatementFailed):
    event = "MIGRATION_LOCK_TIMEOUT"


class LockBudgetExceeded(StatementFailed):
    event = "MIGRATION_LOCK_BUDGET_EXCEEDED"


class UnsafeOperation(MigrateError):
    exit_code = ExitCode.REFUSED
    event = "MIGRATION_UNSAFE_REFUSED"


class TrackingDesync(MigrateError):
    """The runbook's desync: ``str()`` is its FATAL sentence, ``details`` the evidence."""

    exit_code = ExitCode.REFUSED
    event = "MIGRATION_TRACKING_DESYNC"

    def __init__(self, message: str, *, details: list[str], hint: str, **fields: Any) -> None:
        super().__init__(message, hint=hint, **fields)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"evidence": self.details}


class TrackingDamaged(MigrateError):
    """The tracking table is not in a shape the tool can trust (a column missing or retyped, no key)."""

    exit_code = ExitCode.REFUSED
    event = "MIGRATION_TRACKING_DAMAGED"


class PrivilegeMissing(ConfigError):
    """The database role lacks a privilege the tool's own bookkeeping needs."""

    event = "DATABASE_PRIVILEGE_MISSING"


class RefusedError(MigrateError):
    exit_code = ExitCode.REFUSED
    event = "MIGRATION_REFUSED"


class EmbeddedError(MigrateError):
    exit_code = ExitCode.UNAVAILABLE
    event = "EMBEDDED_POSTGRES_FAILED"
