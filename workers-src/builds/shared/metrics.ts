import type { BuildOutcome, FailureClass } from "../shared/protocol";

export interface BuildTimes {
  created_at: Date;
  initializing_at: Date | null;
  running_at: Date | null;
  stopped_at: Date;
}

/**
 * The Analytics Engine data point of a stopped build, indexed by account. Blobs: outcome, failure class
 * ("" on success), Worker id, release. Doubles, in milliseconds: time queued (created → initializing;
 * 0 if it never started), time running (running → stopped; 0 if it never ran), total (created → stopped).
 */
export function buildDataPoint(
  build: { accountId: string; workerId: string },
  outcome: BuildOutcome,
  failureClass: FailureClass | undefined,
  times: BuildTimes,
  release: string,
): AnalyticsEngineDataPoint {
  const ms = (from: Date | null, to: Date | null) =>
    from && to ? Math.max(0, new Date(to).getTime() - new Date(from).getTime()) : 0;
  return {
    indexes: [build.accountId],
    blobs: [outcome, failureClass ?? "", build.workerId, release],
    doubles: [
      ms(times.created_at, times.initializing_at),
      ms(times.running_at, times.stopped_at),
      ms(times.created_at, times.stopped_at),
    ],
  };
}
