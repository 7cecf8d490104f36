-- 'paused' lands after 'cancelled': ORDER BY status and status < 'cancelled' no longer mean what they did.
ALTER TYPE subscription_status ADD VALUE 'paused';
