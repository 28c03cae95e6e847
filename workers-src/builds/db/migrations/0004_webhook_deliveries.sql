-- Webhook deliveries already handled, so that a redelivery (GitHub's X-GitHub-Delivery, GitLab's
-- Idempotency-Key or X-Gitlab-Event-UUID) answers what the first delivery did and starts nothing.
-- `connections` is the sorted list of repository connections whose secret verified the delivery: GitLab
-- gives every webhook of one event the same X-Gitlab-Event-UUID, so two accounts' webhooks on one
-- repository must not be taken for a redelivery of each other. Rows older than the retention
-- (8 days, past GitHub's 3-day and GitHub Enterprise Server's 7-day redelivery windows) are deleted
-- by later deliveries.
CREATE TABLE webhook_deliveries (
  provider text NOT NULL CHECK (provider IN ('github', 'gitlab')),
  delivery_id text NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 200),
  connections text NOT NULL,
  body_sha256 text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  response_status integer,
  response json,
  PRIMARY KEY (provider, delivery_id, connections)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
