-- When the scheduler last admitted a build of the account: among builds of the same slot, the accounts
-- served least recently (or never) go first, so that accounts take turns whatever the age of their builds.
ALTER TABLE accounts ADD COLUMN last_admitted_at timestamptz;
