"""What a migration did, as PostgreSQL reports it: the effects record of a tracking row.

The desync check trusts only this record, so it is read from the server inside the migration's own
transaction (per committed statement for journaled migrations), never predicted from the SQL:

* **objects** — every object the catalog module knows (:mod:`scrydon_migrate.catalog`) has an
  identity that survives renames. A run reads the whole catalog once (the *baseline*); after each
  migration the objects in its *scope* are read again and compared with the baseline: an identity
  that is new was **created**, one that is gone was **dropped** (implicit and cascaded drops
  included: PostgreSQL removed the row, whatever the SQL said), one whose name changed was
  **renamed** (recorded as a step of its own, and counted as drop + create), one whose definition
  fingerprint changed was **altered**.
* **scope** — where the role may have them, two DDL event triggers (``ddl_command_end`` and
  ``sql_drop``) note the objects each DDL command of this session touched and dropped, into a
  temporary table, while a session setting says a migration is being recorded; the scope is those
  relations (with their columns, indexes, constraints, triggers, policies, rules and statistics
  objects, and their partitions and inheritance children and parents at every level: a constraint
  validated on a table reaches its grandchildren), functions and types.
  Schemas and extensions are always read whole (they are few). A renamed schema, type, table or view,
  or an altered extension (whose names other keys and shapes spell: a column of the type, a function
  taking the table's row type) widens the read to the whole catalog. Without event triggers (the role is
  not a superuser and nobody installed them) every migration's scope is the whole catalog: the same
  record, at the cost of one catalog scan per migration. Measured in ``bench/desync_record.py``.
* **whose change** — in a whole-catalog read, an object counts as the migration's only when its
  catalog row was written by the migration's own transaction or one of its subtransactions (its
  ``xmin``), so another service migrating the same database at the same time is not recorded here.
* **row writes** — a table the migration's transaction holds a ``RowExclusiveLock`` on (``pg_locks``)
  had rows inserted, updated or deleted by it, DO blocks, functions and triggers included: locks last
  until the transaction ends, so nothing that wrote can hide (the counters of
  ``pg_stat_xact_user_tables`` would tell the same, at the cost of a scan of every table). A table
  whose storage was replaced (TRUNCATE, a rewrite: its ``relfilenode`` changed) is recorded as written
  too. A statement run outside a transaction leaves no such locks: its record is marked *incomplete*
  unless it cannot write rows (index builds and the like).
* **cost** — the two reads are prepared once per run with SQL ``PREPARE`` (see :meth:`Recorder.start`),
  and the read goes to the server with the migration's last statement, and the transaction's ``BEGIN``
  with its first: a one-statement migration costs two round trips in all (statement and read;
  tracking row, audit event and ``COMMIT``). On the server the scoped read is a few index probes per
  touched object plus one look at ``pg_locks``: about 1 ms a migration whatever the size of the schema
  (``bench/desync_record.py`` measures the whole apply against the release before recording).

The record is a small typed vocabulary, stored as versioned JSON (``{"v": 2, ...}``) in the tracking
row's ``effects`` column. Rows written by older versions hold version 1 (static predictions): they are
read by :mod:`scrydon_migrate.effects` and never prove a repair safe.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from scrydon_migrate import catalog, db, startup

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Created:
    """``key`` was created; ``shape`` (if any) is how it was left (see :mod:`scrydon_migrate.catalog`)."""

    key: str
    shape: str = ""


@dataclass(frozen=True, slots=True)
class Dropped:
    key: str


@dataclass(frozen=True, slots=True)
class Renamed:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Altered:
    """``key`` (made by an earlier step or migration) was changed in place and left with ``shape``."""

    key: str
    shape: str = ""


@dataclass(frozen=True, slots=True)
class Wrote:
    """The migration changed rows of ``table`` (``replaced``: TRUNCATE or a rewrite replaced its storage).

    A DML statement counts even when it changed no row then: run again, it may change rows that exist now.
    """

    table: str
    replaced: bool = False


Step = Created | Dropped | Renamed | Altered | Wrote
Source = Literal["recorded", "predicted", "rebaselined", "adopted"]


@dataclass(frozen=True, slots=True)
class Record:
    """The effects of one migration. ``complete`` is False when something it did could not be read."""

    steps: tuple[Step, ...]
    source: Source = "recorded"
    complete: bool = True
    #: The catalogs of objects the migration created, changed or dropped that the record has no step
    #: for (``pg_cast``, ``pg_operator``, ...): what it did to them cannot be checked, nor safely redone.
    unrecorded: tuple[str, ...] = ()

    VERSION: ClassVar[int] = 2

    def to_json(self) -> dict[str, Any]:
        document = {
            "v": self.VERSION,
            "source": self.source,
            "complete": self.complete,
            "steps": [_step_json(s) for s in self.steps],
        }
        return document | ({"unrecorded": list(self.unrecorded)} if self.unrecorded else {})

    @classmethod
    def from_json(cls, document: object) -> Record | None:
        """The record of a stored document; ``None`` when it is not a version-2 record."""
        if not isinstance(document, dict) or document.get("v") != cls.VERSION:
            return None
        steps = tuple(_step(s) for s in document.get("steps", ()) if isinstance(s, dict))
        source = document.get("source", "recorded")
        unrecorded = document.get("unrecorded", ())
        return cls(
            steps=tuple(s for s in steps if s is not None),
            source=source if source in ("recorded", "predicted", "rebaselined", "adopted") else "predicted",
            complete=bool(document.get("complete", False)) and None not in steps,
            unrecorded=tuple(str(c) for c in unrecorded) if isinstance(unrecorded, list) else (),
        )

    def confirmed_by(self, present: set[str]) -> Record:
        """This record without the creations of objects that do not exist (for predictions only)."""
        steps = tuple(s for s in self.steps if not isinstance(s, Created) or s.key in present)
        return Record(steps, self.source, self.complete, self.unrecorded)

    def merged(self, later: Record) -> Record:
        """This record followed by ``later`` (the next committed statement of a journaled migration)."""
        unrecorded = tuple(sorted({*self.unrecorded, *later.unrecorded}))
        return Record(self.steps + later.steps, self.source, self.complete and later.complete, unrecorded)


def _step_json(step: Step) -> dict[str, Any]:
    if isinstance(step, Created):
        return {"op": "create", "key": step.key, "shape": step.shape}
    if isinstance(step, Dropped):
        return {"op": "drop", "key": step.key}
    if isinstance(step, Renamed):
        return {"op": "rename", "old": step.old, "new": step.new}
    if isinstance(step, Altered):
        return {"op": "alter", "key": step.key, "shape": step.shape}
    return {"op": "write", "table": step.table, "replaced": step.replaced}


def _step(document: dict[str, Any]) -> Step | None:
    op = document.get("op")
    try:
        if op == "create":
            return Created(str(document["key"]), str(document.get("shape", "")))
        if op == "drop":
            return Dropped(str(document["key"]))
        if op == "rename":
            return Renamed(str(document["old"]), str(document["new"]))
        if op == "alter":
            return Altered(str(document["key"]), str(document.get("shape", "")))
        if op == "write":
            return Wrote(str(document["table"]), bool(document.get("replaced", False)))
    except (KeyError, TypeError, ValueError):
        return None
    return None


def as_column(record: Record, journal: Mapping[str, Any] | None = None) -> Any:
    """``record`` as the value of the tracking row's ``effects`` column; ``journal``: what a running
    journaled migration has under way (kept beside the record under ``"journal"``, ignored by readers of it)."""
    from psycopg.types.json import Jsonb

    return Jsonb(record.to_json() | ({"journal": dict(journal)} if journal else {}))


#: Statement kinds (pglast node names) that change no rows: DDL. Anything else (DML, COPY, TRUNCATE,
#: DO, CALL, SELECT, CREATE TABLE AS, REFRESH, an unknown kind) has its row writes read.
_ROW_FREE = frozenset(
    {
        "AlterDefaultPrivilegesStmt",
        "AlterDomainStmt",
        "AlterEnumStmt",
        "AlterExtensionStmt",
        "AlterFunctionStmt",
        "AlterObjectSchemaStmt",
        "AlterOwnerStmt",
        "AlterPolicyStmt",
        "AlterRoleStmt",
        "AlterSeqStmt",
        "AlterStatsStmt",
        "AlterTableStmt",
        "AlterTypeStmt",
        "CommentStmt",
        "CompositeTypeStmt",
        "CreateCastStmt",
        "CreateDomainStmt",
        "CreateEnumStmt",
        "CreateEventTrigStmt",
        "CreateExtensionStmt",
        "CreateFunctionStmt",
        "CreateOpClassStmt",
        "CreatePolicyStmt",
        "CreateRangeStmt",
        "CreateRoleStmt",
        "CreateSchemaStmt",
        "CreateSeqStmt",
        "CreateStatsStmt",
        "CreateStmt",
        "CreateTrigStmt",
        "DefineStmt",
        "DropStmt",
        "GrantRoleStmt",
        "GrantStmt",
        "IndexStmt",
        "LockStmt",
        "ReindexStmt",
        "RenameStmt",
        "RuleStmt",
        "SecLabelStmt",
        "VacuumStmt",
        "VariableSetStmt",
        "ViewStmt",
    }
)


def may_write(kinds: Iterable[str]) -> bool:
    """Whether statements of these kinds may change rows (so the record reads the row counters)."""
    return any(kind not in _ROW_FREE for kind in kinds)


# --- recording ---------------------------------------------------------------------------------------

_EVENTS_TABLE = "scrydon_migrate_events"

#: The event triggers and what they use; their function's body is :data:`startup.FUNCTION_BODY` (it also
#: advances the catalog generation of the start-up check). ``pg_temp`` is searched last, so a temporary
#: sequence can't stand in for the generation.
_INSTALL = """
CREATE SEQUENCE IF NOT EXISTS {schema}.scrydon_migrate_catalog_generation;
GRANT SELECT ON SEQUENCE {schema}.scrydon_migrate_catalog_generation TO PUBLIC;
CREATE OR REPLACE FUNCTION {schema}.scrydon_migrate_record_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema}, pg_temp AS $body${body}$body$;
DROP EVENT TRIGGER IF EXISTS scrydon_migrate_record_ddl;
DROP EVENT TRIGGER IF EXISTS scrydon_migrate_record_drop;
CREATE EVENT TRIGGER scrydon_migrate_record_ddl ON ddl_command_end
    EXECUTE FUNCTION {schema}.scrydon_migrate_record_ddl();
