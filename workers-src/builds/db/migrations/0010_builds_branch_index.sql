-- A Worker's build history filtered by branch (GET /api/workers/:worker/builds?branch=), newest first,
-- without reading the Worker's other branches' builds.
CREATE INDEX builds_worker_branch_created ON builds (worker_id, branch, created_at DESC, build_uuid DESC);
