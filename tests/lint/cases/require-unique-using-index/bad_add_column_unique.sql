-- xfail: an inline UNIQUE on ADD COLUMN builds the index under ACCESS EXCLUSIVE, but locks.py only looks at ADD CONSTRAINT
ALTER TABLE organisations ADD COLUMN slug text UNIQUE;
