-- Commit statuses: a repository connection may carry a token for its provider's API, with which each
-- build reports its state on its commit. The token is sealed like the webhook secret (AES-256-GCM with
-- the build variables key, bound to the connection) and never read back by the API. status_api_url is
-- the API's base URL (GitHub Enterprise, self-managed GitLab); NULL means the provider's public API.
ALTER TABLE repo_connections
  ADD COLUMN status_api_url text,
  ADD COLUMN status_token_sealed text;
