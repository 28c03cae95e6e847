-- Long-lived API tokens an account creates and revokes through the API (`POST/GET /api/tokens`, `DELETE
-- /api/tokens/:id`), sent as `Authorization: Bearer wpb_...`. Only the SHA-256 of the token is stored: the
-- token itself is shown once, in the answer that created it. A request looks its token up by that hash
-- (unique, so indexed). `read` tokens may only read (GET); `write` tokens may also change. A revoked token
-- keeps its row (revoked_at set) and is refused from then on; its name is free again for a new token.
-- last_used_at is written at most once a minute per token, not on every request.
CREATE TABLE api_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id text NOT NULL REFERENCES accounts (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  scope text NOT NULL CHECK (scope IN ('read', 'write')),
  token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
-- Names are unique among an account's live tokens; this also serves the account's list of them.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (account_id, name) WHERE revoked_at IS NULL;
