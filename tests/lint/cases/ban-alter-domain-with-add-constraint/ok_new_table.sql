CREATE DOMAIN positive_amount AS numeric CHECK (VALUE > 0);
CREATE TABLE invoices (id bigint PRIMARY KEY, amount positive_amount);
