-- The dashboard's rollups, kept as calls end (storage/call_stats.rs): a
-- team's period reads a few small rows per hour or per salesperson and
-- day instead of every call. Hours and days are on São Paulo's clock:
-- hours since 1970-01-01 00:00 there (local_hour), and days (local_day).
-- Only calls that ended and reached the PBX are counted, each once, in the
-- transaction that ends it.
CREATE TABLE call_stats_hourly (
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    local_hour BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    calls BIGINT NOT NULL,
    talk_seconds BIGINT NOT NULL,
    PRIMARY KEY (tenant, local_hour, outcome)
);

CREATE TABLE call_stats_daily (
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    local_day BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    calls BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    talk_seconds BIGINT NOT NULL,
    PRIMARY KEY (tenant, local_day, user_id)
);

-- Whether the rollups hold every call ended before they existed: filled
-- once, by the first backend that opens the database after this migration
-- (São Paulo's past offsets come from the time-zone database, in Rust).
CREATE TABLE call_stats_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    filled BOOLEAN NOT NULL
);
INSERT INTO call_stats_state (id, filled) VALUES (1, FALSE);

-- One salesperson's dashboard reads their calls: led by the salesperson,
-- covering what it counts. It starts like calls_user_created, which it
-- replaces.
CREATE INDEX calls_user_dashboard ON calls (user_id, created_at, outcome, talk_seconds, not_placed);
DROP INDEX calls_user_created;
