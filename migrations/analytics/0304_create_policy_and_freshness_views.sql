-- release 3: views of effective policies per table and of stale tables

CREATE VIEW effective_table_policies AS
SELECT a.table_id,
       b.id      AS bundle_id,
       b.name    AS bundle_name,
       v.version AS bundle_version,
       p.name    AS policy_name,
       p.effect,
       p.resource_selector,
       p.condition,
       p.mask_expression,
       p.priority
FROM policy_assignments a
JOIN policy_bundle_versions v ON v.id = a.bundle_version_id
JOIN policy_bundles b ON b.id = v.bundle_id
CROSS JOIN LATERAL jsonb_to_recordset(v.snapshot -> 'policies')
    AS p (name text, effect policy_effect, resource_selector jsonb, condition text, mask_expression text, priority integer)
LEFT JOIN policies live ON live.bundle_id = b.id AND live.name = p.name
WHERE a.unassigned_at IS NULL
  AND live.disabled_at IS NULL;

CREATE VIEW stale_managed_tables AS
SELECT t.id,
       t.workspace_id,
       t.qualified_name,
       t.last_modified_at,
       t.freshness_sla,
       now() - t.last_modified_at AS age
FROM managed_tables t
WHERE t.dropped_at IS NULL
  AND t.freshness_sla IS NOT NULL
  AND t.last_modified_at < now() - t.freshness_sla;

COMMENT ON VIEW effective_table_policies IS 'Policies enforced on each managed table: the pinned bundle version''s snapshot, minus policies disabled since publication.';
