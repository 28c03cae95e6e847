import { describe, expect, it } from "vitest";
import { capture, find, shape } from "../test/mock-program";
import { R2Bucket, type R2BucketArgs } from "./r2";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

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

  it.each([
    ["bucket", "cloudflare:index/r2Bucket:R2Bucket::cache"],
    ["lifecycle", "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle::cache-lifecycle"],
  ] as const)("transform.%s adjusts that child's args and nothing else", async (entry, changedKey) => {
    const program = (transform?: R2BucketArgs["transform"]) => () =>
      new R2Bucket("cache", {
        accountId: ACCOUNT,
        expiryRules: [{ id: "expire", expireAfterDays: 1 }],
        transform,
      });
    const set = { bucket: { storageClass: "InfrequentAccess" }, lifecycle: { rules: [] } }[entry];
    const plain = await capture(program());
    const changed = await capture(program({ [entry]: (args: object) => ({ ...args, ...set }) }));
    expect(shape(changed)).toEqual(shape(plain));
    expect(shape(plain)).toContain(changedKey);
    for (const before of plain) {
      const key = `${before.type}::${before.name}`;
      const after = find(changed, before.type, before.name);
      expect(after.inputs, key).toEqual(key === changedKey ? { ...before.inputs, ...set } : before.inputs);
    }
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
