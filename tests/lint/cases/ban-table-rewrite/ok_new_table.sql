CREATE UNLOGGED TABLE embedding_chunks_staging (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk     text NOT NULL,
    embedding real[] NOT NULL
);

-- Created above and still empty: switching it to LOGGED writes nothing.
ALTER TABLE embedding_chunks_staging SET LOGGED;
