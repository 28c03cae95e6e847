import { describe, expect, it } from "vitest";
import { buildDataPoint } from "./metrics";

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, seconds));
const build = { account_id: "acct-1", worker_id: "worker-1" };

describe("buildDataPoint: one Analytics Engine point per stopped build", () => {
  it.each([
    {
      name: "a success: queued 1 s, ran 4 s, 6 s in all",
      outcome: "success" as const,
      failure: undefined,
      times: { created_at: at(0), initializing_at: at(1), running_at: at(2), stopped_at: at(6) },
      blobs: ["success", "", "worker-1", "r1"],
      doubles: [1000, 4000, 6000],
    },
    {
      name: "a runner that never reported: no running time",
      outcome: "failed" as const,
      failure: "initialization" as const,
      times: { created_at: at(0), initializing_at: at(2), running_at: null, stopped_at: at(10) },
      blobs: ["failed", "initialization", "worker-1", "r1"],
      doubles: [2000, 0, 10000],
    },
    {
      name: "cancelled while queued: neither queued-to-start nor running time",
      outcome: "cancelled" as const,
      failure: undefined,
      times: { created_at: at(0), initializing_at: null, running_at: null, stopped_at: at(3) },
      blobs: ["cancelled", "", "worker-1", "r1"],
      doubles: [0, 0, 3000],
    },
    {
      name: "a timeout",
      outcome: "terminated" as const,
      failure: "timeout" as const,
      times: { created_at: at(0), initializing_at: at(0), running_at: at(1), stopped_at: at(59) },
      blobs: ["terminated", "timeout", "worker-1", "r1"],
      doubles: [0, 58000, 59000],
    },
  ])("$name", ({ outcome, failure, times, blobs, doubles }) => {
    expect(buildDataPoint({ ...build, ...times }, outcome, failure, "r1")).toEqual({
      indexes: ["acct-1"],
      blobs,
      doubles,
    });
  });
});