CREATE EVENT TRIGGER scrydon_migrate_record_drop ON sql_drop
    EXECUTE FUNCTION {schema}.scrydon_migrate_record_ddl();
ALTER EVENT TRIGGER scrydon_migrate_record_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER scrydon_migrate_record_drop ENABLE ALWAYS;
"""

#: How many of the event triggers are enabled, how many are as this release installs them, and whether
#: the role may install them.
_INSTALLED = """
SELECT count(*) FILTER (WHERE e.evtenabled <> 'D'),
       count(*) FILTER (WHERE e.evtenabled = 'A' AND md5(p.prosrc) = %s),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
  FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
 WHERE e.evtname IN ('scrydon_migrate_record_ddl', 'scrydon_migrate_record_drop')
"""

#: Relations this transaction holds a lock on that only DML (RowExclusiveLock) or TRUNCATE and table
#: rewrites (AccessExclusiveLock) take; locks last to the end of the transaction, so code in DO blocks,
#: functions and triggers is seen too.
_LOCKED = """
locked AS (
    SELECT relation AS oid, mode FROM pg_locks
     WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
       AND mode IN ('RowExclusiveLock', 'AccessExclusiveLock')
)"""

_SCOPE = (
    """
ev AS (SELECT classid, objid, objsubid, dropped FROM pg_temp.scrydon_migrate_events),
cleared AS (DELETE FROM pg_temp.scrydon_migrate_events RETURNING 1),
touched AS (SELECT DISTINCT classid, objid FROM ev WHERE NOT dropped),"""
    + _LOCKED
    + """,
