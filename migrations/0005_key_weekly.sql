-- Per-key usage by week of the month (billing_key_weekly): the days from
-- the 1st, 8th, 15th, 22nd and 29th, so weeks nest in months. A range of
-- whole days by key then reads a few rows per key however the range falls
-- in the calendar: whole months, whole weeks, and at most a few single
-- days (or a week or month less a few days), where the daily and monthly
-- rollups alone read up to half a month of daily rows.
--
-- The key rollups' trigger adds to it from the same per-day sums. Inserts
-- wait while the trigger changes and the existing days are summed in, so
-- each event is counted once.

-- +goose Up
LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE billing_key_weekly (LIKE billing_key_daily INCLUDING DEFAULTS);
ALTER TABLE billing_key_weekly RENAME COLUMN day TO week;
ALTER TABLE billing_key_weekly ADD PRIMARY KEY (week, key_id, currency);
CREATE INDEX billing_key_weekly_org_week ON billing_key_weekly (org_id, week);
CREATE INDEX billing_key_weekly_key_week ON billing_key_weekly (key_id, week);

-- +goose StatementBegin
-- The first day of the week of the month that day is in.
CREATE FUNCTION tensorgate_week_of_month(day date) RETURNS date AS $$
    SELECT date_trunc('month', day)::date + (extract(day FROM day)::int - 1) / 7 * 7
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tensorgate_billing_key_daily() RETURNS trigger AS $$
BEGIN
    -- The events summed per day once; the weeks and months from those sums.
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
    ), weekly AS (
        INSERT INTO billing_key_weekly AS w (week, key_id, currency, org_id,
            requests, errors, prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, latency_ms)
        SELECT tensorgate_week_of_month(day), key_id, currency, min(org_id), sum(requests), sum(errors), sum(prompt_tokens),
            sum(completion_tokens), sum(images), sum(seconds), sum(pages), sum(characters), sum(cost_micros), sum(latency_ms)
        FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (week, key_id, currency) DO UPDATE SET
            requests = w.requests + excluded.requests, errors = w.errors + excluded.errors,
            prompt_tokens = w.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = w.completion_tokens + excluded.completion_tokens,
            images = w.images + excluded.images, seconds = w.seconds + excluded.seconds, pages = w.pages + excluded.pages,
            characters = w.characters + excluded.characters, cost_micros = w.cost_micros + excluded.cost_micros,
            latency_ms = w.latency_ms + excluded.latency_ms
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

INSERT INTO billing_key_weekly (week, key_id, currency, org_id,
        requests, errors, prompt_tokens, completion_tokens, images, seconds, pages, characters, cost_micros, latency_ms)
SELECT tensorgate_week_of_month(day), key_id, currency, min(org_id), sum(requests), sum(errors), sum(prompt_tokens),
    sum(completion_tokens), sum(images), sum(seconds), sum(pages), sum(characters), sum(cost_micros), sum(latency_ms)
FROM billing_key_daily
GROUP BY 1, 2, 3;

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
