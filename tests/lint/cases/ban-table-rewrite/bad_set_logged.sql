-- The table was bulk-loaded UNLOGGED; make it crash-safe now.
ALTER TABLE embedding_chunks SET LOGGED;
