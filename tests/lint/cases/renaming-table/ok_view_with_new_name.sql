-- The new name first, as a view over the old table; the code moves over releases, the old name goes last.
CREATE VIEW accounts AS SELECT * FROM users;