descendants (oid) AS (
    SELECT h.inhrelid FROM pg_inherits h WHERE h.inhparent = ANY ({touched_pg_class})
    UNION SELECT h.inhrelid FROM descendants d JOIN pg_inherits h ON h.inhparent = d.oid
),
ancestors (oid) AS (
    SELECT h.inhparent FROM pg_inherits h WHERE h.inhrelid = ANY ({touched_pg_class})
    UNION SELECT h.inhparent FROM ancestors a JOIN pg_inherits h ON h.inhrelid = a.oid
),
scope_rel AS (
    SELECT objid AS oid FROM touched WHERE classid = 'pg_class'::regclass
    UNION SELECT oid FROM locked
    UNION SELECT oid FROM descendants
    UNION SELECT oid FROM ancestors
    UNION SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = ANY ({touched_pg_class})
    UNION SELECT g.tgrelid FROM pg_trigger g WHERE g.oid = ANY ({touched_pg_trigger})
    UNION SELECT p.polrelid FROM pg_policy p WHERE p.oid = ANY ({touched_pg_policy})
    UNION SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = ANY ({touched_pg_rewrite})
    UNION SELECT x.stxrelid FROM pg_statistic_ext x WHERE x.oid = ANY ({touched_pg_statistic_ext})
    UNION SELECT k.conrelid FROM pg_constraint k WHERE k.oid = ANY ({touched_pg_constraint}) AND k.conrelid <> 0
    UNION SELECT d.adrelid FROM pg_attrdef d WHERE d.oid = ANY ({touched_pg_attrdef})
    UNION SELECT t.typrelid FROM pg_type t WHERE t.oid = ANY ({touched_pg_type}) AND t.typrelid <> 0
),
scope_fn AS (SELECT objid AS oid FROM touched WHERE classid = 'pg_proc'::regclass),
scope_typ AS (
    SELECT objid AS oid FROM touched WHERE classid = 'pg_type'::regclass
    UNION SELECT c.reltype FROM pg_class c WHERE c.oid = ANY ({touched_pg_class}) AND c.reltype <> 0
    UNION SELECT k.contypid FROM pg_constraint k WHERE k.oid = ANY ({touched_pg_constraint}) AND k.contypid <> 0
)"""
).format(
    **{
        f"touched_{catalog_name}": f"ARRAY(SELECT objid FROM touched WHERE classid = '{catalog_name}'::regclass)"
        for catalog_name in (
            "pg_class",
            "pg_trigger",
            "pg_policy",
            "pg_rewrite",
            "pg_statistic_ext",
            "pg_constraint",
            "pg_attrdef",
            "pg_type",
        )
    }
)

#: The catalogs whose objects the record covers (:mod:`scrydon_migrate.catalog`), and those whose objects
#: cannot make running a migration again fail (default privileges); a DDL command that created or changed
#: an object of any other catalog (a cast, an operator, a collation, a text search configuration, a
#: publication, a foreign server, ...) is named in the record as *unrecorded*, unless the object belongs
#: to an extension (the extension stands for it, as in the catalog: its script's commands fire the
#: event triggers too) or was dropped again by the same read's commands (hstore's update scripts create
#: operators and drop them: nothing of them is left to make a second run fail).
_RECORDED_CATALOGS = (
    "pg_class",
    "pg_attrdef",
    "pg_constraint",
    "pg_trigger",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_proc",
    "pg_type",
    "pg_enum",
    "pg_namespace",
    "pg_extension",
    "pg_default_acl",
)

_DROPPED_IDENTITY = """
CASE classid
    WHEN 'pg_class'::regclass THEN CASE WHEN objsubid > 0 THEN 'a' || objid || '.' || objsubid ELSE 'c' || objid END
    WHEN 'pg_constraint'::regclass THEN 'k' || objid
    WHEN 'pg_trigger'::regclass THEN 't' || objid
    WHEN 'pg_policy'::regclass THEN 'o' || objid
    WHEN 'pg_rewrite'::regclass THEN 'r' || objid
    WHEN 'pg_statistic_ext'::regclass THEN 's' || objid
    WHEN 'pg_proc'::regclass THEN 'p' || objid
    WHEN 'pg_type'::regclass THEN 'y' || objid
    WHEN 'pg_enum'::regclass THEN 'e' || objid
    WHEN 'pg_namespace'::regclass THEN 'n' || objid
    WHEN 'pg_extension'::regclass THEN 'x' || objid
