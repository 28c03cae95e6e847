import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { capture, find, liveTag, revealSecrets, shape, withoutSecrets } from "../test/mock-program";
import {
  type BuildLimits,
  BuildsPlatform,
  type BuildsPlatformArgs,
  MANAGEMENT_MIGRATIONS,
} from "./builds-platform";
import { bundleWorker } from "./bundle";
import { uploadTag } from "./durable-objects";
import { LOCAL_SERVICE_TYPE } from "./local-service";
import { SQL_MIGRATIONS_TYPE } from "./migration-providers";
import { readSqlMigrations } from "./sql-migrations";
import { Worker } from "./worker";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";
const JWT = "jwt-secret-0123456789abcdef0123456789";
const VARIABLES_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const RUNNER_TOKEN = "runner-token-0123456789abcdef0123456789";
const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
const HYPERDRIVE_CONFIG = "cloudflare:index/hyperdriveConfig:HyperdriveConfig";
const CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain";
const SRC = path.join(__dirname, "..", "workers-src", "builds");
const METRICS = "proj_test_builds_build_metrics";

/** The builds settings of a validated stack config that sets none (the schema's defaults). */
const LIMITS: BuildLimits = {
  timeoutMinutes: 20,
  maxConcurrentPerAccount: 6,
  maxConcurrentGlobal: 50,
  startTimeoutSeconds: 120,
  heartbeatTimeoutSeconds: 60,
  cacheExpiryDays: 7,
  scheduler: { wakeOnQueue: true, pollIntervalSeconds: 30 },
  compute: { backend: "http", runnerUrl: "local" },
};

const limits = (change: Partial<BuildLimits>): BuildLimits => ({ ...LIMITS, ...change });

/** Args as stacks/program.ts builds them from a validated stack config (the schema's defaults). */
const args = (extra: Partial<BuildsPlatformArgs> = {}): BuildsPlatformArgs => ({
  accountId: ACCOUNT,
  compatibilityDate: "2026-10-01",
  postgres: {
    host: "db.example.net",
    port: 5432,
    adminUser: "platform_admin",
    adminPassword: "admin-pw",
    adminDatabase: "postgres",
    sslMode: "require",
    database: "builds",
    schema: "builds",
    appRole: "builds_app",
    extensions: [],
    allowDataLoss: [],
  },
  hyperdrive: { caching: { enabled: true, maxAgeSeconds: 60, staleWhileRevalidateSeconds: 15 } },
  placement: { client: "smart", management: "off" },
  observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
  builds: LIMITS,
  apiJwtSecret: JWT,
  buildVariablesKey: VARIABLES_KEY,
  runnerToken: RUNNER_TOKEN,
  release: "unreleased",
  workersDev: true,
  protect: false,
  liveState: liveTag(undefined),
  ...extra,
});

/** Captures the platform and the ids the test compares bindings with. */
async function capturePlatform(a: BuildsPlatformArgs) {
  const seen: { hyperdriveId?: string; appPassword?: string } = {};
  const resources = await capture(() => {
    const platform = new BuildsPlatform("builds", a);
    platform.hyperdrive.id.apply((v) => {
      seen.hyperdriveId = v;
    });
    platform.postgres.appPassword.apply((v) => {
      seen.appPassword = v;
    });
  });
  return { resources, ...seen };
}

