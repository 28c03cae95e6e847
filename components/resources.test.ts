import { describe, expect, it } from "vitest";
import { capture, find, revealSecrets, shape } from "../test/mock-program";
import { Hyperdrive } from "./hyperdrive";
import { KvNamespace } from "./kv";
import { Queue } from "./queue";
import { R2Bucket } from "./r2";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

describe("KvNamespace", () => {
  it("registers one namespace named <project>-<stack>-<name>, unprotected by default", async () => {
    const resources = await capture(() => new KvNamespace("cache", { accountId: ACCOUNT }));
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::cache",
      "workers-platform:cloudflare:KvNamespace::cache",
    ]);
    const ns = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect(ns.inputs).toEqual({ accountId: ACCOUNT, title: "proj-test-cache" });
    expect([ns.protect, ns.retainOnDelete]).toEqual([false, false]);
    expect(ns.parent).toBe(find(resources, KvNamespace.TYPE, "cache").urn);
  });

  it("protects and retains the namespace when asked", async () => {
    const resources = await capture(() => new KvNamespace("cache", { accountId: ACCOUNT, protect: true }));
    const ns = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect([ns.protect, ns.retainOnDelete]).toEqual([true, true]);
  });

  it("applies a transform to the underlying args", async () => {
    const resources = await capture(
      () =>
        new KvNamespace("cache", {
          accountId: ACCOUNT,
          transform: { namespace: (args) => ({ ...args, title: "custom-title" }) },
        }),
    );
    expect(
      find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache").inputs.title,
    ).toBe("custom-title");
  });
});

describe("R2Bucket", () => {
  it("registers the bucket and an expiry lifecycle rule in seconds", async () => {
    const resources = await capture(
      () =>
        new R2Bucket("build-cache", {
          accountId: ACCOUNT,
          expiryRules: [{ id: "expire", prefix: "cache/", expireAfterDays: 7 }],
          protect: true,
        }),
    );
    expect(shape(resources)).toEqual([
      "cloudflare:index/r2Bucket:R2Bucket::build-cache",
      "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle::build-cache-lifecycle",
      "workers-platform:cloudflare:R2Bucket::build-cache",
    ]);
    const bucket = find(resources, "cloudflare:index/r2Bucket:R2Bucket", "build-cache");
    expect(bucket.inputs).toEqual({ accountId: ACCOUNT, name: "proj-test-build-cache" });
    expect([bucket.protect, bucket.retainOnDelete]).toEqual([true, true]);
    const lifecycle = find(
      resources,
      "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
      "build-cache-lifecycle",
    );
    expect(lifecycle.inputs).toEqual({
      accountId: ACCOUNT,
      bucketName: "proj-test-build-cache",
      rules: [
        {
          id: "expire",
          enabled: true,
          conditions: { prefix: "cache/" },
          deleteObjectsTransition: { condition: { type: "Age", maxAge: 604_800 } },
        },
      ],
    });
    expect(lifecycle.protect).toBe(false);
  });

  it("has no lifecycle resource without rules", async () => {
    const resources = await capture(() => new R2Bucket("assets", { accountId: ACCOUNT }));
    expect(shape(resources)).toEqual([
      "cloudflare:index/r2Bucket:R2Bucket::assets",
      "workers-platform:cloudflare:R2Bucket::assets",
    ]);
  });

  it.each([
    [{ bucketName: "Bad_Name" }, /bucket name "Bad_Name" must be 3-63/],
    [
      { expiryRules: [{ id: "a", expireAfterDays: 0 }] },
      /expiry rule "a" expireAfterDays must be a whole number of days >= 1 \(got 0\)/,
    ],
    [
      {
        expiryRules: [
          { id: "a", expireAfterDays: 1 },
          { id: "a", expireAfterDays: 2 },
        ],
      },
      /expiry rule id "a" is used twice/,
    ],
  ])("refuses bad args %#", async (extra, message) => {
    await expect(capture(() => new R2Bucket("b", { accountId: ACCOUNT, ...extra }))).rejects.toThrow(message);
  });
});

describe("Queue", () => {
  it("registers a queue with delivery and retention settings", async () => {
    const resources = await capture(() => new Queue("jobs", { accountId: ACCOUNT, deliveryDelaySeconds: 5 }));
    expect(find(resources, "cloudflare:index/queue:Queue", "jobs").inputs).toEqual({
      accountId: ACCOUNT,
      queueName: "proj-test-jobs",
      settings: { deliveryDelay: 5, messageRetentionPeriod: 345_600 },
    });
  });

  it("refuses a retention outside Cloudflare's range", async () => {
    await expect(
      capture(() => new Queue("jobs", { accountId: ACCOUNT, retentionSeconds: 10 })),
    ).rejects.toThrow("Queue jobs: retentionSeconds must be between 60 and 1209600 (got 10)");
  });
});

describe("Hyperdrive", () => {
  it("registers a config whose origin is a secret and caching maps to the provider's fields", async () => {
    const resources = await capture(
      () =>
        new Hyperdrive("db", {
          accountId: ACCOUNT,
          origin: { host: "db.example.net", port: 5432, database: "builds", user: "app", password: "pw" },
          caching: { maxAgeSeconds: 30 },
          originConnectionLimit: 20,
        }),
    );
    const config = find(resources, "cloudflare:index/hyperdriveConfig:HyperdriveConfig", "db");
    expect(revealSecrets(config.inputs)).toEqual({
      accountId: ACCOUNT,
      name: "proj-test-db",
      origin: {
        secret: {
          scheme: "postgres",
          host: "db.example.net",
          port: 5432,
          database: "builds",
          user: "app",
          password: "pw",
        },
      },
      caching: { disabled: false, maxAge: 30, staleWhileRevalidate: 15 },
      originConnectionLimit: 20,
    });
  });

  it("disables caching when asked", async () => {
    const resources = await capture(
      () =>
        new Hyperdrive("db", {
          accountId: ACCOUNT,
          origin: { host: "h", port: 5432, database: "d", user: "u", password: "p" },
          caching: { enabled: false },
        }),
    );
    expect(
      find(resources, "cloudflare:index/hyperdriveConfig:HyperdriveConfig", "db").inputs.caching,
    ).toEqual({
      disabled: true,
      maxAge: 60,
      staleWhileRevalidate: 15,
    });
  });
});
