ALTER TYPE subscription_status ADD VALUE 'paused' BEFORE 'cancelled';
