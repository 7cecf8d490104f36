-- release 3: daily model usage view and a per-organisation token usage function for quotas

CREATE VIEW model_usage_daily AS
SELECT date_trunc('day', r.created_at AT TIME ZONE 'UTC')::date AS usage_date,
       r.organisation_id,
       r.model_id,
       m.name                                  AS model_name,
       count(*)                                AS requests,
       count(*) FILTER (WHERE r.status <> 'ok') AS failed_requests,
       sum(r.input_tokens)                     AS input_tokens,
       sum(r.output_tokens)                    AS output_tokens,
       sum(r.cost_usd)                         AS cost_usd,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms) AS p95_latency_ms
FROM inference_requests r
JOIN models m ON m.id = r.model_id
GROUP BY 1, 2, 3, 4;

CREATE FUNCTION organisation_token_usage(p_organisation_id uuid, p_since timestamptz) RETURNS bigint
    LANGUAGE sql
    STABLE
AS $$
    SELECT coalesce(sum(coalesce(r.input_tokens, 0) + coalesce(r.output_tokens, 0)), 0)::bigint
    FROM inference_requests r
    WHERE r.organisation_id = p_organisation_id
      AND r.created_at >= p_since;
$$;
