-- Dropped and created again in one transaction: readers never see it missing.
DROP VIEW active_subscriptions;

CREATE VIEW active_subscriptions AS
SELECT id, workspace_id, plan, renews_at FROM subscriptions WHERE cancelled_at IS NULL;
