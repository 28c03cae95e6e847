-- What a deleted Worker leaves outside PostgreSQL: each build's BuildBuddy (its state and log) and the
-- Worker's build cache in R2. The rows are written in the transaction that deletes the Worker and leave
-- once the Build Management Worker has deleted what they name; its scheduler retries the ones that fail.
CREATE TABLE pending_purges (
  kind text NOT NULL CHECK (kind IN ('build', 'cache')),
  target uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  PRIMARY KEY (kind, target)
);
CREATE INDEX pending_purges_created ON pending_purges (created_at);

-- Deleting a trigger sets its builds' trigger_id to NULL and first counts its active builds: both look
-- builds up by trigger.
CREATE INDEX builds_trigger ON builds (trigger_id);
