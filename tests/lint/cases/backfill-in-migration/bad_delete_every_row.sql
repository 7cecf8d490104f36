-- Sessions are re-created on the next login.
DELETE FROM sessions;
