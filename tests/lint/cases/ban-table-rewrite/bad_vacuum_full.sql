-- Reclaim the space left by the audit purge.
VACUUM FULL audit_events;
