-- The new name is added beside the old one; the old view is dropped in a later release.
CREATE VIEW current_subscriptions AS SELECT * FROM active_subscriptions;
