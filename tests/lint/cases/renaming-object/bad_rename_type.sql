ALTER TYPE invoice_status RENAME TO billing_status;
