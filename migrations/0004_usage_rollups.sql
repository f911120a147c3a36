-- Hourly usage per org, model, capability and provider (no key): charts
-- and totals in any time zone with a whole-hour offset read it instead of
-- the events, so a month of an org's usage is a few thousand rows however
-- many requests it made.
--
-- Daily and monthly usage per key without model or capability
-- (billing_key_daily, billing_key_monthly) answer usage by key: one row
-- per key and active day or month. A key belongs to one org, so its org
-- is carried along.
--
-- Statement triggers keep both: every writer of audit_events, whatever
-- its version, adds exactly the rows it inserted (rows skipped by ON
-- CONFLICT are not in the transition table), in the same transaction.
-- Existing events are summed in once, under the triggers' lock.
--
-- Both rollups add up the requests' latencies, for mean latency over time.
--
-- Partial indexes serve the audit page's "errors only" searches without
-- reading every successful event.

-- +goose Up
CREATE TABLE billing_hourly (
    hour                timestamptz NOT NULL,
    org_id              text        NOT NULL,
    model               text        NOT NULL,
    capability          text        NOT NULL,
    provider            text        NOT NULL,
    currency            text        NOT NULL,
    requests            bigint      NOT NULL DEFAULT 0,
    errors              bigint      NOT NULL DEFAULT 0,
    prompt_tokens       bigint      NOT NULL DEFAULT 0,
    completion_tokens   bigint      NOT NULL DEFAULT 0,
    images              bigint      NOT NULL DEFAULT 0,
    seconds             bigint      NOT NULL DEFAULT 0,
    pages               bigint      NOT NULL DEFAULT 0,
    characters          bigint      NOT NULL DEFAULT 0,
    cost_micros         bigint      NOT NULL DEFAULT 0,
    own_key_requests    bigint      NOT NULL DEFAULT 0,
    own_key_cost_micros bigint      NOT NULL DEFAULT 0,
    latency_ms          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, org_id, model, capability, provider, currency)
);
CREATE INDEX billing_hourly_org_hour ON billing_hourly (org_id, hour);

-- +goose StatementBegin
CREATE FUNCTION tensorgate_billing_hourly() RETURNS trigger AS $$
BEGIN
    -- Sorted, so concurrent batches lock rollup rows in one order and
    -- never deadlock.
    INSERT INTO billing_hourly AS b (hour, org_id, model, capability, provider, currency, requests, errors,
        prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, own_key_requests, own_key_cost_micros,
        latency_ms)
    SELECT date_trunc('hour', time, 'UTC'), org_id, model, capability, provider, currency, count(*),
        count(*) FILTER (WHERE status >= 400), sum(prompt_tokens), sum(completion_tokens), sum(images), sum(seconds),
        sum(pages), sum(characters), sum(cost_micros), count(*) FILTER (WHERE own_key),
        coalesce(sum(cost_micros) FILTER (WHERE own_key), 0), sum(latency_ms)
    FROM new_events
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (hour, org_id, model, capability, provider, currency) DO UPDATE SET
        requests = b.requests + excluded.requests, errors = b.errors + excluded.errors,
        prompt_tokens = b.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = b.completion_tokens + excluded.completion_tokens,
        images = b.images + excluded.images, seconds = b.seconds + excluded.seconds, pages = b.pages + excluded.pages,
        characters = b.characters + excluded.characters, cost_micros = b.cost_micros + excluded.cost_micros,
        own_key_requests = b.own_key_requests + excluded.own_key_requests,
        own_key_cost_micros = b.own_key_cost_micros + excluded.own_key_cost_micros,
        latency_ms = b.latency_ms + excluded.latency_ms;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER audit_events_billing_hourly AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION tensorgate_billing_hourly();

INSERT INTO billing_hourly (hour, org_id, model, capability, provider, currency, requests, errors,
    prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, own_key_requests, own_key_cost_micros,
    latency_ms)
SELECT date_trunc('hour', time, 'UTC'), org_id, model, capability, provider, currency, count(*),
    count(*) FILTER (WHERE status >= 400), sum(prompt_tokens), sum(completion_tokens), sum(images), sum(seconds),
    sum(pages), sum(characters), sum(cost_micros), count(*) FILTER (WHERE own_key),
    coalesce(sum(cost_micros) FILTER (WHERE own_key), 0), sum(latency_ms)
FROM audit_events
GROUP BY 1, 2, 3, 4, 5, 6;

-- Daily usage per key (no model or capability): a month of usage by key
-- reads one row per key and active day, however many models it used.
CREATE TABLE billing_key_daily (
    day                 date   NOT NULL,
    key_id              text   NOT NULL,
    currency            text   NOT NULL,
    org_id              text   NOT NULL,
    requests            bigint NOT NULL DEFAULT 0,
    errors              bigint NOT NULL DEFAULT 0,
    prompt_tokens       bigint NOT NULL DEFAULT 0,
    completion_tokens   bigint NOT NULL DEFAULT 0,
    images              bigint NOT NULL DEFAULT 0,
    seconds             bigint NOT NULL DEFAULT 0,
    pages               bigint NOT NULL DEFAULT 0,
    characters          bigint NOT NULL DEFAULT 0,
    cost_micros         bigint NOT NULL DEFAULT 0,
    latency_ms          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key_id, currency)
);
CREATE INDEX billing_key_daily_org_day ON billing_key_daily (org_id, day);
CREATE INDEX billing_key_daily_key_day ON billing_key_daily (key_id, day);

