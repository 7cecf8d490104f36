-- release 3: record who created each link type; existing link types get NULL (unknown)
ALTER TABLE link_types ADD COLUMN created_by uuid NULL;
