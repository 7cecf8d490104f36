-- release 3: data fix: fail jobs left 'running' without a start time by the release 1 worker crash bug
UPDATE embedding_jobs
SET status = 'failed',
    error = 'marked failed by migration 0304: job was running without started_at (worker crash before release 3)',
    finished_at = coalesce(finished_at, updated_at)
WHERE status = 'running'
  AND started_at IS NULL;
