-- release 2: per-object-type summary (property, link and binding counts) for the ontology explorer

CREATE VIEW object_type_summaries AS
SELECT ot.id,
       ot.workspace_id,
       ot.api_name,
       ot.display_name,
       ot.status,
       ot.deprecated_at,
       ot.revision,
       (SELECT count(*) FROM object_type_properties p WHERE p.object_type_id = ot.id) AS property_count,
       (SELECT count(*) FROM link_types l
         WHERE l.source_object_type_id = ot.id OR l.target_object_type_id = ot.id)   AS link_count,
       (SELECT count(*) FROM object_type_bindings b WHERE b.object_type_id = ot.id)  AS binding_count
FROM object_types ot;
