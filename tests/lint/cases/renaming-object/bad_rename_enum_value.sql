-- Pods of the previous release still write 'canceled'; after this they fail with "invalid input value".
ALTER TYPE subscription_status RENAME VALUE 'canceled' TO 'cancelled';
