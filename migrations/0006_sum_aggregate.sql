-- tensorgate_sum adds bigints into a bigint. The built-in sum(bigint)
-- keeps a numeric state per group and answers numeric, which the usage
-- reports cast back; over ten thousand keys that bookkeeping, not the
-- reading, was most of a report's time. It fails on overflow, as the
-- cast did.

-- +goose Up
CREATE AGGREGATE tensorgate_sum(bigint) (
    SFUNC = int8pl, STYPE = bigint, INITCOND = '0', COMBINEFUNC = int8pl, PARALLEL = SAFE
);

-- +goose Down
-- Migrations are forward-only.
SELECT 1;
