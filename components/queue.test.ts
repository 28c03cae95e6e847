import { describe, expect, it } from "vitest";
import { capture, find, shape } from "../test/mock-program";
import { Queue } from "./queue";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

describe("Queue", () => {
  it("registers a queue with delivery and retention settings", async () => {
    const resources = await capture(() => new Queue("jobs", { accountId: ACCOUNT, deliveryDelaySeconds: 5 }));
    expect(find(resources, "cloudflare:index/queue:Queue", "jobs").inputs).toEqual({
      accountId: ACCOUNT,
      queueName: "proj-test-jobs",
      settings: { deliveryDelay: 5, messageRetentionPeriod: 345_600 },
    });
  });

  it("transform.queue adjusts the queue's args", async () => {
    const resources = await capture(
      () =>
        new Queue("jobs", {
          accountId: ACCOUNT,
          transform: {
            queue: (args) => {
              args.settings = { deliveryDelay: 0, messageRetentionPeriod: 345_600, deliveryPaused: true };
              return undefined;
            },
          },
        }),
    );
    expect(shape(resources)).toEqual([
      "cloudflare:index/queue:Queue::jobs",
      "workers-platform:cloudflare:Queue::jobs",
    ]);
    expect(find(resources, "cloudflare:index/queue:Queue", "jobs").inputs).toEqual({
      accountId: ACCOUNT,
      queueName: "proj-test-jobs",
      settings: { deliveryDelay: 0, messageRetentionPeriod: 345_600, deliveryPaused: true },
    });
  });

  it("refuses a retention outside Cloudflare's range", async () => {
    await expect(
      capture(() => new Queue("jobs", { accountId: ACCOUNT, retentionSeconds: 10 })),
    ).rejects.toThrow("Queue jobs: retentionSeconds must be between 60 and 1209600 (got 10)");
  });
});
