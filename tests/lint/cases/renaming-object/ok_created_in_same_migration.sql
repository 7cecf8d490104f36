CREATE VIEW subscription_overview AS SELECT id, plan FROM subscriptions;

ALTER VIEW subscription_overview RENAME TO subscription_summary;
