ALTER TYPE membership_role ADD VALUE 'billing_admin';

ALTER TABLE invitations ALTER COLUMN role SET DEFAULT 'billing_admin';
