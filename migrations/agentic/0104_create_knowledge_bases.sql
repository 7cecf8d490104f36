-- release 1: knowledge bases, their source documents and the text chunks that get embedded

CREATE TABLE knowledge_bases (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL,
    name            text NOT NULL,
    description     text,
    embedding_model text NOT NULL,
    chunking        jsonb NOT NULL DEFAULT '{"strategy": "recursive", "size": 800, "overlap": 100}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT knowledge_bases_workspace_name_key UNIQUE (workspace_id, name)
);

CREATE TRIGGER knowledge_bases_set_updated_at
    BEFORE UPDATE ON knowledge_bases
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE knowledge_documents (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    source_uri        text NOT NULL,
    title             text,
    mime_type         text NOT NULL,
    content_sha256    text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    byte_size         bigint NOT NULL CHECK (byte_size >= 0),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'indexing', 'indexed', 'failed')),
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT knowledge_documents_kb_sha_key UNIQUE (knowledge_base_id, content_sha256)
);

CREATE INDEX knowledge_documents_metadata_idx ON knowledge_documents USING gin (metadata);

CREATE TRIGGER knowledge_documents_set_updated_at
    BEFORE UPDATE ON knowledge_documents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE knowledge_chunks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL CHECK (chunk_index >= 0),
    content     text NOT NULL,
    token_count integer NOT NULL CHECK (token_count > 0),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT knowledge_chunks_document_index_key UNIQUE (document_id, chunk_index)
);

COMMENT ON TABLE knowledge_chunks IS 'Chunk text only; vectors are stored by the cortex embeddings pipeline.';
