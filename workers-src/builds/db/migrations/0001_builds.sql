-- Accounts, Workers, triggers and builds of the builds platform.
CREATE TABLE accounts (
  id text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, name)
);

CREATE TABLE triggers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  worker_id uuid NOT NULL REFERENCES workers (id),
  repo_url text NOT NULL,
  production_branch text NOT NULL,
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE builds (
  build_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  trigger_id uuid NOT NULL REFERENCES triggers (id),
  branch text,
  commit_hash text,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'initializing', 'running', 'stopped')),
  build_outcome text
    CHECK (build_outcome IN ('success', 'failed', 'cancelled', 'skipped', 'terminated')),
  created_at timestamptz NOT NULL DEFAULT now(),
  initializing_at timestamptz,
  running_at timestamptz,
  stopped_at timestamptz
);

CREATE INDEX builds_trigger_created ON builds (trigger_id, created_at DESC);
