-- Audit and billing events, one row per authenticated data-plane request.
--
-- Partitioned by day so retention is DROP TABLE of old partitions. Postgres
-- requires a partitioned table's unique keys to include the partition key,
-- so the key is (time, request_id): an event's time is fixed when the
-- gateway records it, so re-shipping an event hits the same key and
-- ON CONFLICT DO NOTHING makes delivery exactly once.

-- +goose Up
CREATE TABLE audit_events (
    request_id        text        NOT NULL,
    time              timestamptz NOT NULL,
    node              text        NOT NULL,
    org_id            text        NOT NULL,
    key_id            text        NOT NULL,
    capability        text        NOT NULL,
    model             text        NOT NULL DEFAULT '',
    provider          text        NOT NULL DEFAULT '',
    upstream_model    text        NOT NULL DEFAULT '',
    stream            boolean     NOT NULL DEFAULT false,
    status            integer     NOT NULL,
    error_code        text        NOT NULL DEFAULT '',
    prompt_tokens     bigint      NOT NULL DEFAULT 0,
    completion_tokens bigint      NOT NULL DEFAULT 0,
    total_tokens      bigint      NOT NULL DEFAULT 0,
    cached_tokens     bigint      NOT NULL DEFAULT 0,
    images            bigint      NOT NULL DEFAULT 0,
    seconds           bigint      NOT NULL DEFAULT 0,
    pages             bigint      NOT NULL DEFAULT 0,
    characters        bigint      NOT NULL DEFAULT 0,
    usage_estimated   boolean     NOT NULL DEFAULT false,
    cost_micros       bigint      NOT NULL DEFAULT 0,
    currency          text        NOT NULL DEFAULT '',
    latency_ms        integer     NOT NULL DEFAULT 0,
    upstream_ms       integer     NOT NULL DEFAULT 0,
    ttfb_ms           integer     NOT NULL DEFAULT 0,
    attempts          jsonb       NOT NULL DEFAULT '[]',
    request_body      text,
    response_body     text,
    PRIMARY KEY (time, request_id)
) PARTITION BY RANGE (time);

CREATE INDEX audit_events_request_id ON audit_events (request_id);
CREATE INDEX audit_events_org_time ON audit_events (org_id, time DESC);
CREATE INDEX audit_events_key_time ON audit_events (key_id, time DESC);
CREATE INDEX audit_events_model_time ON audit_events (model, time DESC);

-- tensorgate_audit_partition creates the partition holding day (UTC) if it
-- does not exist yet. The sink calls it ahead of need.
-- +goose StatementBegin
CREATE FUNCTION tensorgate_audit_partition(day date) RETURNS void AS $$
DECLARE
    name text := 'audit_events_' || to_char(day, 'YYYYMMDD');
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
        name, day::timestamptz AT TIME ZONE 'UTC', (day + 1)::timestamptz AT TIME ZONE 'UTC');
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- Billing rollups per org, key, model, capability and day (UTC).
CREATE TABLE billing_daily (
    day               date   NOT NULL,
    org_id            text   NOT NULL,
    key_id            text   NOT NULL,
    model             text   NOT NULL,
    capability        text   NOT NULL,
    currency          text   NOT NULL,
    requests          bigint NOT NULL DEFAULT 0,
    errors            bigint NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    images            bigint NOT NULL DEFAULT 0,
    seconds           bigint NOT NULL DEFAULT 0,
    pages             bigint NOT NULL DEFAULT 0,
    characters        bigint NOT NULL DEFAULT 0,
    cost_micros       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, org_id, key_id, model, capability, currency)
);
CREATE INDEX billing_daily_org_day ON billing_daily (org_id, day);

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
