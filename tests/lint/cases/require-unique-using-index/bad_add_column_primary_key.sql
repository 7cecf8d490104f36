-- xfail: an inline PRIMARY KEY on ADD COLUMN builds the index under ACCESS EXCLUSIVE, but locks.py only looks at ADD CONSTRAINT
ALTER TABLE legacy_sessions ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