describe("BuildsPlatform", () => {
  it("registers Postgres, Hyperdrive, the build cache and the management and client Workers, and nothing else", async () => {
    const { resources } = await capturePlatform(args());
    expect(shape(resources)).toEqual([
      "cloudflare:index/hyperdriveConfig:HyperdriveConfig::builds-hyperdrive",
      "cloudflare:index/r2Bucket:R2Bucket::builds-build-cache",
      "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle::builds-build-cache-lifecycle",
      "cloudflare:index/workersScript:WorkersScript::builds-client",
      "cloudflare:index/workersScript:WorkersScript::builds-management",
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::builds-client-subdomain",
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::builds-management-subdomain",
      "postgresql:index/database:Database::builds-postgres-database",
      "postgresql:index/defaultPrivileges:DefaultPrivileges::builds-postgres-default-sequences",
      "postgresql:index/defaultPrivileges:DefaultPrivileges::builds-postgres-default-tables",
      "postgresql:index/grant:Grant::builds-postgres-grant-connect",
      "postgresql:index/grant:Grant::builds-postgres-grant-usage",
      "postgresql:index/role:Role::builds-postgres-app-role",
      "postgresql:index/schema:Schema::builds-postgres-schema",
      "pulumi-nodejs:dynamic/workers-platform:SqlMigrations::builds-postgres-migrations",
      "pulumi:providers:postgresql::builds-postgres-provider",
      "random:index/randomPassword:RandomPassword::builds-postgres-app-password",
      "workers-platform:builds:BuildsPlatform::builds",
      "workers-platform:cloudflare:Hyperdrive::builds-hyperdrive",
      "workers-platform:cloudflare:R2Bucket::builds-build-cache",
      "workers-platform:cloudflare:Worker::builds-client",
      "workers-platform:cloudflare:Worker::builds-management",
      "workers-platform:local:Service::builds-client-dev-token",
      "workers-platform:local:Service::builds-management-build-runner",
      "workers-platform:postgres:Postgres::builds-postgres",
    ]);
    const platform = find(resources, BuildsPlatform.TYPE, "builds").urn;
    expect(shape(resources.filter((r) => r.parent === platform))).toEqual([
      "workers-platform:cloudflare:Hyperdrive::builds-hyperdrive",
      "workers-platform:cloudflare:R2Bucket::builds-build-cache",
      "workers-platform:cloudflare:Worker::builds-client",
      "workers-platform:cloudflare:Worker::builds-management",
      "workers-platform:postgres:Postgres::builds-postgres",
    ]);
  });

  it("binds the client to the management script's BuildManagement entrypoint, Hyperdrive, metrics, release vars, and the JWT and variables key as secrets", async () => {
    const { resources, hyperdriveId } = await capturePlatform(args());
    expect(hyperdriveId).toMatch(/^[0-9a-f]{32}$/);
    const client = find(resources, SCRIPT, "builds-client");
    expect(client.inputs.scriptName).toBe("proj-test-builds-client");
    // Only the secret bindings' values are secret: the rest of the list stays readable in a diff.
    expect(revealSecrets(client.inputs.bindings)).toEqual([
      { type: "hyperdrive", name: "HYPERDRIVE", id: hyperdriveId },
      {
        type: "service",
        name: "MANAGEMENT",
        service: "proj-test-builds-management",
        entrypoint: "BuildManagement",
      },
      { type: "analytics_engine", name: "BUILD_METRICS", dataset: METRICS },
      { type: "plain_text", name: "RELEASE", text: "unreleased" },
      { type: "plain_text", name: "ALLOW_FILE_REPOS", text: "false" },
      { type: "secret_text", name: "API_JWT_SECRET", text: { secret: JWT } },
      { type: "secret_text", name: "BUILD_VARIABLES_KEY", text: { secret: VARIABLES_KEY } },
    ]);
    expect(client.inputs.compatibilityFlags).toEqual(["nodejs_compat"]);
    expect(client.inputs).not.toHaveProperty("migrations");
    // The service binding needs the management script to exist first.
    expect(client.dependsOn).toContain(find(resources, SCRIPT, "builds-management").urn);
  });

  it.each([
    ["smart", "off"],
    ["off", "smart"],
    ["off", "off"],
  ] as const)(
    "gives the client placement %s and the management Worker %s, Smart Placement only when smart",
    async (client, management) => {
      const { resources } = await capturePlatform(args({ placement: { client, management } }));
      const placement = (mode: string) => (mode === "smart" ? { mode: "smart" } : undefined);
      expect(find(resources, SCRIPT, "builds-client").inputs.placement).toEqual(placement(client));
      expect(find(resources, SCRIPT, "builds-management").inputs.placement).toEqual(placement(management));
    },
  );

  it("declares the management Worker's Durable Objects, vars from args, secret runner token and variables key, build cache, Hyperdrive and metrics", async () => {
    const live = liveTag(undefined);
    const { resources, hyperdriveId } = await capturePlatform(
      args({
        builds: {
          timeoutMinutes: 45,
          maxConcurrentPerAccount: 3,
          maxConcurrentGlobal: 12,
          startTimeoutSeconds: 90,
          heartbeatTimeoutSeconds: 40,
          cacheExpiryDays: 7,
          scheduler: { wakeOnQueue: false, pollIntervalSeconds: 15, shards: 4, leaseSeconds: 12 },
          compute: {
            backend: "http",
            runnerUrl: "https://runner.example.net",
            callbackUrl: "https://management.example.net",
          },
        },
        release: "2026.10.1",
        allowFileRepos: true,
        liveState: live,
      }),
    );
    const management = find(resources, SCRIPT, "builds-management");
    expect(management.inputs.scriptName).toBe("proj-test-builds-management");
    // Only the secret bindings' values are secret: the rest of the list stays readable in a diff.
    expect(revealSecrets(management.inputs.bindings)).toEqual([
      { type: "r2_bucket", name: "BUILD_CACHE", bucketName: "proj-test-builds-build-cache" },
      { type: "hyperdrive", name: "HYPERDRIVE", id: hyperdriveId },
      { type: "durable_object_namespace", name: "BUILD_SCHEDULER", className: "BuildScheduler" },
      { type: "durable_object_namespace", name: "BUILD_CAPACITY", className: "BuildCapacity" },
      { type: "durable_object_namespace", name: "BUILD_BUDDY", className: "BuildBuddy" },
      { type: "durable_object_namespace", name: "BUILD_CONTAINER", className: "BuildContainer" },
      { type: "analytics_engine", name: "BUILD_METRICS", dataset: METRICS },
      { type: "plain_text", name: "BUILD_TIMEOUT_MINUTES", text: "45" },
      { type: "plain_text", name: "BUILD_START_TIMEOUT_SECONDS", text: "90" },
      { type: "plain_text", name: "HEARTBEAT_TIMEOUT_SECONDS", text: "40" },
      { type: "plain_text", name: "MAX_CONCURRENT_BUILDS", text: "3" },
      { type: "plain_text", name: "MAX_CONCURRENT_BUILDS_GLOBAL", text: "12" },
      { type: "plain_text", name: "SCHEDULER_WAKE", text: "off" },
      { type: "plain_text", name: "SCHEDULER_POLL_SECONDS", text: "15" },
      { type: "plain_text", name: "SCHEDULER_SHARDS", text: "4" },
      { type: "plain_text", name: "SCHEDULER_LEASE_SECONDS", text: "12" },
      { type: "plain_text", name: "COMPUTE_BACKEND", text: "http" },
      { type: "plain_text", name: "RUNNER_URL", text: "https://runner.example.net" },
      { type: "plain_text", name: "CALLBACK_URL", text: "https://management.example.net" },
      { type: "plain_text", name: "RELEASE", text: "2026.10.1" },
      { type: "plain_text", name: "ALLOW_FILE_REPOS", text: "true" },
      { type: "secret_text", name: "RUNNER_TOKEN", text: { secret: RUNNER_TOKEN } },
      { type: "secret_text", name: "BUILD_VARIABLES_KEY", text: { secret: VARIABLES_KEY } },
    ]);
    // A fresh script gets the whole history in one upload, tagged with its head.
    expect(management.inputs.migrations).toEqual({
      newTag: uploadTag(MANAGEMENT_MIGRATIONS, 2),
      steps: [
        { newSqliteClasses: ["BuildScheduler", "BuildBuddy"] },
        { newSqliteClasses: ["BuildContainer"] },
        { newSqliteClasses: ["BuildCapacity"] },
      ],
    });
    // Only the Worker with Durable Objects asks Cloudflare for its live tag.
    expect(live.asked).toEqual([`${ACCOUNT}/proj-test-builds-management`]);
    // Build timeouts are BuildBuddy alarms, not a cron: the platform declares no cron trigger.
    expect(
      resources.filter((r) => r.type === "cloudflare:index/workersCronTrigger:WorkersCronTrigger"),
    ).toEqual([]);
  });

  it("gives the management Worker the schema's default limits, wake on queue and the local runner, without CALLBACK_URL", async () => {
    const { resources } = await capturePlatform(args());
    const bindings = revealSecrets(find(resources, SCRIPT, "builds-management").inputs.bindings) as {
      type: string;
      name: string;
      text?: string;
    }[];
    expect(bindings.filter((b) => b.type !== "plain_text").map((b) => b.name)).toEqual([
      "BUILD_CACHE",
      "HYPERDRIVE",
      "BUILD_SCHEDULER",
      "BUILD_CAPACITY",
      "BUILD_BUDDY",
      "BUILD_CONTAINER",
      "BUILD_METRICS",
      "RUNNER_TOKEN",
      "BUILD_VARIABLES_KEY",
    ]);
    expect(
      Object.fromEntries(bindings.filter((b) => b.type === "plain_text").map((b) => [b.name, b.text])),
    ).toEqual({
      BUILD_TIMEOUT_MINUTES: "20",
      BUILD_START_TIMEOUT_SECONDS: "120",
      HEARTBEAT_TIMEOUT_SECONDS: "60",
      MAX_CONCURRENT_BUILDS: "6",
      MAX_CONCURRENT_BUILDS_GLOBAL: "50",
      SCHEDULER_WAKE: "on",
      SCHEDULER_POLL_SECONDS: "30",
      SCHEDULER_SHARDS: "1",
      SCHEDULER_LEASE_SECONDS: "30",
      COMPUTE_BACKEND: "http",
      RUNNER_URL: "local",
      RELEASE: "unreleased",
      ALLOW_FILE_REPOS: "false",
    });
    // The local target starts the runners and signs the API's development tokens from these
    // declarations: it matches no Worker name and no var.
    const services = resources.filter((r) => r.type === LOCAL_SERVICE_TYPE);
    expect(services.map((r) => [r.name, r.parent])).toEqual([
      ["builds-management-build-runner", find(resources, Worker.TYPE, "builds-management").urn],
      ["builds-client-dev-token", find(resources, Worker.TYPE, "builds-client").urn],
    ]);
    expect(services.map((r) => revealSecrets(r.inputs))).toEqual([
      {
        kind: "build-runner",
        urlVar: "RUNNER_URL",
        count: 1,
        token: { secret: RUNNER_TOKEN },
        maxConcurrent: 50,
        allowFileRepos: false,
        scriptName: "proj-test-builds-management",
      },
      { kind: "dev-token", secret: { secret: JWT }, scriptName: "proj-test-builds-client" },
    ]);
  });

  it("declares no local service on a stack whose runners are not local", async () => {
    const compute = { backend: "http" as const, runnerUrl: "https://runner.example.net" };
    const { resources } = await capturePlatform(args({ builds: limits({ compute }) }));
    expect(resources.filter((r) => r.type === LOCAL_SERVICE_TYPE)).toEqual([]);
  });

  it.each([
    [undefined, []],
    ["https://management.example.net", ["https://management.example.net"]],
  ])(
    "with compute.callbackUrl %s, gives the management Worker CALLBACK_URL %j",
    async (callbackUrl, expected) => {
      const compute = { backend: "http" as const, runnerUrl: "https://runner.example.net", callbackUrl };
      const { resources } = await capturePlatform(args({ builds: limits({ compute }) }));
      const bindings = revealSecrets(find(resources, SCRIPT, "builds-management").inputs.bindings) as {
        name: string;
        text?: string;
      }[];
      expect(bindings.filter((b) => b.name === "CALLBACK_URL").map((b) => b.text)).toEqual(expected);
      expect(bindings.find((b) => b.name === "RUNNER_URL")?.text).toBe("https://runner.example.net");
      // The runner calls back the management Worker only: the client never gets the URL.
      const client = revealSecrets(find(resources, SCRIPT, "builds-client").inputs.bindings) as {
        name: string;
      }[];
      expect(client.map((b) => b.name)).not.toContain("CALLBACK_URL");
    },
  );

  it("joins a list of runners into RUNNER_URL, comma-separated", async () => {
    const compute = {
      backend: "http" as const,
      runnerUrl: ["https://r1.example.net", "https://r2.example.net"],
      callbackUrl: "https://management.example.net",
    };
    const { resources } = await capturePlatform(args({ builds: limits({ compute }) }));
    const bindings = revealSecrets(find(resources, SCRIPT, "builds-management").inputs.bindings) as {
      name: string;
      text?: string;
    }[];
    expect(bindings.find((b) => b.name === "RUNNER_URL")?.text).toBe(
      "https://r1.example.net,https://r2.example.net",
    );
  });

  it.each([
    [true, "true"],
    [false, "false"],
    [undefined, "false"],
  ])("with allowFileRepos %s, sets ALLOW_FILE_REPOS %s on both Workers", async (allowFileRepos, expected) => {
    const { resources } = await capturePlatform(args({ allowFileRepos }));
    for (const script of ["builds-management", "builds-client"]) {
      const bindings = revealSecrets(find(resources, SCRIPT, script).inputs.bindings) as {
        name: string;
        text?: string;
      }[];
      expect(bindings.filter((b) => b.name === "ALLOW_FILE_REPOS").map((b) => b.text)).toEqual([expected]);
    }
  });

  it("never shows the JWT secret, the variables key or the runner token outside a Pulumi secret", async () => {
    const { resources } = await capturePlatform(args());
    const revealed = JSON.stringify(resources.map((r) => revealSecrets(r.inputs)));
    const visible = JSON.stringify(resources.map((r) => withoutSecrets(r.inputs)));
    for (const value of [JWT, VARIABLES_KEY, RUNNER_TOKEN]) {
      expect(revealed).toContain(value);
      expect(visible).not.toContain(value);
    }
  });

  it("keeps the management Worker's Durable Object history as released (append only)", () => {
    expect(MANAGEMENT_MIGRATIONS).toEqual([
      { tag: "v1", newClasses: ["BuildScheduler", "BuildBuddy"] },
      { tag: "v2", newClasses: ["BuildContainer"] },
      { tag: "v3", newClasses: ["BuildCapacity"] },
    ]);
  });

  it("uploads only the v2 and v3 steps, from the live v1 tag, to a management script released at v1", async () => {
    const { resources } = await capturePlatform(
      args({ liveState: liveTag(uploadTag(MANAGEMENT_MIGRATIONS, 0)) }),
    );
    expect(find(resources, SCRIPT, "builds-management").inputs.migrations).toEqual({
      oldTag: uploadTag(MANAGEMENT_MIGRATIONS, 0),
      newTag: uploadTag(MANAGEMENT_MIGRATIONS, 2),
      steps: [{ newSqliteClasses: ["BuildContainer"] }, { newSqliteClasses: ["BuildCapacity"] }],
    });
  });

  it("uploads only the v3 step, from the live v2 tag, to a management script released at v2", async () => {
    const { resources } = await capturePlatform(
      args({ liveState: liveTag(uploadTag(MANAGEMENT_MIGRATIONS, 1)) }),
    );
    expect(find(resources, SCRIPT, "builds-management").inputs.migrations).toEqual({
      oldTag: uploadTag(MANAGEMENT_MIGRATIONS, 1),
      newTag: uploadTag(MANAGEMENT_MIGRATIONS, 2),
      steps: [{ newSqliteClasses: ["BuildCapacity"] }],
    });
  });

  it("uploads no migration when the management script's live tag is already the history's head", async () => {
    const { resources } = await capturePlatform(
      args({ liveState: liveTag(uploadTag(MANAGEMENT_MIGRATIONS, 2)) }),
    );
    expect(find(resources, SCRIPT, "builds-management").inputs).not.toHaveProperty("migrations");
  });

  it.each([
    [7, 604_800],
    [30, 2_592_000],
  ])("expires build-cache entries %i days (%i seconds) after they were written", async (days, seconds) => {
    const { resources } = await capturePlatform(args({ builds: limits({ cacheExpiryDays: days }) }));
    expect(
      find(resources, "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "builds-build-cache-lifecycle")
        .inputs,
    ).toEqual({
      accountId: ACCOUNT,
      bucketName: "proj-test-builds-build-cache",
      rules: [
        {
          id: "build-cache-expiry",
          enabled: true,
          conditions: { prefix: "" },
          deleteObjectsTransition: { condition: { type: "Age", maxAge: seconds } },
        },
      ],
    });
  });

  it.each([
    [
      true,
      [
        "cloudflare:index/r2Bucket:R2Bucket::builds-build-cache",
        "postgresql:index/database:Database::builds-postgres-database",
        "postgresql:index/schema:Schema::builds-postgres-schema",
      ],
    ],
    [false, []],
  ])("with protect: %s protects and retains exactly %j", async (protect, expected) => {
    const { resources } = await capturePlatform(args({ protect }));
    expect(shape(resources.filter((r) => r.protect))).toEqual(expected);
    expect(shape(resources.filter((r) => r.retainOnDelete))).toEqual(expected);
  });

  describe("transform", () => {
    type Entry = keyof NonNullable<BuildsPlatformArgs["transform"]>;
    // entry, the component's own transform it passes down, the resource that changes, what is set on it.
    const cases: [Entry, NonNullable<BuildsPlatformArgs["transform"]>, string, Record<string, unknown>][] = [
      [
        "postgres",
        { postgres: { schema: (a) => ({ ...a, ifNotExists: false }) } },
        "postgresql:index/schema:Schema::builds-postgres-schema",
        { ifNotExists: false },
      ],
      [
        "hyperdrive",
        { hyperdrive: { config: (a) => ({ ...a, mtls: { sslmode: "verify-full" } }) } },
        `${HYPERDRIVE_CONFIG}::builds-hyperdrive`,
        { mtls: { sslmode: "verify-full" } },
      ],
      [
        "buildCache",
        { buildCache: { bucket: (a) => ({ ...a, storageClass: "InfrequentAccess" }) } },
        "cloudflare:index/r2Bucket:R2Bucket::builds-build-cache",
        { storageClass: "InfrequentAccess" },
      ],
      [
        "management",
        { management: { script: (a) => ({ ...a, logpush: true }) } },
        `${SCRIPT}::builds-management`,
        { logpush: true },
      ],
      [
        "client",
        { client: { subdomain: (a) => ({ ...a, previewsEnabled: true }) } },
        "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::builds-client-subdomain",
        { previewsEnabled: true },
      ],
    ];

    it.each(cases)(
      "%s reaches that component's child and nothing else",
      async (_entry, transform, key, set) => {
        const plain = (await capturePlatform(args())).resources;
        const changed = (await capturePlatform(args({ transform }))).resources;
        expect(shape(changed)).toEqual(shape(plain));
        expect(shape(plain)).toContain(key);
        for (const before of plain) {
          const at = `${before.type}::${before.name}`;
          const after = find(changed, before.type, before.name);
          expect(after.inputs, at).toEqual(at === key ? { ...before.inputs, ...set } : before.inputs);
          expect(after.dependsOn, at).toEqual(before.dependsOn);
        }
      },
    );
  });

  it("has Postgres, where the platform first reaches its server, wait for what the platform waits for", async () => {
    const resources = await capture(() => {
      const server = new (class extends pulumi.CustomResource {})("test:index:Server", "server", {});
      return new BuildsPlatform("builds", args(), { dependsOn: [server] });
    });
    const server = find(resources, "test:index:Server", "server").urn;
    const waiting = resources.filter((r) => r.dependsOn.includes(server)).map((r) => `${r.type}::${r.name}`);
    expect(waiting.sort()).toEqual([
      "postgresql:index/database:Database::builds-postgres-database",
      "postgresql:index/role:Role::builds-postgres-app-role",
      "workers-platform:builds:BuildsPlatform::builds",
      "workers-platform:postgres:Postgres::builds-postgres",
    ]);
  });

  it("makes the Hyperdrive config itself depend on the SQL migrations, so nothing connects before them", async () => {
    const { resources, appPassword } = await capturePlatform(args());
    const migrations = find(resources, SQL_MIGRATIONS_TYPE, "builds-postgres-migrations");
    const component = find(resources, "workers-platform:cloudflare:Hyperdrive", "builds-hyperdrive");
    const config = find(resources, HYPERDRIVE_CONFIG, "builds-hyperdrive");
    expect(component.dependsOn).toEqual([migrations.urn]);
    expect(config.parent).toBe(component.urn);
    expect(config.dependsOn).toContain(migrations.urn);
    // Hyperdrive connects as the app role with its generated password, never as the admin.
    expect(revealSecrets(config.inputs)).toEqual({
      accountId: ACCOUNT,
      name: "proj-test-builds-hyperdrive",
      // Only the password is secret: which database the config points at shows in a diff.
      origin: {
        scheme: "postgres",
        host: "db.example.net",
        port: 5432,
        database: "builds",
        user: "builds_app",
        password: { secret: appPassword },
      },
      caching: { disabled: false, maxAge: 60, staleWhileRevalidate: 15 },
    });
  });

  it("migrates the database with the workers-src/builds/db/migrations folder", async () => {
    const { resources } = await capturePlatform(args());
    const migrations = find(resources, SQL_MIGRATIONS_TYPE, "builds-postgres-migrations");
    expect(migrations.inputs.migrations).toEqual(readSqlMigrations(path.join(SRC, "db", "migrations")));
    expect(migrations.inputs.schema).toBe("builds");
  });

  it("adds a custom domain to the client Worker only when clientDomain is given", async () => {
    const withDomain = await capturePlatform(
      args({ clientDomain: { hostname: "api.builds.example.net", zoneId: ZONE } }),
    );
    expect(shape(withDomain.resources.filter((r) => r.type === CUSTOM_DOMAIN))).toEqual([
      `${CUSTOM_DOMAIN}::builds-client-domain-0`,
    ]);
    expect(find(withDomain.resources, CUSTOM_DOMAIN, "builds-client-domain-0").inputs).toEqual({
      accountId: ACCOUNT,
      hostname: "api.builds.example.net",
      service: "proj-test-builds-client",
      zoneId: ZONE,
    });
    const without = await capturePlatform(args());
    expect(without.resources.filter((r) => r.type === CUSTOM_DOMAIN)).toEqual([]);
  });

  it("gives the client Worker Cloudflare Access's settings as vars only when access is given", async () => {
    const access = {
      teamDomain: "https://builds.cloudflareaccess.com",
      audience: "4714c1358e65fe4b408ad6d432a5f878",
      accountClaim: "groups",
      accountGroups: { builders: "acct_1" },
    };
    const plainVars = (resources: Awaited<ReturnType<typeof capturePlatform>>["resources"]) =>
      (
        find(resources, SCRIPT, "builds-client").inputs.bindings as {
          type: string;
          name: string;
          text?: string;
        }[]
      )
        .filter((b) => b.type === "plain_text" && b.name.startsWith("ACCESS_"))
        .map((b) => [b.name, b.text]);
    expect(plainVars((await capturePlatform(args({ access }))).resources)).toEqual([
      ["ACCESS_TEAM_DOMAIN", "https://builds.cloudflareaccess.com"],
      ["ACCESS_AUDIENCE", "4714c1358e65fe4b408ad6d432a5f878"],
      ["ACCESS_ACCOUNT_CLAIM", "groups"],
      ["ACCESS_ACCOUNT_GROUPS", '{"builders":"acct_1"}'],
    ]);
    expect(plainVars((await capturePlatform(args())).resources)).toEqual([]);
  });

  it("turns off both workers.dev subdomains when workersDev is false", async () => {
    const { resources } = await capturePlatform(args({ workersDev: false }));
    const subdomains = resources.filter(
      (r) => r.type === "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain",
    );
    expect(subdomains.map((r) => [r.name, r.inputs.enabled])).toEqual([
      ["builds-management-subdomain", false],
      ["builds-client-subdomain", false],
    ]);
  });

  it("bundles both workers-src entries; capture succeeding proves the planner found BuildScheduler, BuildCapacity, BuildBuddy and BuildContainer exported", async () => {
    const { resources } = await capturePlatform(args());
    const management = await bundleWorker(path.join(SRC, "management", "index.ts"), { nodejsCompat: true });
    const client = await bundleWorker(path.join(SRC, "client", "index.ts"), { nodejsCompat: true });
    expect(find(resources, SCRIPT, "builds-management").inputs.content).toBe(management.content);
    expect(find(resources, SCRIPT, "builds-client").inputs.content).toBe(client.content);
    // The planner checks only Durable Object classes; the service binding's entrypoint is checked here.
    expect(management.exports).toEqual(
      expect.arrayContaining([
        "BuildManagement",
        "BuildScheduler",
        "BuildCapacity",
        "BuildBuddy",
        "BuildContainer",
      ]),
    );
    expect(client.exports).toContain("default");
  });
});
