-- release 2: session activity and MFA step-up columns, API token descriptions, and the active_sessions view

ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NULL;
ALTER TABLE sessions ADD COLUMN mfa_verified_at timestamptz NULL;
ALTER TABLE api_tokens ADD COLUMN description text NULL;
ALTER TABLE mfa_factors ADD COLUMN last_used_at timestamptz NULL;

CREATE VIEW active_sessions AS
SELECT s.id,
       s.user_id,
       u.email,
       s.ip_address,
       s.user_agent,
       s.created_at,
       coalesce(s.last_seen_at, s.created_at) AS last_seen_at,
       s.mfa_verified_at IS NOT NULL AS mfa_verified,
       s.expires_at
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.revoked_at IS NULL
  AND s.expires_at > now();

COMMENT ON VIEW active_sessions IS 'Sessions that are neither revoked nor expired.';
