-- What a build deployed, as wrangler's output file told its runner: the production deploy's URL, or the
-- preview URL of a non-production version upload. NULL when the build deployed nothing (or wrangler told
-- no URL). Only http(s) URLs of at most 2048 characters are stored.
ALTER TABLE builds
  ADD COLUMN deployment_url text CHECK (deployment_url IS NULL OR (length(deployment_url) <= 2048 AND deployment_url ~ '^https?://')),
  ADD COLUMN preview_url text CHECK (preview_url IS NULL OR (length(preview_url) <= 2048 AND preview_url ~ '^https?://'));
