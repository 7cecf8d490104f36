"""The catalog snapshot: every schema object the database has now, as PostgreSQL reports it.

Each object has an *identity* (its catalog row: ``c<oid>`` for a relation or index, ``a<rel>.<attnum>``
for a column or a composite type's attribute, ``k`` constraint, ``t`` trigger, ``o`` policy, ``r`` rule,
``s`` statistics object, ``p`` function, ``y`` type, ``e`` enum value, ``n`` schema, ``x`` extension), a
*key* (its name, spelled as the desync check compares it)::

    schema:s   table:s.t   view:s.v   matview:s.m   sequence:s.q   index:s.t.i
    column:s.t.c   constraint:s.t.c   trigger:s.t.g   policy:s.t.p   rule:s.t.r   statistics:s.x
    function:s.f(int4,s.mytype)   type:s.e   enumvalue:s.e.label   attribute:s.e.a   extension:e

a *definition* fingerprint (an md5 of the catalog fields that define it, spelled with OIDs and node
trees so that it does not change with the session's ``search_path``), a *shape* (a short fingerprint
of the facts an ALTER can change in place — a column's type and NOT NULL, a constraint's validation,
a function's body — spelled with names only, so that it survives a dump and restore: the desync
check compares it with what a recorded alteration left), the ``xmin`` of its catalog row (which
transaction wrote it last), and its *parent*: the relation of a column, index, constraint, trigger,
policy, rule or statistics object, the type of an enum value or of a composite type's attribute.
Identities survive renames, which is how a rename is told from a drop and a create; definitions tell
what was altered; ``xmin`` tells whose change it was.

System schemas, temporary schemas, objects that belong to an extension (the extension stands for
them) and the tool's own objects (the tracking table and its ``<tracking table>_*`` companions in
its schema, functions named ``scrydon_migrate_*`` there, and the ``<backfill>_backfill_fill`` trigger
and function a backfill installs while its column is adopted) are left out.

The same query reads the whole catalog (the desync check, the first snapshot of a run) or only the
*scope* of one migration: the relations, functions and types that the DDL event triggers of
:mod:`scrydon_migrate.record` saw it touch. The whole read costs a scan per catalog; a scoped one
a few index probes, whatever the size of the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

#: A whole read scans pg_depend once for the (few) extension members; a scoped one probes per object.
_EXTENSION_MEMBERS = "extension_members AS MATERIALIZED (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'), "
_NOT_IN_EXTENSION = "{oid} NOT IN (SELECT objid FROM extension_members WHERE classid = '{catalog}'::regclass)"
_NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '{catalog}'::regclass AND dep.objid = {oid}"
    " AND dep.deptype = 'e')"
)

#: The objects, each ``(identity, key, definition, xmin, relfilenode, parent)``. ``{rel_scope}``,
#: ``{fn_scope}`` and ``{typ_scope}`` are filled with ``true`` (everything) or a membership test.
_OBJECTS = r"""
tool AS (SELECT %(schema)s::text AS schema, %(table)s::text AS name),
ns AS (
    SELECT oid, nspname, xmin FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND nspname NOT LIKE 'pg\_temp\_%%' AND nspname NOT LIKE 'pg\_toast\_temp\_%%'
       AND {ns_member}
), rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname, c.xmin, c.relfilenode, c.relispartition,
           c.relpersistence::text || coalesce(c.reloptions::text, '') || coalesce(c.relpartbound::text, '')
           || c.relispartition::text AS def,
           c.relpersistence::text
           || coalesce(s.seqtypid::regtype::text || s.seqstart || s.seqincrement || s.seqmax || s.seqmin
                       || s.seqcycle::text, '') AS shape
      FROM pg_class c JOIN ns ON ns.oid = c.relnamespace LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {rel_scope} AND {rel_member} AND NOT {tool_relation}
), fn AS (
    SELECT p.oid, p.xmin, ns.nspname || '.' || p.proname || '(' || coalesce((
               SELECT string_agg(CASE WHEN tn.nspname = 'pg_catalog' THEN t.typname
                                      ELSE tn.nspname || '.' || t.typname END, ',' ORDER BY a.n)
                 FROM unnest(p.proargtypes) WITH ORDINALITY AS a(typ, n)
                 JOIN pg_type t ON t.oid = a.typ JOIN pg_namespace tn ON tn.oid = t.typnamespace), '') || ')' AS name,
           /*def*/md5(p.prosrc || coalesce(p.probin, '') || p.prorettype::text || p.provolatile::text || p.prokind::text
               || p.proretset::text || p.prosecdef::text || coalesce(p.proconfig::text, '')
               || coalesce(p.proargnames::text, '') || coalesce(p.proargdefaults::text, ''))/*end*/ AS def,
           md5(md5(p.prosrc) || p.provolatile::text || p.prokind::text || p.prosecdef::text || p.proretset::text
               || coalesce(p.proconfig::text, '') || coalesce((SELECT tn.nspname || '.' || ty.typname FROM pg_type ty
                 JOIN pg_namespace tn ON tn.oid = ty.typnamespace WHERE ty.oid = p.prorettype), '')) AS shape
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
     WHERE {fn_scope} AND {fn_member}
       AND NOT (ns.nspname = (SELECT schema FROM tool) AND starts_with(p.proname, 'scrydon_migrate_'))
       AND p.proname NOT LIKE '%%\_backfill\_fill'
), typ AS (
    SELECT t.oid, t.typname, ns.nspname, t.xmin, t.typrelid,
           t.typbasetype::text || t.typtypmod || t.typnotnull::text || coalesce(t.typdefaultbin::text, '') AS def,
           coalesce((SELECT tn.nspname || '.' || ty.typname FROM pg_type ty
                 JOIN pg_namespace tn ON tn.oid = ty.typnamespace WHERE ty.oid = t.typbasetype), '')
           || t.typtypmod || t.typnotnull::text AS shape
      FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
     WHERE (t.typtype IN ('e', 'd', 'r', 'm')
            OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
       AND {typ_scope} AND {typ_member}
), objects AS (
SELECT 'n' || oid AS identity, 'schema:' || nspname AS key, '' AS def, '' AS shape, xmin::text AS xmin,
       0::oid AS fnode,
       oid AS parent
  FROM ns
UNION ALL
SELECT 'c' || oid,
       CASE relkind WHEN 'v' THEN 'view:' WHEN 'm' THEN 'matview:' WHEN 'S' THEN 'sequence:' ELSE 'table:' END
       || nspname || '.' || relname,
       /*def*/md5(def || CASE WHEN relkind IN ('v', 'm') THEN coalesce((SELECT string_agg(r.ev_action::text, '')
                                                             FROM pg_rewrite r WHERE r.ev_class = rel.oid), '')
                       WHEN relkind = 'S' THEN coalesce((SELECT s.seqtypid::text || s.seqstart || s.seqincrement
                                                          || s.seqmax || s.seqmin || s.seqcycle::text
                                                         FROM pg_sequence s WHERE s.seqrelid = rel.oid), '')
                       ELSE '' END)/*end*/,
       left(md5(shape), 8), xmin::text, CASE WHEN relkind IN ('r', 'm') THEN relfilenode ELSE 0::oid END, oid
  FROM rel
UNION ALL
SELECT 'a' || a.attrelid || '.' || a.attnum, 'column:' || rel.nspname || '.' || rel.relname || '.' || a.attname,
       /*def*/md5(a.atttypid::text || '/' || a.atttypmod || a.attnotnull::text || a.attidentity::text
           || a.attgenerated::text || a.attcollation::text || coalesce(d.adbin::text, ''))/*end*/,
       left(md5(tn.nspname || '.' || ty.typname || '/' || a.atttypmod || a.attnotnull::text || a.attidentity::text
                || a.attgenerated::text || (d.adbin IS NOT NULL)::text), 8),
       CASE WHEN d.xmin IS NOT NULL AND d.xmin::text::bigint > a.xmin::text::bigint THEN d.xmin ELSE a.xmin END::text,
       0::oid, rel.oid
  FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
  JOIN pg_type ty ON ty.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = ty.typnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind IN ('r', 'p', 'f', 'v', 'm')
/*lean*/UNION ALL
SELECT 'a' || a.attrelid || '.' || a.attnum, 'column:' || rel.nspname || '.' || rel.relname || '.' || a.attname, '',
       left(md5(tn.nspname || '.' || ty.typname || '/' || a.atttypmod || a.attnotnull::text || a.attgenerated::text
                || (d.adbin IS NOT NULL)::text), 8), a.xmin::text, 0::oid, rel.oid
  FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
  JOIN pg_type ty ON ty.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = ty.typnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> '' AND rel.relispartition/*end lean*/
UNION ALL
SELECT 'c' || i.indexrelid, 'index:' || rel.nspname || '.' || rel.relname || '.' || ic.relname,
       /*def*/md5(i.indkey::text || i.indclass::text || i.indcollation::text || coalesce(i.indexprs::text, '')
           || coalesce(i.indpred::text, '') || i.indisunique::text || i.indisvalid::text || ic.relam::text)/*end*/,
       '', greatest(ic.xmin::text::bigint, i.xmin::text::bigint)::text, 0::oid, rel.oid
  FROM pg_index i JOIN rel ON rel.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'k' || k.oid, 'constraint:' || rel.nspname || '.' || rel.relname || '.' || k.conname,
       /*def*/md5(k.contype::text || k.condeferrable::text || k.condeferred::text || k.convalidated::text
           || coalesce(k.conkey::text, '') || coalesce(k.confkey::text, '') || k.confrelid::text
           || k.confupdtype::text || k.confdeltype::text || coalesce(k.conbin::text, '') || k.conindid::text)/*end*/,
       left(md5(k.contype::text || k.condeferrable::text || k.condeferred::text || k.convalidated::text), 8),
       k.xmin::text, 0::oid, rel.oid
  FROM pg_constraint k JOIN rel ON rel.oid = k.conrelid
UNION ALL
SELECT 'k' || k.oid, 'constraint:' || typ.nspname || '.' || typ.typname || '.' || k.conname,
       /*def*/md5(k.contype::text || k.convalidated::text || coalesce(k.conbin::text, ''))/*end*/,
       left(md5(k.contype::text || k.convalidated::text), 8), k.xmin::text, 0::oid, typ.oid
  FROM pg_constraint k JOIN typ ON typ.oid = k.contypid
UNION ALL
SELECT 't' || t.oid, 'trigger:' || rel.nspname || '.' || rel.relname || '.' || t.tgname,
       /*def*/md5(t.tgfoid::text || t.tgtype || t.tgenabled::text || t.tgattr::text || coalesce(t.tgqual::text, '')
           || t.tgdeferrable::text || t.tginitdeferred::text || encode(t.tgargs, 'hex'))/*end*/,
       left(md5(t.tgenabled::text), 8), t.xmin::text, 0::oid, rel.oid
  FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal AND t.tgname NOT LIKE '%%\_backfill\_fill'
UNION ALL
SELECT 'r' || r.oid, 'rule:' || rel.nspname || '.' || rel.relname || '.' || r.rulename,
       /*def*/md5(r.ev_type::text || r.ev_enabled::text || r.is_instead::text || coalesce(r.ev_qual::text, '')
           || coalesce(r.ev_action::text, ''))/*end*/,
       '', r.xmin::text, 0::oid, rel.oid
  FROM pg_rewrite r JOIN rel ON rel.oid = r.ev_class WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT 's' || x.oid, 'statistics:' || xn.nspname || '.' || x.stxname,
       /*def*/md5(x.stxkeys::text || x.stxkind::text || coalesce(x.stxexprs::text, ''))/*end*/,
       '', x.xmin::text, 0::oid, rel.oid
  FROM pg_statistic_ext x JOIN rel ON rel.oid = x.stxrelid JOIN pg_namespace xn ON xn.oid = x.stxnamespace
UNION ALL
SELECT 'o' || p.oid, 'policy:' || rel.nspname || '.' || rel.relname || '.' || p.polname,
       /*def*/md5(p.polcmd::text || p.polpermissive::text || p.polroles::text || coalesce(p.polqual::text, '')
           || coalesce(p.polwithcheck::text, ''))/*end*/,
       '', p.xmin::text, 0::oid, rel.oid
  FROM pg_policy p JOIN rel ON rel.oid = p.polrelid
UNION ALL
SELECT 'p' || oid, 'function:' || name, def, left(shape, 8), xmin::text, 0::oid, oid FROM fn
UNION ALL
SELECT 'y' || oid, 'type:' || nspname || '.' || typname, /*def*/md5(def)/*end*/, left(md5(shape), 8), xmin::text,
       0::oid, oid
  FROM typ
UNION ALL
SELECT 'a' || a.attrelid || '.' || a.attnum, 'attribute:' || typ.nspname || '.' || typ.typname || '.' || a.attname,
       /*def*/md5(a.atttypid::text || '/' || a.atttypmod || a.attcollation::text)/*end*/,
       left(md5(tn.nspname || '.' || ty.typname || '/' || a.atttypmod), 8), a.xmin::text, 0::oid, typ.oid
  FROM typ JOIN pg_attribute a ON a.attrelid = typ.typrelid
  JOIN pg_type ty ON ty.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = ty.typnamespace
 WHERE typ.typrelid <> 0 AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'e' || e.oid, 'enumvalue:' || typ.nspname || '.' || typ.typname || '.' || e.enumlabel, '', '',
       e.xmin::text, 0::oid, typ.oid
  FROM pg_enum e JOIN typ ON typ.oid = e.enumtypid
UNION ALL
SELECT 'x' || x.oid, 'extension:' || x.extname, /*def*/md5(x.extversion || x.extnamespace::text)/*end*/,
       '', x.xmin::text, 0::oid, x.oid
  FROM pg_extension x
)
"""


#: Whether the relation ``c`` in schema ``ns`` is one of the tool's own (the tracking table, its companions,
#: the catalog generation sequence), which no read reports.
TOOL_RELATION = (
    "(ns.nspname = (SELECT schema FROM tool) AND (c.relname = (SELECT name FROM tool)"
    " OR starts_with(c.relname, (SELECT name FROM tool) || '_') OR starts_with(c.relname, 'scrydon_migrate_')))"
)


def _objects(rel_scope: str = "true", fn_scope: str = "true", typ_scope: str = "true", *, lean: bool = False) -> str:
    """The CTEs; ``lean`` leaves the definitions out (the desync check needs keys and shapes only) and adds
    the second shape of a partition's identity column: PostgreSQL 17 made partitions inherit their
    parent's identity (``attidentity``), which 15 and 16 leave empty, so a history applied on 15 and
    restored on 18 holds the same column in the other state. The partition's identity is its parent's
    (it cannot be changed on the partition), so either state is the one its migration left."""
    text = _OBJECTS.replace("/*def*/", "CASE WHEN false THEN " if lean else "").replace(
        "/*end*/", " END" if lean else ""
    )
    if not lean:
        text = text[: text.index("/*lean*/")] + text[text.index("/*end lean*/") + len("/*end lean*/") :]
    whole = rel_scope == "true"
    member = _NOT_IN_EXTENSION if whole else _NOT_EXTENSION_MEMBER
    return (_EXTENSION_MEMBERS if whole else "") + text.format(
        rel_scope=rel_scope,
        fn_scope=fn_scope,
        typ_scope=typ_scope,
        ns_member=member.format(catalog="pg_namespace", oid="pg_namespace.oid"),
        rel_member=member.format(catalog="pg_class", oid="c.oid"),
        tool_relation=TOOL_RELATION,
        fn_member=member.format(catalog="pg_proc", oid="p.oid"),
        typ_member=member.format(catalog="pg_type", oid="t.oid"),
    )


#: Every key, and ``key#shape`` for each object with a shape (what a recorded alteration left).
#: Sent as the keys and, in the same order, their shapes joined by spaces: the shapes cost 9 bytes an
#: object instead of a second copy of every key.
_STATED = "coalesce(array_agg(key), '{{}}'), coalesce(string_agg(shape, ' '), '')"

#: The keys of every object with the digest of the tracking rows (``{digest}``), then the tracking
#: table's rows (``{columns}`` of ``{table}``, spelled by the caller), in one statement and so one
#: snapshot. The keys come as a row of their own, marked by NULL columns: joined onto every tracking
#: row, the array was copied once a row (seconds at 5,000 rows).
#: ``%(schema)s`` and ``%(table)s`` name the tracking table as it was resolved.
ROWS_AND_KEYS = (
    "WITH "
    + _objects(lean=True)
    + " SELECT "
    + _STATED
    + ", (SELECT {digest} FROM {table}), {nulls} FROM objects"
    + " UNION ALL SELECT NULL, NULL, NULL, {columns} FROM {table}"
)

#: Where the tables named like the tracking table are, ``(schema, on the search path)``, the first on the
#: search path first: the one query behind ``tracking.resolve`` and the start-up check's lookup.
#: ``{name}`` is the driver's placeholder for the name (psycopg's ``%(table)s``, libpq's ``$1``).
TRACKING_TABLES = """
SELECT n.nspname, array_position(current_schemas(false), n.nspname::text) IS NOT NULL
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = {name} AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'checksum')
 ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST, n.nspname
