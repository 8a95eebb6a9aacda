-- A call whose end was not seen as it happened (the backend, the PBX or the
-- link to it was down) is ended from the last sign of life the backend had
-- of it, and its durations are marked as estimated.
ALTER TABLE calls ADD COLUMN durations_estimated BOOLEAN NOT NULL DEFAULT FALSE;
-- The last moment the call was known to be alive at the PBX (an AMI event,
-- or its channel in a CoreShowChannels listing), in ms since the epoch.
ALTER TABLE calls ADD COLUMN last_seen_at BIGINT;
-- The call never reached the PBX (its Originate was refused, not sent, or
-- lost with the link and no channel of it was found): no CRM note.
ALTER TABLE calls ADD COLUMN not_placed BOOLEAN NOT NULL DEFAULT FALSE;