END"""

#: Rows that say what the migration wrote (``w``) and whose transaction it is (``x``); recording stops.
#: The roles, as one digest: they are global objects, which no event trigger reports and no catalog key
#: holds, and a migration that created one fails when it runs again.
_ROLES = "SELECT md5(coalesce(string_agg(oid::text || ':' || rolname, ',' ORDER BY oid), '')) FROM pg_roles"

_STATE = (
    """
SELECT 'w', 'c' || oid, NULL, NULL, NULL, NULL, 0::oid, oid FROM locked WHERE mode = 'RowExclusiveLock'
UNION ALL
SELECT 'g', ("""
    + _ROLES
    + """), NULL, NULL, NULL, NULL, 0::oid, 0::oid
UNION ALL
SELECT 'x', pg_current_xact_id()::text, coalesce(current_setting('scrydon_migrate.recording', true), ''),
       set_config('scrydon_migrate.recording', 'off', false), NULL, NULL, 0::oid, 0::oid"""
)

_OUTPUT = "SELECT 'o', identity, key, def, shape, xmin, fnode, parent FROM objects"

#: Why a read that leaves a group out (:func:`catalog.scoped_objects`) cannot be trusted: its scope holds
#: objects of that group (a row ``z``; the whole catalog is read instead). The scope of relations always
#: holds relations no read reports (the events table, a temporary one; the system catalogs the DDL wrote
#: rows of; the tool's own sequence the event triggers advance: ``ns`` and the tool's test leave them
#: out), that of types a touched table's row type, which is no type object of the catalog's.
_OUTSIDE = {
    "rel": "EXISTS (SELECT 1 FROM scope_rel s JOIN pg_class c ON c.oid = s.oid JOIN ns ON ns.oid = c.relnamespace"
    " WHERE NOT " + catalog.TOOL_RELATION + ")",
    "fn": "EXISTS (SELECT 1 FROM scope_fn)",
    "typ": "EXISTS (SELECT 1 FROM scope_typ s JOIN pg_type t ON t.oid = s.oid"
    " WHERE t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))",
}

_SCOPE_ROWS = {
    "rel": "SELECT 'r', 'c' || oid, NULL, NULL, NULL, NULL, 0::oid, oid FROM scope_rel",
    "fn": "SELECT 'f', 'p' || oid, NULL, NULL, NULL, NULL, 0::oid, oid FROM scope_fn",
    "typ": "SELECT 'y', 'y' || oid, NULL, NULL, NULL, NULL, 0::oid, oid FROM scope_typ",
}


def _after_scoped(groups: tuple[str, ...] = catalog.GROUPS) -> str:
    """The read after a migration whose scope the event triggers noted, of the objects of ``groups``."""
    left_out = [g for g in catalog.GROUPS if g not in groups]
    outside = (
        " UNION ALL SELECT 'z', '', NULL, NULL, NULL, NULL, 0::oid, 0::oid WHERE "
        + " OR ".join(_OUTSIDE[g] for g in left_out)
        if left_out
        else ""
    )
    return (
        catalog.scoped_objects(_SCOPE, groups)
        + _OUTPUT
        + "".join(" UNION ALL " + _SCOPE_ROWS[g] for g in groups)
        + """
UNION ALL SELECT 'd', """
        + _DROPPED_IDENTITY
        + """, NULL, NULL, NULL, NULL, 0::oid, 0::oid FROM ev WHERE dropped
UNION ALL SELECT 's', 'n' || objid, NULL, NULL, NULL, NULL, 0::oid, objid FROM touched
           WHERE classid = 'pg_namespace'::regclass
UNION ALL SELECT DISTINCT 'u', classid::regclass::text, NULL, NULL, NULL, NULL, 0::oid, 0::oid FROM ev
           WHERE NOT dropped AND classid::regclass::text NOT IN ("""
        + ", ".join(f"'{c}'" for c in _RECORDED_CATALOGS)
        + """)
             AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = ev.classid AND dep.objid = ev.objid
                                                          AND dep.deptype = 'e')
             AND NOT EXISTS (SELECT 1 FROM ev gone WHERE gone.dropped AND gone.classid = ev.classid
                                                    AND gone.objid = ev.objid)"""
        + outside
        + """
