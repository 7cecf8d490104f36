-- release 3: per-workflow run statistics for the workflow dashboard

CREATE FUNCTION workflow_run_stats(p_workflow_id uuid, p_since timestamptz)
    RETURNS TABLE (status workflow_run_status, runs bigint, avg_duration interval)
    LANGUAGE sql
    STABLE
AS $$
    SELECT r.status,
           count(*),
           avg(r.finished_at - r.started_at)
    FROM workflow_runs r
    WHERE r.workflow_id = p_workflow_id
      AND r.queued_at >= p_since
    GROUP BY r.status
    ORDER BY r.status;
$$;

COMMENT ON FUNCTION workflow_run_stats(uuid, timestamptz) IS 'Run counts and mean duration by status for one workflow since a point in time.';
