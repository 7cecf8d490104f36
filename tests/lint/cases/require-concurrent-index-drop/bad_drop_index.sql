-- ACCESS EXCLUSIVE on workflow_runs while it waits for and holds the lock.
DROP INDEX workflow_runs_status_old_idx;
