-- The previous release's reporting queries still read this view while the new pods roll out.
DROP VIEW active_subscriptions;
