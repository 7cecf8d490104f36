-- events.id is about to overflow: widening it rewrites the table and every index on it.
ALTER TABLE events ALTER COLUMN id TYPE bigint;