"""

#: Every object: ``(identity, key, definition, shape, xmin, relfilenode, parent)``.
ALL_OBJECTS = "WITH " + _objects() + "SELECT identity, key, def, shape, xmin, fnode, parent FROM objects"

#: Just the keys (and shapes, as in :data:`ROWS_AND_KEYS`), for the desync check: one array.
ALL_KEYS = "WITH " + _objects(lean=True) + "SELECT " + _STATED.replace("{{}}", "{}") + " FROM objects"


def whole_objects(extra_ctes: str) -> str:
    """:data:`ALL_OBJECTS`'s CTEs after ``extra_ctes``, for a caller's own final SELECT."""
    return "WITH " + extra_ctes + ", " + _objects()


#: The groups of objects a scoped read may cover: relations (with their columns, indexes, constraints,
#: triggers, rules, statistics objects and policies), functions, types (with their attributes, enum
#: values and domain constraints). Schemas and extensions are always read.
GROUPS = ("rel", "fn", "typ")


def scoped_objects(scope_ctes: str, groups: tuple[str, ...] = GROUPS) -> str:
    """The objects of the relations, functions and types named by ``scope_ctes`` (CTEs ``scope_rel``,
    ``scope_fn`` and ``scope_typ``, each one ``oid`` column, which may be recursive: a partition tree),
    as :data:`ALL_OBJECTS` spells them.

    A group left out of ``groups`` is read as empty, and its CTE is inlined (``NOT MATERIALIZED``) so
    that the planner drops every branch over it: a smaller plan, which costs less to start and end
    each time it runs (most of a scoped read's cost is its plan's size, not the objects it reads)."""
    text = _objects(
        rel_scope="c.oid = ANY (ARRAY(SELECT oid FROM scope_rel))" if "rel" in groups else "false",
        fn_scope="p.oid = ANY (ARRAY(SELECT oid FROM scope_fn))" if "fn" in groups else "false",
        typ_scope="t.oid = ANY (ARRAY(SELECT oid FROM scope_typ))" if "typ" in groups else "false",
    )
    for group in GROUPS:
        if group not in groups:
            text = text.replace(f"), {group} AS (", f"), {group} AS NOT MATERIALIZED (", 1)
    return "WITH RECURSIVE " + scope_ctes + ", " + text


def tool_scope(tracking_table: str) -> dict[str, str]:
    """The query parameters naming the tool's own objects: from the schema-qualified tracking table."""
    schema, _, table = tracking_table.rpartition(".")
    return {"schema": schema or "public", "table": table}


def stated(keys: list[str], shapes: str) -> set[str]:
    """Every key, and ``key#shape`` for each object with a shape (the state a recorded alteration left)."""
    present = set(keys)
    present.update(f"{k}#{s}" for k, s in zip(keys, shapes.split(" "), strict=False) if s)
    return present


def snapshot(conn: psycopg.Connection, tracking_table: str) -> set[str]:
    """The keys (and ``key#shape``) of every object in the database's non-system schemas."""
    record = conn.execute(ALL_KEYS, tool_scope(tracking_table)).fetchone()
    return stated(record[0], record[1]) if record else set()
