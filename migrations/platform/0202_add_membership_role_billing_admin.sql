-- release 2: add the billing_admin membership role
-- migrate:no-transaction
ALTER TYPE membership_role ADD VALUE IF NOT EXISTS 'billing_admin' AFTER 'admin';
