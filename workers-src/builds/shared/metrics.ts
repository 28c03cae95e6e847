import type { BuildOutcome, FailureClass } from "./protocol";

/** A build's row as it stopped: what its metrics data point is made of. */
export interface StoppedBuild {
  account_id: string;
  worker_id: string;
  created_at: Date;
  initializing_at: Date | null;
  running_at: Date | null;
  stopped_at: Date;
}

/** The `builds` columns of a {@link StoppedBuild}, for a `RETURNING` or `SELECT` list. */
export const STOPPED_BUILD_COLUMNS =
  "account_id, worker_id, created_at, initializing_at, running_at, stopped_at";

/**
 * The Analytics Engine data point of a stopped build, indexed by account. Blobs: outcome, failure class
 * ("" on success), Worker id, release. Doubles, in milliseconds: time queued (created → initializing;
 * 0 if it never started), time running (running → stopped; 0 if it never ran), total (created → stopped).
 */
export function buildDataPoint(
  build: StoppedBuild,
  outcome: BuildOutcome,
  failureClass: FailureClass | undefined,
  release: string,
): AnalyticsEngineDataPoint {
  const ms = (from: Date | null, to: Date | null) =>
    from && to ? Math.max(0, new Date(to).getTime() - new Date(from).getTime()) : 0;
  return {
    indexes: [build.account_id],
    blobs: [outcome, failureClass ?? "", build.worker_id, release],
    doubles: [
      ms(build.created_at, build.initializing_at),
      ms(build.running_at, build.stopped_at),
      ms(build.created_at, build.stopped_at),
    ],
  };
}
