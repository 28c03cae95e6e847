// Each provider class creates the package's component of the same name as its child, with the args mapped
// as documented, and nothing else: under Pulumi's mock runtime, the resources below the provider's own
// resource are exactly those the component registers when a TypeScript program creates it directly with
// the mapped args, and the outputs are the component's.
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import * as components from "../components";
import {
  type CapturedResource,
  capture,
  captureError,
  find,
  revealSecrets,
  shape,
} from "../test/mock-program";
import * as provider from "./index";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";
const ENTRY = path.join(__dirname, "..", "test", "fixtures", "workers", "exports.ts");
const SCRIPT = "cloudflare:index/workersScript:WorkersScript";

/** A resource the others wait for (a database's migrations, say). */
class Gate extends pulumi.CustomResource {
  constructor(name: string) {
    super("test:index:Gate", name, {});
  }
}

/** Resolves an Output captured from a program (the mock runtime resolves every value it knows). */
const resolved = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));

/**
 * A captured graph keyed by `type::name` rather than URN (a URN carries its parents' types, which the
 * provider's resource adds to), so that two programs' graphs compare as what the engine is asked to do.
 * The resource named `dropped` is left out, and its children are compared as top-level resources.
 */
function comparable(resources: CapturedResource[], dropped?: string) {
  const key = new Map(resources.map((r) => [r.urn, `${r.type}::${r.name}`]));
  const keyOf = (urn: string | null) => (urn === null ? null : (key.get(urn) ?? urn));
  // A provider reference is `<urn>::<id>`.
  const providerOf = (ref: string | null) =>
    ref === null ? null : `${keyOf(ref.slice(0, ref.lastIndexOf("::")))}${ref.slice(ref.lastIndexOf("::"))}`;
  return resources
    .filter((r) => `${r.type}::${r.name}` !== dropped)
    .map((r) => ({
      resource: `${r.type}::${r.name}`,
      parent: keyOf(r.parent) === dropped ? null : keyOf(r.parent),
      custom: r.custom,
      inputs: r.inputs,
      protect: r.protect,
      retainOnDelete: r.retainOnDelete,
      dependsOn: r.dependsOn.map(keyOf).sort(),
      provider: providerOf(r.provider),
    }))
    .sort((a, b) => a.resource.localeCompare(b.resource));
}

/**
 * Captures a program that creates the provider's resource and one that creates `component` directly,
 * checks that the provider's resource (`workers-platform:index:<class name>`, no inputs) has the component
 * as its only child, and returns both graphs below it with the resources each program made.
 */
async function throughProvider<T extends pulumi.ComponentResource, C extends pulumi.ComponentResource>(
  component: { TYPE: string; name: string },
  name: string,
  viaProvider: () => T,
  direct: () => C,
) {
  let made: T | undefined;
  let madeDirectly: C | undefined;
  const resources = await capture(() => {
    made = viaProvider();
  });
  const token = `workers-platform:index:${component.name}`;
  const wrapper = find(resources, token, name);
  expect([wrapper.parent, wrapper.custom, wrapper.inputs]).toEqual([null, false, {}]);
  expect(shape(resources.filter((r) => r.parent === wrapper.urn))).toEqual([`${component.TYPE}::${name}`]);
  const afterProvider = comparable(resources, `${token}::${name}`);
  const directResources = await capture(() => {
    madeDirectly = direct();
  });
  return {
    afterProvider,
    direct: comparable(directResources),
    made: made!,
    madeDirectly: madeDirectly!,
    resources,
  };
}

