-- Calls an org made with its own upstream key instead of the system's are
-- marked on their audit events and counted apart in the billing rollups.

-- +goose Up
ALTER TABLE audit_events
    ADD COLUMN own_key boolean NOT NULL DEFAULT false;
ALTER TABLE billing_daily
    ADD COLUMN own_key_requests    bigint NOT NULL DEFAULT 0,
    ADD COLUMN own_key_cost_micros bigint NOT NULL DEFAULT 0;

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
