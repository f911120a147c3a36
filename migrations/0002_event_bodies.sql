-- Sizes of the stored bodies before capping, and whether they were cut or
-- dropped (an outbox that was full stores events without bodies).

-- +goose Up
ALTER TABLE audit_events
    ADD COLUMN request_bytes      bigint  NOT NULL DEFAULT 0,
    ADD COLUMN response_bytes     bigint  NOT NULL DEFAULT 0,
    ADD COLUMN request_truncated  boolean NOT NULL DEFAULT false,
    ADD COLUMN response_truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN bodies_dropped     boolean NOT NULL DEFAULT false;

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
