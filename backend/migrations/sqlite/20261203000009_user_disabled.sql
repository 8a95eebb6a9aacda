-- A disabled user (`disca-backend user disable`) keeps their calls and
-- notes, but their API token and manager sessions stop working, and their
-- browser phone's password is rotated (its registration dropped). NULL:
-- enabled; otherwise when, in milliseconds since the epoch.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
