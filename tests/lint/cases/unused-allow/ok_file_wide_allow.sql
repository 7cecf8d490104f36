-- migrate:allow constraint-missing-not-valid reason="object_types is ontology metadata (hundreds of rows): the scans take milliseconds"

ALTER TABLE object_types ADD CONSTRAINT object_types_status_known CHECK (status IN ('draft', 'active', 'retired'));

ALTER TABLE object_types ADD CONSTRAINT object_types_retired_at_set CHECK (status <> 'retired' OR retired_at IS NOT NULL);
