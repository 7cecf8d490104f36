-- Plain VACUUM takes SHARE UPDATE EXCLUSIVE: reads and writes continue.
VACUUM (ANALYZE) audit_events;
