import { expect, it } from "vitest";

it("exposes exactly the public API's runtime exports from ./index", async () => {
  expect(Object.keys(await import("./index")).sort()).toEqual([
    "BuildsPlatform",
    "CloudflareApi",
    "CloudflareApiError",
    "D1Database",
    "D1Migrations",
    "FrameworkApp",
    "Hyperdrive",
    "KV_WRITER_BINDING",
    "KV_WRITER_CLASS",
    "KvNamespace",
    "LIVE_TAGS_ENV",
    "MANAGEMENT_MIGRATIONS",
    "MigrationPlanError",
    "Postgres",
    "Queue",
    "R2Bucket",
    "SqlMigrationError",
    "SqlMigrations",
    "Worker",
    "bundleWorker",
    "defaultLiveState",
    "liveStateFromCloudflare",
    "liveStateFromFile",
    "noLiveState",
    "physicalName",
    "planDurableObjectMigrations",
    "stackName",
  ]);
});
