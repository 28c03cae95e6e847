import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { LOCAL_SERVICE_TYPE } from "../../components/local-service-types";
import { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "../../components/migration-providers";
import {
  type CapturedResource,
  captureProgram,
  mockD1Uuid,
  mockIdOf,
  SECRET_SIG,
  SECRET_VALUE,
} from "../capture";
import { projectName, readStackFile, stackFilePath } from "../stack-file";
import { captureStack } from "../synth";
import { firstBinding } from "./bindings";
import {
  LocalPlanError,
  type LocalWorker,
  miniflareOptions,
  OBSERVABILITY,
  PLACEMENT,
  planLocal,
  TYPES,
} from "./miniflare-plan";

// --- a tiny builder of captured graphs -------------------------------------------------------------

const secret = (value: unknown) => ({ [SECRET_SIG]: SECRET_VALUE, value });

/** A resource as capture.ts records it; `parentType` puts a parent chain in the URN, as components do. */
function res(
  type: string,
  name: string,
  inputs: Record<string, unknown> = {},
  opts: { custom?: boolean; parentType?: string } = {},
): CapturedResource {
  const qualified = opts.parentType ? `${opts.parentType}$${type}` : type;
  return {
    urn: `urn:pulumi:test::proj::${qualified}::${name}`,
    type,
    name,
    parent: null,
    custom: opts.custom ?? true,
    inputs,
    protect: false,
    retainOnDelete: false,
    dependsOn: [],
    provider: null,
  };
}

const script = (
  name: string,
  bindings: Record<string, unknown>[] = [],
  extra: Record<string, unknown> = {},
) =>
  res(TYPES.script, name, {
    scriptName: name,
    content: `export default { fetch() { return new Response("${name}"); } };`,
    mainModule: "index.js",
    compatibilityDate: "2026-10-01",
    compatibilityFlags: ["nodejs_compat"],
    bindings,
    ...extra,
  });

const workerOf = (resources: CapturedResource[], name: string): LocalWorker => {
  const w = planLocal(resources).workers.find((x) => x.name === name);
  if (!w) throw new Error(`no worker ${name}`);
  return w;
};

const hyperdrive = res(
  TYPES.hyperdrive,
  "hd",
  { origin: { host: "db.example", port: 6543, database: "app", user: "app_user", password: secret("pw") } },
  { parentType: "workers-platform:cloudflare:Hyperdrive" },
);
const queue = res(
  TYPES.queue,
  "jobs",
  { queueName: "jobs-queue" },
  { parentType: "workers-platform:cloudflare:Queue" },
);

// --- bindings --------------------------------------------------------------------------------------

describe("planLocal bindings", () => {
  it.each<[string, Record<string, unknown>, keyof LocalWorker, unknown]>([
    ["plain_text", { type: "plain_text", text: "20" }, "bindings", "20"],
    ["secret_text (secret unwrapped)", { type: "secret_text", text: secret("s3cret") }, "bindings", "s3cret"],
    ["kv_namespace", { type: "kv_namespace", namespaceId: "kv-id" }, "kvNamespaces", "kv-id"],
    ["d1", { type: "d1", id: "d1-uuid" }, "d1Databases", "d1-uuid"],
    ["r2_bucket", { type: "r2_bucket", bucketName: "cache" }, "r2Buckets", "cache"],
    ["hyperdrive", { type: "hyperdrive", id: mockIdOf(hyperdrive) }, "hyperdrives", mockIdOf(hyperdrive)],
    ["queue", { type: "queue", queueName: "jobs-queue" }, "queueProducers", { queueName: "jobs-queue" }],
    [
      "analytics_engine",
      { type: "analytics_engine", dataset: "metrics" },
      "analyticsEngineDatasets",
      { dataset: "metrics" },
    ],
    ["service", { type: "service", service: "other" }, "serviceBindings", { name: "other" }],
    [
      "service with entrypoint",
      { type: "service", service: "other", entrypoint: "Admin" },
      "serviceBindings",
      { name: "other", entrypoint: "Admin" },
    ],
    [
      "durable_object_namespace",
      { type: "durable_object_namespace", className: "Counter" },
      "durableObjects",
      { className: "Counter", useSQLite: true },
    ],
  ])("%s", (_label, binding, field, expected) => {
    const b = { name: "B", ...(binding as Record<string, unknown>) };
    const graph = [hyperdrive, script("self", [b]), script("other")];
    const w = workerOf(graph, "self");
    expect((w[field] as Record<string, unknown>).B).toEqual(expected);
  });

  it("unwraps a binding that is a secret as a whole", () => {
    const w = workerOf([script("self", [secret({ name: "WHOLE", type: "secret_text", text: "s" })])], "self");
    expect(w.bindings.WHOLE).toBe("s");
  });

  it("maps the script itself: name, one ES module, compatibility date and flags", () => {
    const w = workerOf([script("self")], "self");
    expect(w).toMatchObject({
      name: "self",
      modules: [{ type: "ESModule", path: "index.js", contents: expect.stringContaining("self") }],
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["nodejs_compat"],
    });
  });

  it("refuses a binding type it does not know, naming script, binding and type", () => {
    const graph = [script("self", [{ name: "INDEX", type: "vectorize", indexName: "i" }])];
    expect(() => planLocal(graph)).toThrow(LocalPlanError);
    expect(() => planLocal(graph)).toThrow(/Worker self: binding INDEX has type "vectorize"/);
  });

  it.each([
    ["a service", { name: "S", type: "service", service: "ghost" }, /ghost/],
    [
      "a cross-script Durable Object",
      { name: "D", type: "durable_object_namespace", className: "X", scriptName: "ghost" },
      /ghost/,
    ],
    ["a Hyperdrive config", { name: "H", type: "hyperdrive", id: "0".repeat(32) }, /Hyperdrive config 0{32}/],
  ])("refuses %s the program does not declare", (_label, binding, message) => {
    expect(() => planLocal([script("self", [binding])])).toThrow(message);
  });
});

// --- Durable Objects -------------------------------------------------------------------------------

describe("planLocal Durable Object storage", () => {
  const doBinding = (className: string, scriptName?: string) => ({
    name: "DO",
    type: "durable_object_namespace",
    className,
    ...(scriptName ? { scriptName } : {}),
  });
  it.each<[string, unknown, boolean]>([
    ["newSqliteClasses in a step", { steps: [{ newSqliteClasses: ["C"] }] }, true],
    ["newClasses in a step (key-value)", { steps: [{ newClasses: ["C"] }] }, false],
    ["newClasses in a later step", { steps: [{ newSqliteClasses: ["A"] }, { newClasses: ["C"] }] }, false],
    ["top-level newClasses", { newClasses: ["C"] }, false],
    [
      "renamed from a key-value class",
      { steps: [{ newClasses: ["Old"] }, { renamedClasses: [{ from: "Old", to: "C" }] }] },
      false,
    ],
    ["no migration for the class in this upload", { steps: [{ newClasses: ["Other"] }] }, true],
    ["no migrations at all", undefined, true],
  ])("%s → useSQLite %s", (_label, migrations, useSQLite) => {
    const w = workerOf([script("self", [doBinding("C")], { migrations })], "self");
    expect(w.durableObjects.DO).toEqual({ className: "C", useSQLite });
  });

  it("binds another script's class with its scriptName and that script's storage", () => {
    const graph = [
      script("host", [], { migrations: { steps: [{ newClasses: ["Room"] }] } }),
      script("self", [doBinding("Room", "host")]),
    ];
    expect(workerOf(graph, "self").durableObjects.DO).toEqual({
      className: "Room",
      scriptName: "host",
      useSQLite: false,
    });
  });

  it("treats a scriptName equal to the Worker's own as an own class", () => {
    const graph = [
      script("self", [doBinding("C", "self")], { migrations: { steps: [{ newSqliteClasses: ["C"] }] } }),
    ];
    expect(workerOf(graph, "self").durableObjects.DO).toEqual({ className: "C", useSQLite: true });
  });
});

// --- the rest of the graph -------------------------------------------------------------------------

describe("planLocal resources around the Workers", () => {
  it("collects crons per script", () => {
    const plan = planLocal([
      script("a"),
      res(TYPES.cron, "a-crons", {
        scriptName: "a",
        schedules: [{ cron: "*/5 * * * *" }, { cron: "0 3 * * *" }],
      }),
    ]);
    expect(plan.crons).toEqual([
      { scriptName: "a", cron: "*/5 * * * *" },
      { scriptName: "a", cron: "0 3 * * *" },
    ]);
  });

  it("routes hosts from custom domains and route patterns", () => {
    const plan = planLocal([
      script("a"),
      script("b"),
      res(TYPES.customDomain, "a-domain-0", { hostname: "api.example.com", service: "a", zoneId: "z" }),
      res(TYPES.route, "b-route-0", { pattern: "www.example.com/app/*", script: "b", zoneId: "z" }),
      res(TYPES.route, "b-route-1", { pattern: "https://www.example.com/other*", script: "b", zoneId: "z" }),
      res(TYPES.route, "off-route", { pattern: "static.example.com/*", zoneId: "z" }),
    ]);
    expect(plan.hosts).toEqual([
      { host: "api.example.com", scriptName: "a" },
      { host: "www.example.com", scriptName: "b" },
    ]);
  });

  it("attaches D1 migrations to the right database", () => {
    const main = res(
      TYPES.d1,
      "main",
      { name: "main" },
      { parentType: "workers-platform:cloudflare:D1Database" },
    );
    const audit = res(TYPES.d1, "audit", { name: "audit" });
    const migration = (n: string) => ({ name: n, sql: "CREATE TABLE t (x);", checksum: `sum-${n}` });
    const plan = planLocal([
      main,
      audit,
      res(D1_MIGRATIONS_TYPE, "audit-migrations", {
        databaseId: mockD1Uuid(audit),
        migrations: [migration("0001_init.sql"), migration("0002_more.sql")],
        apiToken: secret("token"),
      }),
    ]);
    expect(plan.d1).toEqual([
      { databaseId: mockD1Uuid(main), migrations: [] },
      { databaseId: mockD1Uuid(audit), migrations: [migration("0001_init.sql"), migration("0002_more.sql")] },
    ]);
  });

  it("unwraps the Hyperdrive origin and keys it by the mock id the binding carries", () => {
    const plan = planLocal([hyperdrive]);
    expect(plan.hyperdrives).toEqual([
      {
        id: mockIdOf(hyperdrive),
        origin: { host: "db.example", port: 6543, database: "app", user: "app_user", password: "pw" },
      },
    ]);
    expect(plan.hyperdrives[0]?.originConnectionLimit).toBeUndefined();
  });

  it("keeps a Hyperdrive config's origin connection limit, which sizes its local pool", () => {
    const limited = res(TYPES.hyperdrive, "hd-limited", { ...hyperdrive.inputs, originConnectionLimit: 7 });
    expect(planLocal([limited]).hyperdrives[0]?.originConnectionLimit).toBe(7);
  });

  it("matches a queue consumer to its queue by id and maps its settings", () => {
    const plan = planLocal([
      queue,
      script("c"),
      res(TYPES.queueConsumer, "c-consumer-0", {
        queueId: mockIdOf(queue),
        scriptName: "c",
        type: "worker",
        deadLetterQueue: "jobs-dlq",
        settings: { batchSize: 10, maxRetries: 3, maxWaitTimeMs: 5000 },
      }),
    ]);
    expect(plan.queueConsumers).toEqual([
      {
        queueName: "jobs-queue",
        scriptName: "c",
        maxBatchSize: 10,
        maxRetries: 3,
        maxBatchTimeout: 5,
        deadLetterQueue: "jobs-dlq",
      },
    ]);
  });

  it("places a plan on this machine as complete Miniflare options", () => {
    const plan = planLocal([
      queue,
      hyperdrive,
      script("api", [
        { name: "DB", type: "hyperdrive", id: mockIdOf(hyperdrive) },
        { name: "TOKEN", type: "secret_text", text: secret("t0ken") },
      ]),
      script("worker"),
      res(TYPES.queueConsumer, "worker-consumer-0", {
        queueId: mockIdOf(queue),
        scriptName: "worker",
        settings: { batchSize: 5 },
      }),
      res(TYPES.customDomain, "api-domain-0", { hostname: "api.example.com", service: "api", zoneId: "z" }),
    ]);
    const options = miniflareOptions(plan, {
      persistencePath: "/state/miniflare",
      hyperdriveUrls: new Map([[mockIdOf(hyperdrive), "postgres://app_user:pw@127.0.0.1:7001/app"]]),
      ports: new Map([
        ["api", 8001],
        ["worker", 8002],
      ]),
    });
    expect({ ...options, workers: undefined }).toEqual({
      host: "127.0.0.1",
      port: 0,
      resourcePersistencePath: "/state/miniflare",
      workers: undefined,
    });
    const [api, worker] = options.workers;
    expect(api).toMatchObject({
      name: "api",
      bindings: { TOKEN: "t0ken" },
      hyperdrives: { DB: "postgres://app_user:pw@127.0.0.1:7001/app" },
      queueConsumers: {},
      routes: ["api.example.com/*"],
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 8001 }],
    });
    // Miniflare does not take the plan's own bookkeeping.
    expect(api).not.toHaveProperty("secretBindings");
    expect(worker).toMatchObject({
      name: "worker",
      hyperdrives: {},
      queueConsumers: { "jobs-queue": { maxBatchSize: 5 } },
      routes: [],
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 8002 }],
    });
  });

  it("refuses a queue consumer of a queue the program does not declare", () => {
    const graph = [script("c"), res(TYPES.queueConsumer, "x", { queueId: "nope", scriptName: "c" })];
    expect(() => planLocal(graph)).toThrow(/queue nope is not declared/);
  });

  it("lists each kind without local meaning once, naming its resources", () => {
    const observed = { observability: { enabled: true } };
    const plan = planLocal([
      script("a", [], { placement: { mode: "smart" }, ...observed }),
      script("b", [], { placement: { mode: "smart" }, observability: { enabled: false } }),
      script("c", [], observed),
      res(TYPES.subdomain, "a-subdomain", { scriptName: "a", enabled: true }),
      res(TYPES.subdomain, "b-subdomain", { scriptName: "b", enabled: true }),
      res(TYPES.r2, "cache", { name: "cache" }),
      res(TYPES.r2Lifecycle, "cache-lifecycle", { bucketName: "cache", rules: [] }),
      res(TYPES.cron, "a-crons", { scriptName: "a", schedules: [{ cron: "* * * * *" }] }),
      res(TYPES.customDomain, "a-domain-0", { hostname: "a.example.com", service: "a" }),
      res(TYPES.route, "b-route-0", { pattern: "b.example.com/*", script: "b" }),
    ]);
    const byType = Object.fromEntries(plan.notEmulated.map((n) => [n.type, n.name]));
    expect(byType).toEqual({
      [PLACEMENT]: "a, b",
      [OBSERVABILITY]: "a, c",
      [TYPES.subdomain]: "a-subdomain, b-subdomain",
      [TYPES.r2Lifecycle]: "cache-lifecycle",
      [TYPES.cron]: "a-crons",
      [TYPES.customDomain]: "a-domain-0",
      [TYPES.route]: "b-route-0",
    });
    expect(plan.notEmulated.every((n) => n.reason.length > 10)).toBe(true);
  });

  it("plans an R2 bucket's expiry rules for the runner and names the parts it cannot apply", () => {
    const plan = planLocal([
      res(TYPES.r2, "cache", { name: "cache" }),
      res(TYPES.r2Lifecycle, "cache-lifecycle", {
        bucketName: "cache",
        rules: [
          {
            id: "expiry",
            enabled: true,
            conditions: { prefix: "" },
            deleteObjectsTransition: { condition: { type: "Age", maxAge: 604800 } },
          },
          {
            id: "ia",
            storageClassTransitions: [
              { condition: { type: "Age", maxAge: 60 }, storageClass: "InfrequentAccess" },
            ],
          },
        ],
      }),
    ]);
    expect(plan.r2Lifecycles).toEqual([
      {
        bucketName: "cache",
        rules: [{ id: "expiry", prefix: "", maxAgeSeconds: 604800 }],
        ignored: ["ia: storage class transitions"],
      },
    ]);
    expect(plan.notEmulated.map((n) => [n.type, n.name])).toEqual([
      [TYPES.r2Lifecycle, "cache-lifecycle"],
      [`${TYPES.r2Lifecycle}.rules`, "cache-lifecycle (ia: storage class transitions)"],
    ]);
  });

  it("reads the local services Workers declared, secrets revealed, and refuses an unknown kind", () => {
    const service = (name: string, inputs: Record<string, unknown>) =>
      res(LOCAL_SERVICE_TYPE, name, inputs, { custom: false });
    const plan = planLocal([
      script("api"),
      service("api-dev-token", { kind: "dev-token", secret: secret("k3y"), scriptName: "api" }),
      service("api-build-runner", {
        kind: "build-runner",
        urlVar: "RUNNERS",
        count: 2,
        token: secret("t0ken"),
        maxConcurrent: 4,
        scriptName: "api",
      }),
    ]);
    expect(plan.services).toEqual([
      { kind: "dev-token", secret: "k3y", scriptName: "api" },
      {
        kind: "build-runner",
        urlVar: "RUNNERS",
        count: 2,
        token: "t0ken",
        maxConcurrent: 4,
        scriptName: "api",
      },
    ]);
    expect(() => planLocal([script("api"), service("x", { kind: "mailer", scriptName: "api" })])).toThrow(
      'local service x has kind "mailer", which the local target does not know',
    );
    expect(() => planLocal([service("x", { kind: "dev-token", scriptName: "gone" })])).toThrow(
      /refers to Worker gone, which the program does not declare/,
    );
  });

  it("skips components, providers and the PostgreSQL side", () => {
    const plan = planLocal([
      res("workers-platform:cloudflare:Worker", "w", {}, { custom: false }),
      res("pulumi:providers:postgresql", "pg"),
      res("postgresql:index/role:Role", "role"),
      res("random:index/randomPassword:RandomPassword", "pw"),
      res(SQL_MIGRATIONS_TYPE, "sql"),
      res(TYPES.kv, "kv", { title: "kv" }),
    ]);
    expect(plan).toEqual({
      workers: [],
      services: [],
      notEmulated: [],
      crons: [],
      hosts: [],
      d1: [],
      hyperdrives: [],
      r2Lifecycles: [],
      queueConsumers: [],
    });
  });

  it("refuses a custom resource type it does not know, naming type and resource", () => {
    const graph = [script("a"), res("cloudflare:index/workersForPlatformsDispatchNamespace:X", "dispatch")];
    expect(() => planLocal(graph)).toThrow(
      "the local target does not know resource type cloudflare:index/workersForPlatformsDispatchNamespace:X (resource dispatch)",
    );
  });
});

