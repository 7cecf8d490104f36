ALTER TABLE embeddings SET TABLESPACE fast_ssd;
