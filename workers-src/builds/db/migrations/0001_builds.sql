-- The builds platform: accounts, Workers, repository connections, triggers and their variables, builds,
-- deploy hooks and the counters that rate limit them. Every row a user reaches carries its account_id,
-- so that each query the API makes is scoped to the token's account by an indexed column.

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

-- One per account and repository; its webhook secret is sealed with the build variables key.
CREATE TABLE repo_connections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  provider text NOT NULL CHECK (provider IN ('github', 'gitlab')),
  repo_url text NOT NULL,
  -- The URL as pushes name it (lowercased host, no credentials, no .git): what webhooks match on.
  repo_key text NOT NULL,
  webhook_secret_sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, repo_key)
);
CREATE INDEX repo_connections_repo_key ON repo_connections (repo_key);

CREATE TABLE triggers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  worker_id uuid NOT NULL REFERENCES workers (id),
  repo_connection_id uuid NOT NULL REFERENCES repo_connections (id),
  production_branch text NOT NULL,
  build_non_production_branches boolean NOT NULL DEFAULT false,
  build_command text,
  deploy_command text NOT NULL DEFAULT 'npx wrangler deploy',
  non_production_deploy_command text NOT NULL DEFAULT 'npx wrangler versions upload',
  root_directory text NOT NULL DEFAULT '',
  path_includes text[] NOT NULL DEFAULT '{*}',
  path_excludes text[] NOT NULL DEFAULT '{}',
  build_caching_enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX triggers_worker ON triggers (worker_id);
CREATE INDEX triggers_repo_connection ON triggers (repo_connection_id);

-- Text variables are stored as given; secrets only sealed (AES-256-GCM, bound to trigger and name).
CREATE TABLE build_variables (
  trigger_id uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('text', 'secret')),
  value text,
  sealed_value text,
  PRIMARY KEY (trigger_id, name),
  CHECK (
    (type = 'text' AND value IS NOT NULL AND sealed_value IS NULL)
    OR (type = 'secret' AND value IS NULL AND sealed_value IS NOT NULL)
  )
);

CREATE TABLE builds (
  build_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  worker_id uuid NOT NULL REFERENCES workers (id),
  trigger_id uuid NOT NULL REFERENCES triggers (id),
  source text NOT NULL CHECK (source IN ('webhook', 'api', 'deploy_hook')),
  branch text NOT NULL,
  commit_hash text,
  commit_message text,
  production boolean NOT NULL,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'initializing', 'running', 'stopped')),
  build_outcome text
    CHECK (build_outcome IN ('success', 'failed', 'cancelled', 'skipped', 'terminated')),
  failure_class text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  initializing_at timestamptz,
  running_at timestamptz,
  stopped_at timestamptz,
  CHECK ((status = 'stopped') = (build_outcome IS NOT NULL))
);
-- GET /api/workers/:worker/builds pages newest first.
CREATE INDEX builds_worker_created ON builds (worker_id, created_at DESC, build_uuid DESC);
-- The scheduler takes the oldest queued builds.
CREATE INDEX builds_queued ON builds (created_at) WHERE status = 'queued';
-- A push supersedes the queued builds of its trigger and branch.
CREATE INDEX builds_trigger_branch_queued ON builds (trigger_id, branch) WHERE status = 'queued';
-- Builds holding a slot, counted per account.
CREATE INDEX builds_active ON builds (account_id) WHERE status IN ('initializing', 'running');

-- A deploy hook's URL carries a secret; only its SHA-256 is stored.
CREATE TABLE deploy_hooks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  trigger_id uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
  name text NOT NULL,
  branch text NOT NULL,
  secret_sha256 text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deploy_hooks_trigger ON deploy_hooks (trigger_id);

-- Fixed-window counters (deploy hooks: per Worker and per account).
CREATE TABLE rate_limits (
  key text NOT NULL,
  window_start timestamptz NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (key, window_start)
);