// --- against the real mock runtime and the real program --------------------------------------------

describe("planLocal on captured programs", () => {
  it("finds the ids the mock runtime gives D1, KV, Queue and Hyperdrive resources inside components", async () => {
    class Box extends pulumi.ComponentResource {
      constructor(name: string) {
        super("test:index:Box", name, {});
        const parent = { parent: this };
        const accountId = "acc";
        const db = new cloudflare.D1Database(
          "db",
          { accountId, name: "db", readReplication: { mode: "disabled" } },
          parent,
        );
        const kv = new cloudflare.WorkersKvNamespace("kv", { accountId, title: "kv" }, parent);
        const q = new cloudflare.Queue("q", { accountId, queueName: "q" }, parent);
        const hd = new cloudflare.HyperdriveConfig(
          "hd",
          {
            accountId,
            name: "hd",
            origin: { host: "h", port: 5432, database: "d", user: "u", password: "p", scheme: "postgres" },
          },
          parent,
        );
        new cloudflare.WorkersScript(
          "w",
          {
            accountId,
            scriptName: "w",
            content: "export default {}",
            mainModule: "index.js",
            compatibilityDate: "2026-10-01",
            bindings: [
              { name: "DB", type: "d1", id: db.uuid },
              { name: "KV", type: "kv_namespace", namespaceId: kv.id },
              { name: "HD", type: "hyperdrive", id: hd.id },
            ],
          },
          parent,
        );
        new cloudflare.QueueConsumer(
          "c",
          { accountId, queueId: q.queueId, scriptName: "w", type: "worker" },
          parent,
        );
        this.registerOutputs({});
      }
    }
    const { resources } = await captureProgram(
      { project: "proj", stack: "test", config: {}, secretKeys: [] },
      () => new Box("box"),
    );
    const plan = planLocal(resources);
    const kv = resources.find((r) => r.type === TYPES.kv);
    const db = resources.find((r) => r.type === TYPES.d1);
    expect(kv && db).toBeTruthy();
    const [w] = plan.workers;
    expect(w?.kvNamespaces.KV).toBe(kv && mockIdOf(kv));
    expect(w?.d1Databases.DB).toBe(db && mockD1Uuid(db));
    expect(plan.d1.map((d) => d.databaseId)).toEqual([w?.d1Databases.DB]);
    expect(plan.hyperdrives.map((h) => h.id)).toEqual([w?.hyperdrives.HD]);
    expect(plan.queueConsumers).toEqual([{ queueName: "q", scriptName: "w" }]);
  });

  it("recognises a plain WorkersScript's d1 binding by the database's id, as one database with its uuid", async () => {
    const { resources } = await captureProgram(
      { project: "proj", stack: "test", config: {}, secretKeys: [] },
      () => {
        const accountId = "acc";
        const db = new cloudflare.D1Database("db", {
          accountId,
          name: "db",
          readReplication: { mode: "disabled" },
        });
        const worker = (scriptName: string, id: pulumi.Output<string>) =>
          new cloudflare.WorkersScript(scriptName, {
            accountId,
            scriptName,
            content: "export default {}",
            mainModule: "index.js",
            compatibilityDate: "2026-10-01",
            bindings: [{ name: "DB", type: "d1", id }],
          });
        worker("by-id", db.id);
        worker("by-uuid", db.uuid);
      },
    );
    const db = resources.find((r) => r.type === TYPES.d1);
    if (!db) throw new Error("no D1Database captured");
    expect(mockIdOf(db)).not.toBe(mockD1Uuid(db));
    const plan = planLocal(resources);
    expect(plan.d1).toEqual([{ databaseId: mockD1Uuid(db), migrations: [] }]);
    expect(plan.workers.map((w) => [w.name, w.d1Databases])).toEqual([
      ["by-id", { DB: mockD1Uuid(db) }],
      ["by-uuid", { DB: mockD1Uuid(db) }],
    ]);
    // What the local target asks before applying the database's migrations ("bound by no Worker" when none).
    expect(firstBinding(plan.workers, "d1Databases", mockD1Uuid(db))).toEqual({
      worker: "by-id",
      binding: "DB",
    });
  });

  it("attaches D1 migrations given the database's id to the same database", () => {
    const migration = (n: string) => ({ name: n, sql: "CREATE TABLE t (x);", checksum: `sum-${n}` });
    const db = res(TYPES.d1, "db", { name: "db" });
    const plan = planLocal([
      db,
      script("w", [{ type: "d1", name: "DB", id: mockIdOf(db) }]),
      res(D1_MIGRATIONS_TYPE, "db-migrations", {
        databaseId: mockIdOf(db),
        migrations: [migration("0001_init.sql")],
      }),
    ]);
    expect(plan.d1).toEqual([{ databaseId: mockD1Uuid(db), migrations: [migration("0001_init.sql")] }]);
    expect(plan.workers[0]?.d1Databases).toEqual({ DB: mockD1Uuid(db) });
  });

  it("plans the local stack: three Workers, RPC service binding, SQLite DOs, one Hyperdrive, builds vars and secrets", async () => {
    const plan = planLocal(await captureStack({ stack: "local" }));
    const names = plan.workers.map((w) => w.name);
    expect(names).toHaveLength(3);
    const find = (suffix: string) => {
      const w = plan.workers.find((x) => x.name.endsWith(suffix));
      if (!w) throw new Error(`no worker *${suffix} in ${names.join(", ")}`);
      return w;
    };
    const client = find("builds-client");
    const management = find("builds-management");
    const demo = find("demo-worker");
    expect(client.serviceBindings.MANAGEMENT).toEqual({
      name: management.name,
      entrypoint: "BuildManagement",
    });
    // The local stack's plain development secrets, revealed for Miniflare and named as secrets.
    const { config } = readStackFile(stackFilePath("local"), projectName());
    const local = (key: string) => config[`workers-platform:${key}`];
    expect(client.secretBindings).toEqual(["API_JWT_SECRET", "BUILD_VARIABLES_KEY"]);
    expect(client.bindings).toEqual({
      RELEASE: "unreleased",
      ALLOW_FILE_REPOS: "true",
      API_JWT_SECRET: local("apiJwtSecret"),
      BUILD_VARIABLES_KEY: local("buildVariablesKey"),
    });
    expect(management.secretBindings).toEqual(["RUNNER_TOKEN", "BUILD_VARIABLES_KEY"]);
    // The local stack sets runnerUrl: local and no callbackUrl: the runner fills both in locally.
    expect(management.bindings).toEqual({
      BUILD_TIMEOUT_MINUTES: "20",
      BUILD_START_TIMEOUT_SECONDS: "120",
      HEARTBEAT_TIMEOUT_SECONDS: "60",
      MAX_CONCURRENT_BUILDS: "2",
      MAX_CONCURRENT_BUILDS_GLOBAL: "50",
      SCHEDULER_WAKE: "on",
      SCHEDULER_POLL_SECONDS: "30",
      SCHEDULER_SHARDS: "1",
      SCHEDULER_LEASE_SECONDS: "30",
      COMPUTE_BACKEND: "http",
      RUNNER_URL: "local",
      RELEASE: "unreleased",
      ALLOW_FILE_REPOS: "true",
      RUNNER_TOKEN: local("runnerToken"),
      BUILD_VARIABLES_KEY: local("buildVariablesKey"),
    });
    const dos = [...Object.values(management.durableObjects), ...Object.values(demo.durableObjects)];
    expect(dos.length).toBeGreaterThanOrEqual(3);
    for (const d of dos) expect(d.useSQLite).toBe(true);
    expect(plan.hyperdrives).toHaveLength(1);
    const [hd] = plan.hyperdrives;
    expect(hd?.origin).toMatchObject({ user: "builds_app", database: "builds" });
    expect(hd?.origin.password).toMatch(/^dev-/);
    expect(client.hyperdrives.HYPERDRIVE).toBe(hd?.id);
    expect(plan.notEmulated.map((n) => n.type)).toContain(TYPES.subdomain);
    for (const w of plan.workers) expect(w.modules[0].contents.length).toBeGreaterThan(100);
  });
});
