-- The scheduler admits by account (fewest builds held first, then age) and finds the accounts with queued
-- builds one index probe each, so that the cost of an admission round follows the number of accounts
-- waiting rather than the number of builds queued. A sharded scheduler takes the accounts whose hash falls
-- in its range. account_hash must not change: the Build Management Worker computes the same value (the
-- first four bytes of the MD5 of the id's UTF-8 bytes, as a signed integer) to wake an account's shard.
CREATE FUNCTION account_hash(account_id text) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT ('x' || left(md5(account_id), 8))::bit(32)::integer $$;

CREATE INDEX builds_queued_by_account ON builds (account_hash(account_id), account_id, created_at, build_uuid)
  WHERE status = 'queued';
CREATE INDEX builds_active_by_account ON builds (account_hash(account_id), account_id)
  WHERE status IN ('initializing', 'running');
