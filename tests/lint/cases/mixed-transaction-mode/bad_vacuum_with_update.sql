DELETE FROM audit_events WHERE created_at < now() - interval '2 years';

VACUUM (ANALYZE) audit_events;
