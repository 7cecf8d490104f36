DROP TYPE IF EXISTS legacy_invoice_status;
