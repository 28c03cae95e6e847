-- A build's history outlives its trigger: deleting a trigger keeps its builds, whose trigger_id becomes
-- NULL. A trigger with queued or running builds is still refused by the API until they are cancelled.
ALTER TABLE builds ALTER COLUMN trigger_id DROP NOT NULL;
ALTER TABLE builds DROP CONSTRAINT builds_trigger_id_fkey;
ALTER TABLE builds ADD CONSTRAINT builds_trigger_id_fkey
  FOREIGN KEY (trigger_id) REFERENCES triggers (id) ON DELETE SET NULL;
