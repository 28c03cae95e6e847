/**
 * The admission statement as the scheduler ran it before migration 0005 (oldest first, every queued build
 * ranked per account by a window on each tick), kept for comparison: the admission tests show where the
 * current policy differs from it, and `bench:scheduler` measures it as a baseline. `$1` per account, `$2`
 * global.
 */
export const SEED_ADMIT_SQL = `
WITH active AS (
  SELECT account_id, count(*) AS n FROM builds WHERE status IN ('initializing', 'running') GROUP BY account_id
), ranked AS (
  SELECT b.build_uuid, b.created_at,
         row_number() OVER (PARTITION BY b.account_id ORDER BY b.created_at, b.build_uuid) + coalesce(a.n, 0) AS slot
    FROM builds b LEFT JOIN active a USING (account_id)
   WHERE b.status = 'queued'
), eligible AS (
  SELECT build_uuid FROM ranked WHERE slot <= $1
   ORDER BY created_at, build_uuid
   LIMIT greatest($2 - (SELECT coalesce(sum(n), 0) FROM active), 0)
)
UPDATE builds SET status = 'initializing', initializing_at = clock_timestamp()
  FROM eligible
 WHERE builds.build_uuid = eligible.build_uuid AND builds.status = 'queued'
RETURNING builds.build_uuid`;