-- The same per calendar month (UTC; month is its first day): a range of
-- whole months by key reads one row per key and month.
CREATE TABLE billing_key_monthly (LIKE billing_key_daily INCLUDING DEFAULTS);
ALTER TABLE billing_key_monthly RENAME COLUMN day TO month;
ALTER TABLE billing_key_monthly ADD PRIMARY KEY (month, key_id, currency);
CREATE INDEX billing_key_monthly_org_month ON billing_key_monthly (org_id, month);
CREATE INDEX billing_key_monthly_key_month ON billing_key_monthly (key_id, month);

-- +goose StatementBegin
CREATE FUNCTION tensorgate_billing_key_daily() RETURNS trigger AS $$
BEGIN
    -- The events summed per day once; the months from those sums.
    WITH d AS (
        SELECT (time AT TIME ZONE 'UTC')::date AS day, key_id, currency, min(org_id) AS org_id, count(*) AS requests,
            count(*) FILTER (WHERE status >= 400) AS errors, sum(prompt_tokens) AS prompt_tokens,
            sum(completion_tokens) AS completion_tokens, sum(images) AS images, sum(seconds) AS seconds,
            sum(pages) AS pages, sum(characters) AS characters, sum(cost_micros) AS cost_micros,
            sum(latency_ms) AS latency_ms
        FROM new_events GROUP BY 1, 2, 3
    ), daily AS (
        INSERT INTO billing_key_daily AS b (day, key_id, currency, org_id,
        requests, errors, prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, latency_ms)
        SELECT * FROM d ORDER BY 1, 2, 3
        ON CONFLICT (day, key_id, currency) DO UPDATE SET
            requests = b.requests + excluded.requests, errors = b.errors + excluded.errors,
            prompt_tokens = b.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = b.completion_tokens + excluded.completion_tokens,
            images = b.images + excluded.images, seconds = b.seconds + excluded.seconds, pages = b.pages + excluded.pages,
            characters = b.characters + excluded.characters, cost_micros = b.cost_micros + excluded.cost_micros,
            latency_ms = b.latency_ms + excluded.latency_ms
    )
    INSERT INTO billing_key_monthly AS m (month, key_id, currency, org_id,
        requests, errors, prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, latency_ms)
    SELECT date_trunc('month', day)::date, key_id, currency, min(org_id), sum(requests), sum(errors), sum(prompt_tokens),
        sum(completion_tokens), sum(images), sum(seconds), sum(pages), sum(characters), sum(cost_micros), sum(latency_ms)
    FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (month, key_id, currency) DO UPDATE SET
        requests = m.requests + excluded.requests, errors = m.errors + excluded.errors,
        prompt_tokens = m.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = m.completion_tokens + excluded.completion_tokens,
        images = m.images + excluded.images, seconds = m.seconds + excluded.seconds, pages = m.pages + excluded.pages,
        characters = m.characters + excluded.characters, cost_micros = m.cost_micros + excluded.cost_micros,
        latency_ms = m.latency_ms + excluded.latency_ms;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER audit_events_billing_key_daily AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION tensorgate_billing_key_daily();

INSERT INTO billing_key_daily (day, key_id, currency, org_id, requests, errors, prompt_tokens, completion_tokens,
    images, seconds, pages, characters, cost_micros, latency_ms)
SELECT (time AT TIME ZONE 'UTC')::date, key_id, currency, min(org_id), count(*), count(*) FILTER (WHERE status >= 400),
    sum(prompt_tokens), sum(completion_tokens), sum(images), sum(seconds), sum(pages), sum(characters),
    sum(cost_micros), sum(latency_ms)
FROM audit_events
GROUP BY 1, 2, 3;

INSERT INTO billing_key_monthly (month, key_id, currency, org_id,
        requests, errors, prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, latency_ms)
SELECT date_trunc('month', day)::date, key_id, currency, min(org_id), sum(requests), sum(errors), sum(prompt_tokens),
    sum(completion_tokens), sum(images), sum(seconds), sum(pages), sum(characters), sum(cost_micros), sum(latency_ms)
FROM billing_key_daily
GROUP BY 1, 2, 3;

-- The daily rollups learn latencies too (the sink adds them; a node of an
-- older version during a rolling upgrade leaves them out of its rows).
ALTER TABLE billing_daily ADD COLUMN latency_ms bigint NOT NULL DEFAULT 0;
UPDATE billing_daily AS b SET latency_ms = e.latency_ms
FROM (SELECT (time AT TIME ZONE 'UTC')::date AS day, org_id, key_id, model, capability, currency, sum(latency_ms) AS latency_ms
      FROM audit_events GROUP BY 1, 2, 3, 4, 5, 6) AS e
WHERE b.day = e.day AND b.org_id = e.org_id AND b.key_id = e.key_id AND b.model = e.model AND b.capability = e.capability
    AND b.currency = e.currency;

CREATE INDEX audit_events_errors_time ON audit_events (time DESC) WHERE status >= 400;
CREATE INDEX audit_events_errors_org_time ON audit_events (org_id, time DESC) WHERE status >= 400;
CREATE INDEX audit_events_errors_key_time ON audit_events (key_id, time DESC) WHERE status >= 400;
CREATE INDEX audit_events_errors_model_time ON audit_events (model, time DESC) WHERE status >= 400;

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
