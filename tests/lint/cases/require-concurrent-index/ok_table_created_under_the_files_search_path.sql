CREATE SCHEMA IF NOT EXISTS billing;
SET search_path = billing, public;

CREATE TABLE invoices (
    id         bigint PRIMARY KEY,
    account_id bigint NOT NULL
);

-- Created above, in billing (the file's search_path): indexing an empty table blocks nobody.
CREATE INDEX invoices_account_id_idx ON billing.invoices (account_id);
