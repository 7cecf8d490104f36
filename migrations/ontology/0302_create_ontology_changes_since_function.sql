-- release 3: functions used by SDK caches to fetch schema changes since a known revision

CREATE FUNCTION ontology_changes_since(p_workspace_id uuid, p_revision bigint)
    RETURNS TABLE (entity_kind text, entity_id uuid, revision bigint)
    LANGUAGE sql
    STABLE
AS $$
    SELECT 'object_type', ot.id, ot.revision
    FROM object_types ot
    WHERE ot.workspace_id = p_workspace_id AND ot.revision > p_revision
    UNION ALL
    SELECT 'property', p.id, p.revision
    FROM object_type_properties p
    JOIN object_types ot ON ot.id = p.object_type_id
    WHERE ot.workspace_id = p_workspace_id AND p.revision > p_revision
    UNION ALL
    SELECT 'link_type', l.id, l.revision
    FROM link_types l
    WHERE l.workspace_id = p_workspace_id AND l.revision > p_revision
    ORDER BY 3;
$$;

CREATE FUNCTION ontology_branching.branch_is_mergeable(p_branch_id uuid) RETURNS boolean
    LANGUAGE plpgsql
    STABLE
AS $$
DECLARE
    v_branch ontology_branching.branches%ROWTYPE;
BEGIN
    SELECT * INTO v_branch FROM ontology_branching.branches WHERE id = p_branch_id;
    IF NOT FOUND OR v_branch.archived_at IS NOT NULL THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM ontology_branching.branch_changes c WHERE c.branch_id = p_branch_id
    );
END;
$$;