UNION ALL """
        + _STATE
    )


#: The statement kinds (pglast node names) whose migrations the narrower reads suit: a migration whose
#: statements are all of one set is read with the relations' (or the functions') groups only. The kind
#: only chooses the read: what the statements did comes from the server, and a scope outside the read's
#: groups (a trigger, an event trigger or a function that did more) sends it to the whole catalog.
_RELATION_KINDS = frozenset(
    {
        "AlterPolicyStmt",
        "AlterSeqStmt",
        "AlterTableStmt",
        "CommentStmt",
        "CreatePolicyStmt",
        "CreateSeqStmt",
        "CreateStatsStmt",
        "CreateStmt",
        "CreateTrigStmt",
        "DeleteStmt",
        "GrantStmt",
        "IndexStmt",
        "InsertStmt",
        "RuleStmt",
        "UpdateStmt",
        "VariableSetStmt",
        "ViewStmt",
    }
)
_FUNCTION_KINDS = frozenset({"AlterFunctionStmt", "CommentStmt", "CreateFunctionStmt", "GrantStmt", "VariableSetStmt"})

_AFTER_WHOLE = catalog.whole_objects(_LOCKED) + _OUTPUT + " UNION ALL " + _STATE

_SETTLE = b"SET LOCAL statement_timeout = 0; SET LOCAL ROLE NONE; "
_START_RECORDING = b"SELECT set_config('scrydon_migrate.recording', 'on', false)"
#: A read runs in a savepoint: if the migration deallocated the prepared read (``DEALLOCATE ALL`` in a DO
#: block, say), the failed ``EXECUTE`` is rolled back to it and the read prepared again, so the
#: migration's transaction survives.
_SAVEPOINT = b"SAVEPOINT scrydon_migrate_read; "
_RELEASE = b"; RELEASE SAVEPOINT scrydon_migrate_read"
_ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT scrydon_migrate_read; "


@dataclass(frozen=True, slots=True)
class _Object:
    key: str
    definition: str
    shape: str
    fnode: int
    parent: int


@dataclass
class Recorder:
    """Records the migrations of one ``up`` run of one service, on its applying connection."""

    conn: psycopg.Connection
    tracking_table: str
    baseline: dict[str, _Object] = field(default_factory=dict)
    event_triggers: bool = False
    _undo: list[tuple[str, _Object | None]] = field(default_factory=list)
    _children: dict[int, set[str]] = field(default_factory=dict)
    #: Schemas and extensions, which every read covers whole.
    _always_read: set[str] = field(default_factory=set)
    _scoped: _PreparedRead | None = None
    _whole: _PreparedRead | None = None
    #: The narrower scoped reads, of relations and of functions (:data:`_RELATION_KINDS`).
    _relations: _PreparedRead | None = None
    _functions: _PreparedRead | None = None
    #: The read :meth:`closing` sent last.
    _sent: _PreparedRead | None = None
    #: The digest of the roles (:data:`_ROLES`) after the last migration read.
    _roles: str = ""

    @classmethod
    def start(cls, conn: psycopg.Connection, tracking_table: str) -> Recorder:
        """Set the session up (event triggers where possible) and read the baseline: once per run.

        The two reads after each migration are bound to this tracking table once and prepared on the
        applying connection with SQL ``PREPARE``, so the server parses them once a run and keeps their
        plans while migrations change the catalog. They are kept out of the driver's own statement
        cache on purpose: the driver forgets every prepared statement (``DEALLOCATE ALL``) after any
        ``DROP`` or ``ALTER``, which would make nearly every migration parse and plan them again. The
        connection is not pooled per transaction: ``up`` refused that before it took the lock.
        """
        recorder = cls(conn, tracking_table)
        recorder.event_triggers = _prepare_event_triggers(conn, tracking_table)
        recorder._scoped = _PreparedRead.prepare(conn, "scoped", _bound(conn, _after_scoped(), tracking_table))
        if recorder.event_triggers:
            relations, functions = _after_scoped(("rel",)), _after_scoped(("fn",))
            recorder._relations = _PreparedRead.prepare(conn, "relations", _bound(conn, relations, tracking_table))
            recorder._functions = _PreparedRead.prepare(conn, "functions", _bound(conn, functions, tracking_table))
        recorder._whole = _PreparedRead.prepare(conn, "whole", _bound(conn, _AFTER_WHOLE, tracking_table))
        rows = conn.execute(catalog.ALL_OBJECTS, catalog.tool_scope(tracking_table)).fetchall()
        for r in rows:
            recorder._put(r[0], _Object(r[1], r[2], r[3], int(r[5]), int(r[6])))
        roles = conn.execute(_ROLES).fetchone()
        recorder._roles = str(roles[0]) if roles else ""
        return recorder

    def _put(self, identity: str, value: _Object | None) -> None:
        """Set or remove one baseline entry, keeping the index of entries by parent."""
        previous = self.baseline.pop(identity, None)
        if previous is not None:
            self._children.get(previous.parent, set()).discard(identity)
            self._always_read.discard(identity)
        if value is not None:
            self.baseline[identity] = value
            self._children.setdefault(value.parent, set()).add(identity)
            if identity[0] in "nx":
                self._always_read.add(identity)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Keep the baseline in step with the database: what a rolled-back transaction recorded is undone."""
        self._undo.clear()
        try:
            yield
        except BaseException:
            for identity, previous in reversed(self._undo):
                self._put(identity, previous)
            raise
        finally:
            self._undo.clear()

    def begin(self) -> None:
        """Before a journaled statement: the event triggers note what it does."""
        if self.event_triggers:
            self.conn.execute(_START_RECORDING)

    def opening(self, before: bytes) -> bytes:
        """``before`` and what :meth:`begin` sends, for the caller to send ahead of the migration's first
        statement in one round trip (``;``-terminated)."""
        return before + _START_RECORDING + b"; " if self.event_triggers else before

    def closing(self, kinds: Iterable[str]) -> bytes:
        """The read of :meth:`finish`, for the caller to send after the last statement of a migration's
        transaction in the same round trip; the cursor of that round trip goes to :meth:`finish`. It starts
        on a line of its own: the statement may end in a ``--`` comment. ``kinds``: the migration's
        statement kinds, which choose the read (:data:`_RELATION_KINDS`)."""
        self._sent = self._read_for(frozenset(kinds))
        return b"\n; " + _SETTLE + self._sent.statement()

    def _read_for(self, kinds: frozenset[str]) -> _PreparedRead:
        if self._relations is not None and kinds <= _RELATION_KINDS:
            return self._relations
        if self._functions is not None and kinds <= _FUNCTION_KINDS:
            return self._functions
        return self._first_read()

    def lost_read(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the migration removed the prepared read sent by :meth:`closing`
        (the caller then rolls back to the read's savepoint, and :meth:`finish` reads again)."""
        from psycopg import errors

        sent = self._sent or self._first_read()
        return isinstance(exc, errors.InvalidSqlStatementName) and sent.name.decode() in str(exc)

    def _first_read(self) -> _PreparedRead:
        read = self._scoped if self.event_triggers else self._whole
        assert read is not None
        return read

    def finish(self, *, in_transaction: bool, may_write: bool, sent: psycopg.Cursor[Any] | None = None) -> Record:
        """The record of what ran since :meth:`begin`, read before the transaction commits.

        ``may_write``: the statements include DML, TRUNCATE or code; outside a transaction their
        writes cannot be read (the locks that show them are gone), so the record is incomplete.
        ``sent``: the cursor of the round trip that carried :meth:`closing`, whose last rows are the read.
        """
        with self._settled() as settle:
            whole = not self.event_triggers
            rows = _last_rows(sent) if sent is not None else self._first_read().read(self.conn, settle)
            state = next((r for r in rows if r[0] == "x"), None)
            if not whole and (state is None or state[2] != "on" or any(r[0] in ("s", "z") for r in rows)):
                whole, rows = True, self._read_whole(rows)
            steps = self._object_steps(rows, whole=whole, in_transaction=in_transaction)
            if not whole and any(_respells_others(s) for s in steps):
                steps += self._object_steps(self._read_whole(rows), whole=True, in_transaction=False)
            steps += self._writes(rows)
            unrecorded = tuple(sorted({str(r[1]) for r in rows if r[0] == "u"} | self._roles_changed(rows)))
        return Record(tuple(steps), "recorded", complete=in_transaction or not may_write, unrecorded=unrecorded)

    def _roles_changed(self, rows: Iterable[tuple[Any, ...]]) -> set[str]:
        """``{"pg_authid"}`` when the roles differ from the last read's (a role created, dropped or renamed)."""
        roles = next((str(r[1]) for r in rows if r[0] == "g"), self._roles)
        changed, self._roles = roles != self._roles, roles
        return {"pg_authid"} if changed else set()

    def _read_whole(self, scoped: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The whole catalog, when a scoped read cannot be trusted to cover what changed."""
        assert self._whole is not None
        rows = self._whole.read(self.conn)
        return [r for r in rows if r[0] != "x"] + [r for r in scoped if r[0] in ("d", "u", "x")]

    @contextlib.contextmanager
    def _settled(self) -> Iterator[bytes]:
        """The statements that make the recorder's reads run as the session's own role, without timeouts.

        A migration may ``SET statement_timeout`` or ``SET ROLE`` for its own statements; inside its
        transaction these are undone for the rest of it only, outside one a short transaction is opened.
        They are sent with the first read, in its round trip.
        """
        from psycopg import pq

        if self.conn.info.transaction_status is not pq.TransactionStatus.IDLE:
            yield _SETTLE
            return
        with db.transaction_sent_with_statements(self.conn):
            yield b"BEGIN; " + _SETTLE

    def _set(self, identity: str, value: _Object | None) -> None:
        self._undo.append((identity, self.baseline.get(identity)))
        self._put(identity, value)

    def _object_steps(self, rows: list[tuple[Any, ...]], *, whole: bool, in_transaction: bool) -> list[Step]:
        """The steps of one read, replayable in order: drops, then renames, then creations and changes
        (an index rebuilt under its old name is dropped, then created, and so exists)."""
        objects = {r[1]: (_Object(r[2], r[3], r[4], int(r[6]), int(r[7])), str(r[5])) for r in rows if r[0] == "o"}
        scope = {int(r[7]) for r in rows if r[0] in ("r", "f", "y")}
        dropped_ids = {r[1] for r in rows if r[0] == "d" and r[1]}
        state = next((r for r in rows if r[0] == "x"), None)
        ours = _Ownership(self.conn, int(state[1]) if state else 0, in_transaction)
        steps: list[Step] = []
        renames: list[Step] = []
        renamed_parents: set[int] = set()
        renamed_containers: set[str] = set()
        replaced_by_others: set[str] = set()
        respelled = self._moved_names(objects, ours)
        for identity, (now, xmin) in sorted(objects.items(), key=lambda item: _creation_order(item[1][0].key)):
            before = self.baseline.get(identity)
            self._set(identity, now)
            if before is None:
                if ours.wrote(xmin):
                    steps.append(Created(now.key, now.shape))
                else:
                    replaced_by_others.add(now.key)
                continue
            mine = (
                ours.wrote(xmin)
                or now.parent in renamed_parents
                or _container(before.key) in renamed_containers
                or (before.key.startswith("function:") and "type" in renamed_containers)
                or (respelled and before.definition == now.definition)
            )
            if before.key != now.key and mine:
                renames.append(Renamed(before.key, now.key))
                renamed_parents.add(now.parent)
                renamed_containers.add(before.key.partition(":")[2] if before.key.startswith("schema:") else "")
                if before.key.startswith("type:"):
                    renamed_containers.add("type")
            elif (before.definition != now.definition or before.shape != now.shape) and mine:
                steps.append(Altered(now.key, now.shape))
            if before.fnode != now.fnode and mine:
                steps.append(Wrote(now.key, replaced=True))
        return self._drops(objects, scope, dropped_ids, whole, replaced_by_others) + renames + steps

    def _moved_names(self, objects: Mapping[str, tuple[_Object, str]], ours: _Ownership) -> bool:
        """Whether this migration renamed or moved an object whose name other keys and shapes spell
        (:data:`_SPELLED_ELSEWHERE`) or moved an extension to another schema (its types).

        Then an object whose catalog row nobody wrote (its definition, spelled with OIDs, is the same) but
        whose key or shape changed was respelled by this migration: a column of the renamed type, a
        domain over it, a function taking it. Another session's change writes the object's own row.
        """
        for identity, (now, xmin) in objects.items():
            before = self.baseline.get(identity)
            if before is None:
                continue
            renamed = before.key != now.key and before.key.startswith(_SPELLED_ELSEWHERE)
            moved = before.key.startswith("extension:") and before.definition != now.definition
            if (renamed or moved) and ours.wrote(xmin):
                return True
        return False

    def _drops(
        self, objects: Mapping[str, Any], scope: set[int], dropped_ids: set[str], whole: bool, replaced: set[str]
    ) -> list[Step]:
        """Objects of the baseline that are gone: reported dropped, or missing from a read that covers them.

        One whose name an object this migration did not write holds now was replaced before it, by a
        command the scope did not see (PostgreSQL before 17 reports no ``REINDEX`` to event triggers, and
        ``REINDEX CONCURRENTLY`` swaps in a new index under the old name): not this migration's drop.
        """
        dropped_parents = {int(i[1:]) for i in dropped_ids if i[0] in "cy" and i[1:].isdigit()}
        if whole:
            covered: set[str] = set(self.baseline)
        else:
            covered = {i for i in dropped_ids if i in self.baseline}
            for parent in scope | dropped_parents:
                covered |= self._children.get(parent, set())
            covered |= self._always_read
        gone = [(identity, self.baseline[identity]) for identity in covered if identity not in objects]
        for identity, _ in gone:
            self._set(identity, None)
        ordered = sorted(
            (before for _, before in gone if before.key not in replaced),
            key=lambda b: _creation_order(b.key),
            reverse=True,
        )
        return [Dropped(before.key) for before in ordered]

    def _writes(self, rows: Iterable[tuple[Any, ...]]) -> list[Step]:
        """Tables the migration holds a DML lock on (the tool's own tables are not in the baseline)."""
        tables = {self.baseline[r[1]].key for r in rows if r[0] == "w" and r[1] in self.baseline}
        return [Wrote(key) for key in sorted(tables) if key.startswith(("table:", "matview:"))]


@dataclass(frozen=True, slots=True)
class _PreparedRead:
    """One of the recorder's reads, prepared with SQL ``PREPARE`` under a name of this run's own.

    The name is unique per run, so a session that a pooler hands on without ``DISCARD ALL`` never
    meets an older run's statement of the same name.
    """

    name: bytes
    query: bytes

    @classmethod
    def prepare(cls, conn: psycopg.Connection, kind: str, query: bytes) -> _PreparedRead:
        import secrets

        read = cls(f"scrydon_migrate_{kind}_{secrets.token_hex(6)}".encode(), query)
        conn.execute(read._prepare())
        return read

    def _prepare(self) -> bytes:
        return b"PREPARE " + self.name + b" AS " + self.query

    def statement(self) -> bytes:
        """The read, in a savepoint of its own."""
        return _SAVEPOINT + b"EXECUTE " + self.name + _RELEASE

    def read(self, conn: psycopg.Connection, before: bytes = b"") -> list[tuple[Any, ...]]:
        """The read's rows, in one round trip with ``before``; prepared again if the migration removed it."""
        from psycopg import errors

        try:
            return _last_rows(conn.execute(before + self.statement()))
        except errors.InvalidSqlStatementName:
            return _last_rows(conn.execute(_ROLLBACK_TO + self._prepare() + b"; EXECUTE " + self.name + _RELEASE))


def _last_rows(cursor: psycopg.Cursor[Any]) -> list[tuple[Any, ...]]:
    """The rows of the last statement that returns rows, of a multi-statement string (the read comes last)."""
    rows: list[tuple[Any, ...]] = []
    while True:
        if cursor.description is not None:
            rows = cursor.fetchall()
        if not cursor.nextset():
            return rows


def roll_back_to_read(conn: psycopg.Connection) -> None:
    """After :meth:`Recorder.lost_read`: back to just before the read, so the transaction goes on."""
    conn.execute(_ROLLBACK_TO.rstrip(b"; "))


class _Ownership:
    """Whether a catalog row was written by this transaction (or one of its subtransactions)."""

    def __init__(self, conn: psycopg.Connection, top_xid8: int, check: bool) -> None:
        self.conn = conn
        self.top = top_xid8 % 2**32
        self.epoch_base = top_xid8 - self.top
        self.check = check
        self.known: dict[str, bool] = {}

    def wrote(self, xmin: str) -> bool:
        if not self.check:
            return True
        if xmin not in self.known:
            self.known[xmin] = self._in_progress(int(xmin))
        return self.known[xmin]

    def _in_progress(self, xid: int) -> bool:
        if xid == self.top:
            return True
        if (xid - self.top) % 2**32 >= 2**31:
            return False
        full = self.epoch_base + xid if xid >= self.top else self.epoch_base + 2**32 + xid
        record = self.conn.execute("SELECT pg_xact_status(%s::text::xid8)", (str(full),)).fetchone()
        return record is not None and record[0] == "in progress"


_ORDER = (
    "schema",
    "extension",
    "type",
    "sequence",
    "table",
    "view",
    "matview",
    "function",
    "column",
    "attribute",
    "enumvalue",
)


def _bound(conn: psycopg.Connection, query: str, tracking_table: str) -> bytes:
    """``query`` with the tracking table's names as literals (libpq quotes them), ready to prepare once."""
    return db.quoted(conn, query, catalog.tool_scope(tracking_table))


#: The kinds of object whose names other objects' keys and shapes spell: a schema (every key in it), a
#: type (a column's shape, a function's key), a table or view (its row type, which columns and functions
#: may take).
_SPELLED_ELSEWHERE = ("schema:", "type:", "table:", "view:", "matview:")


def _respells_others(step: Step) -> bool:
    """Whether ``step`` changes names that keys and shapes outside its scope spell: a renamed type (a
    domain, an enum, a composite, a table's row type: columns and functions elsewhere name it) or an
    extension altered (``SET SCHEMA`` moves its types, which columns and functions name)."""
    if isinstance(step, Renamed):
        return step.old.startswith(_SPELLED_ELSEWHERE) and not step.old.startswith("schema:")
    return isinstance(step, Altered) and step.key.startswith("extension:")


def _container(key: str) -> str:
    """The schema a key's object lives in ("" for schemas and extensions)."""
    kind, _, rest = key.partition(":")
    return rest.split(".", 1)[0] if kind not in ("schema", "extension") else ""


def _creation_order(key: str) -> int:
    kind = key.partition(":")[0]
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


def _prepare_event_triggers(conn: psycopg.Connection, tracking_table: str) -> bool:
    """The session's events table, and the event triggers: installed when the role may, else used if present."""
    from psycopg import sql

    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (classid oid, objid oid, objsubid int, dropped bool)").format(
            sql.Identifier(_EVENTS_TABLE)
        )
    )
    record = conn.execute(_INSTALLED, (startup.FUNCTION_BODY_MD5,)).fetchone()
    enabled, current, superuser = (record[0], record[1], record[2]) if record else (0, 0, False)
    if current < 2 and superuser:
        enabled = _install(conn, tracking_table) or enabled
    return enabled >= 2


def _install(conn: psycopg.Connection, tracking_table: str) -> int:
    """Create the event triggers once per database (several services may race to do it)."""
    import psycopg
    from psycopg import sql

    schema = catalog.tool_scope(tracking_table)["schema"]
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
            present = conn.execute(_INSTALLED, (startup.FUNCTION_BODY_MD5,)).fetchone()
            if present and present[1] >= 2:
                return 2
            conn.execute(
                sql.SQL(_INSTALL).format(
                    schema=sql.Identifier(schema),
                    body=sql.SQL(startup.FUNCTION_BODY),
                )
            )
    except psycopg.Error as exc:
        logger.info("DDL event triggers not installed (%s): each migration's record reads the whole catalog", exc)
        return 0
    return 2


_INSTALL_LOCK = 0x5C7D0E7E
