CREATE SCHEMA IF NOT EXISTS billing;
SET search_path = billing, public;

CREATE TABLE invoices (
    id         bigint PRIMARY KEY,
    account_id bigint NOT NULL
);

-- public.invoices is another, existing table: its index build locks out writers.
CREATE INDEX invoices_account_id_idx ON public.invoices (account_id);