describe("provider classes over the package's components", () => {
  it("KvNamespace creates the KvNamespace component with its args and gives its id and title", async () => {
    const args = { accountId: ACCOUNT, title: "sessions", protect: true };
    const run = await throughProvider(
      components.KvNamespace,
      "cache",
      () => new provider.KvNamespace("cache", args),
      () => new components.KvNamespace("cache", args),
    );
    expect(run.afterProvider).toEqual(run.direct);
    expect(shape(run.resources)).toEqual([
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::cache",
      "workers-platform:cloudflare:KvNamespace::cache",
      "workers-platform:index:KvNamespace::cache",
    ]);
    expect(
      find(run.resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache").inputs,
    ).toEqual({
      accountId: ACCOUNT,
      title: "sessions",
    });
    expect([await resolved(run.made.id), await resolved(run.made.title)]).toEqual([
      await resolved(run.madeDirectly.id),
      "sessions",
    ]);
  });

  it("leaves the component's defaults to the component (a KvNamespace given only its account)", async () => {
    const run = await throughProvider(
      components.KvNamespace,
      "cache",
      () => new provider.KvNamespace("cache", { accountId: ACCOUNT }),
      () => new components.KvNamespace("cache", { accountId: ACCOUNT }),
    );
    expect(run.afterProvider).toEqual(run.direct);
    const namespace = find(run.resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect([namespace.inputs, namespace.protect, namespace.retainOnDelete]).toEqual([
      { accountId: ACCOUNT, title: "proj-test-cache" },
      false,
      false,
    ]);
  });

  it("R2Bucket passes its name, location, expiry rules and protection", async () => {
    const args = {
      accountId: ACCOUNT,
      bucketName: "build-cache",
      location: "weur",
      expiryRules: [{ id: "old", prefix: "tmp/", expireAfterDays: 3 }],
      protect: true,
    };
    const run = await throughProvider(
      components.R2Bucket,
      "files",
      () => new provider.R2Bucket("files", args),
      () => new components.R2Bucket("files", args),
    );
    expect(run.afterProvider).toEqual(run.direct);
    expect(shape(run.resources)).toEqual([
      "cloudflare:index/r2Bucket:R2Bucket::files",
      "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle::files-lifecycle",
      "workers-platform:cloudflare:R2Bucket::files",
      "workers-platform:index:R2Bucket::files",
    ]);
    expect(await resolved(run.made.bucketName)).toBe("build-cache");
  });

  it("D1Database passes its name, read replication and protection, and gives its uuid as id", async () => {
    const args = { accountId: ACCOUNT, databaseName: "app-db", readReplication: true, protect: false };
    const run = await throughProvider(
      components.D1Database,
      "db",
      () => new provider.D1Database("db", args),
      () => new components.D1Database("db", args),
    );
    expect(run.afterProvider).toEqual(run.direct);
    expect(find(run.resources, "cloudflare:index/d1Database:D1Database", "db").inputs).toEqual({
      accountId: ACCOUNT,
      name: "app-db",
      readReplication: { mode: "auto" },
    });
    expect([await resolved(run.made.id), await resolved(run.made.databaseName)]).toEqual([
      await resolved(run.madeDirectly.id),
      "app-db",
    ]);
  });

  it("Queue passes its name, delivery delay and retention, and gives its id and name", async () => {
    const args = { accountId: ACCOUNT, queueName: "jobs", deliveryDelaySeconds: 5, retentionSeconds: 3600 };
    const run = await throughProvider(
      components.Queue,
      "jobs",
      () => new provider.Queue("jobs", args),
      () => new components.Queue("jobs", args),
    );
    expect(run.afterProvider).toEqual(run.direct);
    expect(find(run.resources, "cloudflare:index/queue:Queue", "jobs").inputs).toEqual({
      accountId: ACCOUNT,
      queueName: "jobs",
      settings: { deliveryDelay: 5, messageRetentionPeriod: 3600 },
    });
    expect([await resolved(run.made.id), await resolved(run.made.queueName)]).toEqual([
      await resolved(run.madeDirectly.id),
      "jobs",
    ]);
  });

  it("a component's own checks still refuse what it refuses (a Queue keeping messages 30 s)", async () => {
    const err = await captureError(
      () => new provider.Queue("jobs", { accountId: ACCOUNT, retentionSeconds: 30 }),
    );
    expect(err.message).toBe("Queue jobs: retentionSeconds must be between 60 and 1209600 (got 30)");
  });

  it("Hyperdrive passes an origin given as Outputs, its caching, and waits for what the resource waits for", async () => {
    const origin = () => ({
      host: pulumi.output("db.example.net"),
      port: 5432,
      database: "app",
      user: "app_role",
      password: pulumi.secret("app-pw"),
    });
    const caching = { enabled: true, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 5 };
    const gate = () => new Gate("migrations");
    const run = await throughProvider(
      components.Hyperdrive,
      "hd",
      () =>
        new provider.Hyperdrive(
          "hd",
          { accountId: ACCOUNT, origin: origin(), caching, originConnectionLimit: 20 },
          { dependsOn: [gate()] },
        ),
      () =>
        new components.Hyperdrive(
          "hd",
          { accountId: ACCOUNT, origin: origin(), caching, originConnectionLimit: 20 },
          { dependsOn: [gate()] },
        ),
    );
    expect(run.afterProvider).toEqual(run.direct);
    const config = find(run.resources, "cloudflare:index/hyperdriveConfig:HyperdriveConfig", "hd");
    expect(revealSecrets(config.inputs.origin)).toEqual({
      scheme: "postgres",
      host: "db.example.net",
      port: 5432,
      database: "app",
      user: "app_role",
      password: { secret: "app-pw" },
    });
    expect(run.afterProvider.find((r) => r.resource === `${config.type}::hd`)?.dependsOn).toEqual([
      "test:index:Gate::migrations",
    ]);
  });

  it("Postgres passes its server, admin, database, schema, role, extensions and protection, and gives its app connection", async () => {
    const args = {
      host: "db.example.net",
      port: 6543,
      adminUser: "admin",
      adminPassword: pulumi.secret("admin-pw"),
      adminDatabase: "defaultdb",
      sslMode: provider.SslMode.VerifyFull,
      database: "app",
      schema: "app",
      appRole: "app_role",
      extensions: ["pgcrypto"],
      allowDataLoss: [],
      protect: true,
    };
    const run = await throughProvider(
      components.Postgres,
      "pg",
      () => new provider.Postgres("pg", args),
      () => new components.Postgres("pg", { ...args, sslMode: "verify-full" }),
    );
    expect(run.afterProvider).toEqual(run.direct);
    expect(find(run.resources, "pulumi:providers:postgresql", "pg-provider").inputs.sslmode).toBe(
      "verify-full",
    );
    const connection = run.made.appConnection;
    expect(
      await resolved(
        pulumi.all([
          connection.host,
          connection.port,
          connection.database,
          connection.user,
          connection.password,
        ]),
      ),
    ).toEqual(["db.example.net", 6543, "app", "app_role", await resolved(run.made.appPassword)]);
    expect(await pulumi.isSecret(pulumi.output(connection.password))).toBe(true);
    expect(await pulumi.isSecret(pulumi.output(connection.host))).toBe(false);
  });

  it("Worker maps bindings given by id or name, queue consumers by queue id, and the AI binding name", async () => {
    const ids: { kv?: string; queue?: string } = {};
    // What both programs share: the resources the Worker's bindings name, made through the provider.
    const named = () => {
      const kv = new provider.KvNamespace("kv", { accountId: ACCOUNT });
      const jobs = new provider.Queue("jobs", { accountId: ACCOUNT });
      kv.id.apply((id) => {
        ids.kv = id;
      });
      jobs.id.apply((id) => {
        ids.queue = id;
      });
      return { kv, jobs };
    };
    const common = {
      accountId: ACCOUNT,
      entry: ENTRY,
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["streams_enable_constructors"],
      nodejsCompat: true,
      define: { "process.env.STAGE": '"test"' },
      durableObjectMigrations: [{ tag: "v1", newClasses: ["Alpha"] }],
      observability: { enabled: true, headSamplingRate: 0.5 },
      crons: ["*/5 * * * *"],
      customDomains: [{ hostname: "api.example.com", zoneId: ZONE }],
      routes: [{ pattern: "example.com/api/*", zoneId: ZONE }],
      workersDev: false,
      d1Databases: { DB: "d1-uuid" },
      r2Buckets: { FILES: "files-bucket" },
      hyperdrives: { HYPERDRIVE: "hd-id" },
      durableObjects: { ALPHA: { className: "Alpha" }, REMOTE: { className: "Remote", script: "other" } },
      services: { OTHER: { service: "other", entrypoint: "Api" } },
      analyticsEngineDatasets: { METRICS: "metrics" },
      vars: { MODE: "test" },
      secrets: { TOKEN: "s3cret" },
    };
    const run = await throughProvider(
      components.Worker,
      "api",
      () => {
        const { kv, jobs } = named();
        return new provider.Worker("api", {
          ...common,
          placement: provider.Placement.Smart,
          queueConsumers: [{ queueId: jobs.id, batchSize: 5, deadLetterQueue: "jobs-dlq" }],
          kvNamespaces: { CACHE: kv.id },
          queues: { JOBS: jobs.queueName },
          ai: "AI",
        });
      },
      () => {
        const { kv, jobs } = named();
        return new components.Worker("api", {
          ...common,
          placement: "smart",
          queueConsumers: [{ queue: { id: jobs.id }, batchSize: 5, deadLetterQueue: "jobs-dlq" }],
          kvNamespaces: { CACHE: kv.id },
          queues: { JOBS: jobs.queueName },
          ai: { AI: true },
        });
      },
    );
    expect(run.afterProvider).toEqual(run.direct);
    const script = find(run.resources, SCRIPT, "api");
    expect(revealSecrets(script.inputs.bindings)).toEqual([
      { type: "kv_namespace", name: "CACHE", namespaceId: ids.kv },
      { type: "d1", name: "DB", id: "d1-uuid" },
      { type: "r2_bucket", name: "FILES", bucketName: "files-bucket" },
      { type: "hyperdrive", name: "HYPERDRIVE", id: "hd-id" },
      { type: "durable_object_namespace", name: "ALPHA", className: "Alpha" },
      { type: "durable_object_namespace", name: "REMOTE", className: "Remote", scriptName: "other" },
      { type: "service", name: "OTHER", service: "other", entrypoint: "Api" },
      { type: "queue", name: "JOBS", queueName: "proj-test-jobs" },
      { type: "analytics_engine", name: "METRICS", dataset: "metrics" },
      { type: "plain_text", name: "MODE", text: "test" },
      { type: "secret_text", name: "TOKEN", text: { secret: "s3cret" } },
      { type: "ai", name: "AI" },
    ]);
    expect(script.inputs.placement).toEqual({ mode: "smart" });
    expect(
      find(run.resources, "cloudflare:index/queueConsumer:QueueConsumer", "api-consumer-0").inputs,
    ).toEqual({
      accountId: ACCOUNT,
      queueId: ids.queue,
      scriptName: "proj-test-api",
      type: "worker",
      deadLetterQueue: "jobs-dlq",
      settings: { batchSize: 5, maxRetries: 3, maxWaitTimeMs: 5000 },
    });
    expect([await resolved(run.made.scriptName), await resolved(run.made.bundleSha256)]).toEqual([
      "proj-test-api",
      await resolved(run.madeDirectly.bundleSha256),
    ]);
  });

  describe("BuildsPlatform", () => {
    const builds = (runnerUrls: string[]): provider.BuildLimits => ({
      timeoutMinutes: 20,
      maxConcurrentPerAccount: 6,
      maxConcurrentGlobal: 50,
      startTimeoutSeconds: 120,
      heartbeatTimeoutSeconds: 60,
      cacheExpiryDays: 7,
      scheduler: { wakeOnQueue: true, pollIntervalSeconds: 30 },
      compute: { backend: provider.ComputeBackend.Http, runnerUrls },
    });
    const args = (runnerUrls: string[]): provider.BuildsPlatformArgs => ({
      accountId: ACCOUNT,
      compatibilityDate: "2026-10-01",
      postgres: {
        host: "db.example.net",
        port: 5432,
        adminUser: "platform_admin",
        adminPassword: pulumi.secret("admin-pw"),
        adminDatabase: "postgres",
        sslMode: provider.SslMode.Require,
        database: "builds",
        schema: "builds",
        appRole: "builds_app",
        extensions: [],
        allowDataLoss: [],
      },
      hyperdrive: { caching: { enabled: true, maxAgeSeconds: 60, staleWhileRevalidateSeconds: 15 } },
      placement: { client: provider.Placement.Smart, management: provider.Placement.Off },
      observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
      builds: builds(runnerUrls),
      apiJwtSecret: pulumi.secret("jwt-secret"),
      buildVariablesKey: pulumi.secret("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
      runnerToken: pulumi.secret("runner-token"),
      release: "v1.2.3",
      clientDomain: { hostname: "builds.example.com", zoneId: ZONE },
      workersDev: false,
      protect: true,
    });

    it("creates the BuildsPlatform component; one runner URL is passed as the string the stack config gives, so `local` keeps its meaning", async () => {
      const given = args(["local"]);
      const run = await throughProvider(
        components.BuildsPlatform,
        "builds",
        () => new provider.BuildsPlatform("builds", given),
        () =>
          new components.BuildsPlatform("builds", {
            ...given,
            postgres: { ...given.postgres, sslMode: "require" },
            placement: { client: "smart", management: "off" },
            builds: {
              ...given.builds,
              compute: { backend: "http", runnerUrl: "local" },
            },
          }),
      );
      expect(run.afterProvider).toEqual(run.direct);
      // The local target's declarations exist only because `local` reached the component as a string.
      expect(shape(run.resources.filter((r) => r.type === "workers-platform:local:Service"))).toEqual([
        "workers-platform:local:Service::builds-client-dev-token",
        "workers-platform:local:Service::builds-management-build-runner",
      ]);
      const outputs = await resolved(
        pulumi.all([
          run.made.clientScript,
          run.made.managementScript,
          run.made.buildCacheBucket,
          run.made.hyperdriveId,
          run.made.metricsDataset,
        ]),
      );
      expect(outputs).toEqual([
        "proj-test-builds-client",
        "proj-test-builds-management",
        "proj-test-builds-build-cache",
        await resolved(run.madeDirectly.hyperdrive.id),
        "proj_test_builds_build_metrics",
      ]);
    });

    it("passes several runner URLs as a list, which the management Worker gets joined", async () => {
      const resources = await capture(
        () =>
          new provider.BuildsPlatform("builds", args(["https://r1.example.net", "https://r2.example.net"])),
      );
      expect(resources.filter((r) => r.type === "workers-platform:local:Service")).toEqual([]);
      const management = find(resources, SCRIPT, "builds-management");
      expect((management.inputs.bindings as { name: string }[]).find((b) => b.name === "RUNNER_URL")).toEqual(
        {
          type: "plain_text",
          name: "RUNNER_URL",
          text: "https://r1.example.net,https://r2.example.net",
        },
      );
    });
  });

  it("a Worker binding name the component refuses is refused with the component's message", async () => {
    const err = await captureError(
      () =>
        new provider.Worker("api", {
          accountId: ACCOUNT,
          entry: ENTRY,
          compatibilityDate: "2026-10-01",
          vars: { "not-an-identifier": "x" },
        }),
    );
    expect(err.message).toBe('Worker api: binding name "not-an-identifier" must be a JavaScript identifier');
  });
});
