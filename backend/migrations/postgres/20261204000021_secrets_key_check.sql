-- Which key seals this database's secrets: a known value sealed by the
-- first backend that met the database. A backend with another key file (a
-- second node set up without copying it, a restore without it) is refused
-- at start instead of failing to open every RD Station token and trunk
-- password later.
CREATE TABLE secrets_key_check (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    sealed  BYTEA NOT NULL
);
