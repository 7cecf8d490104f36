-- PostgreSQL truncates this index name to 63 bytes: a later DROP INDEX of the full name finds nothing.
CREATE INDEX CONCURRENTLY workspace_memberships_workspace_id_user_id_role_created_at_idx_extra
    ON workspace_memberships (workspace_id, user_id, role, created_at);
