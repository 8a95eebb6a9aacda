-- Flags become INTEGER columns (0 or 1, as SQLite always stored them).
-- The backend reads SQLite and PostgreSQL through sqlx's `Any` driver,
-- which cannot read a column SQLite declares BOOLEAN. SQLite cannot change
-- a column's type, so each flag is copied into a new column that takes its
-- name; the two indexes holding `not_placed` are made again around it.
DROP INDEX calls_dashboard;
DROP INDEX calls_user_dashboard;

ALTER TABLE tenants ADD COLUMN allow_premium_int INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET allow_premium_int = allow_premium;
ALTER TABLE tenants DROP COLUMN allow_premium;
ALTER TABLE tenants RENAME COLUMN allow_premium_int TO allow_premium;

ALTER TABLE tenants ADD COLUMN allow_collect_int INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET allow_collect_int = allow_collect;
ALTER TABLE tenants DROP COLUMN allow_collect;
ALTER TABLE tenants RENAME COLUMN allow_collect_int TO allow_collect;

ALTER TABLE tenants ADD COLUMN allow_international_int INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET allow_international_int = allow_international;
ALTER TABLE tenants DROP COLUMN allow_international;
ALTER TABLE tenants RENAME COLUMN allow_international_int TO allow_international;

ALTER TABLE tenants ADD COLUMN allow_fixed_int INTEGER NOT NULL DEFAULT 1;
UPDATE tenants SET allow_fixed_int = allow_fixed;
ALTER TABLE tenants DROP COLUMN allow_fixed;
ALTER TABLE tenants RENAME COLUMN allow_fixed_int TO allow_fixed;

ALTER TABLE tenants ADD COLUMN allow_mobile_int INTEGER NOT NULL DEFAULT 1;
UPDATE tenants SET allow_mobile_int = allow_mobile;
ALTER TABLE tenants DROP COLUMN allow_mobile;
ALTER TABLE tenants RENAME COLUMN allow_mobile_int TO allow_mobile;

ALTER TABLE tenants ADD COLUMN allow_toll_free_int INTEGER NOT NULL DEFAULT 1;
UPDATE tenants SET allow_toll_free_int = allow_toll_free;
ALTER TABLE tenants DROP COLUMN allow_toll_free;
ALTER TABLE tenants RENAME COLUMN allow_toll_free_int TO allow_toll_free;

ALTER TABLE crm_deliveries ADD COLUMN maybe_sent_int INTEGER NOT NULL DEFAULT 0;
UPDATE crm_deliveries SET maybe_sent_int = maybe_sent;
ALTER TABLE crm_deliveries DROP COLUMN maybe_sent;
ALTER TABLE crm_deliveries RENAME COLUMN maybe_sent_int TO maybe_sent;

ALTER TABLE calls ADD COLUMN durations_estimated_int INTEGER NOT NULL DEFAULT 0;
UPDATE calls SET durations_estimated_int = durations_estimated;
ALTER TABLE calls DROP COLUMN durations_estimated;
ALTER TABLE calls RENAME COLUMN durations_estimated_int TO durations_estimated;

ALTER TABLE calls ADD COLUMN not_placed_int INTEGER NOT NULL DEFAULT 0;
UPDATE calls SET not_placed_int = not_placed;
ALTER TABLE calls DROP COLUMN not_placed;
ALTER TABLE calls RENAME COLUMN not_placed_int TO not_placed;

ALTER TABLE users ADD COLUMN admin_int INTEGER NOT NULL DEFAULT 0;
UPDATE users SET admin_int = admin;
ALTER TABLE users DROP COLUMN admin;
ALTER TABLE users RENAME COLUMN admin_int TO admin;

ALTER TABLE tenant_recording ADD COLUMN enabled_int INTEGER NOT NULL DEFAULT 0;
UPDATE tenant_recording SET enabled_int = enabled;
ALTER TABLE tenant_recording DROP COLUMN enabled;
ALTER TABLE tenant_recording RENAME COLUMN enabled_int TO enabled;

ALTER TABLE call_stats_state ADD COLUMN filled_int INTEGER NOT NULL DEFAULT 0;
UPDATE call_stats_state SET filled_int = filled;
ALTER TABLE call_stats_state DROP COLUMN filled;
ALTER TABLE call_stats_state RENAME COLUMN filled_int TO filled;

ALTER TABLE call_dispositions ADD COLUMN retired_int INTEGER NOT NULL DEFAULT 0;
UPDATE call_dispositions SET retired_int = retired;
ALTER TABLE call_dispositions DROP COLUMN retired;
ALTER TABLE call_dispositions RENAME COLUMN retired_int TO retired;

ALTER TABLE crm_followups ADD COLUMN maybe_sent_int INTEGER NOT NULL DEFAULT 0;
UPDATE crm_followups SET maybe_sent_int = maybe_sent;
ALTER TABLE crm_followups DROP COLUMN maybe_sent;
ALTER TABLE crm_followups RENAME COLUMN maybe_sent_int TO maybe_sent;

CREATE INDEX calls_dashboard ON calls (tenant, created_at, user_id, outcome, talk_seconds, not_placed);
CREATE INDEX calls_user_dashboard ON calls (user_id, created_at, outcome, talk_seconds, not_placed);
