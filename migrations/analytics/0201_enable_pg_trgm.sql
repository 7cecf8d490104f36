-- release 2: enable pg_trgm (trusted extension) for fuzzy catalogue search
CREATE EXTENSION IF NOT EXISTS pg_trgm;
