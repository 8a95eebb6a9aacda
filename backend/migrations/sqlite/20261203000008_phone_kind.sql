-- What rings when a salesperson clicks: their browser phone (the extension's
-- softphone, whose endpoint the backend writes into the PJSIP realtime
-- directory) or a desk phone configured on the PBX. Users from before this
-- migration had desk phones (browser phones did not exist); new users get a
-- browser phone unless told otherwise.
ALTER TABLE users ADD COLUMN phone_kind TEXT NOT NULL DEFAULT 'desk'
    CHECK (phone_kind IN ('browser', 'desk'));
