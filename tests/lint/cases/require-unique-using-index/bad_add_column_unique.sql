ALTER TABLE organisations ADD COLUMN slug text UNIQUE;
