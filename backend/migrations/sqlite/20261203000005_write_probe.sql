-- One row that /healthz rewrites to learn whether the database takes writes
-- (a full disk or a lock held by another process shows there, not only when
-- a click fails).
CREATE TABLE write_probe (
    id          INTEGER PRIMARY KEY,
    checked_at  BIGINT NOT NULL
);
INSERT INTO write_probe (id, checked_at) VALUES (1, 0);
