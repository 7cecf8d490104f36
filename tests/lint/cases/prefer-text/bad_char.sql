ALTER TABLE organisations ADD COLUMN country_code char(2) NULL;
