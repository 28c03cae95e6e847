import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { capture, captureError, find, liveTag, shape } from "../test/mock-program";
import { bundleWorker } from "./bundle";
import { uploadTag } from "./durable-objects";
import { MigrationDerivationError } from "./framework-app";
import {
  DEMO_MIGRATIONS,
  type FrameworkAppSource,
  FrameworkDemo,
  type FrameworkDemoArgs,
} from "./framework-demo";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";
const ENTRY = path.join(__dirname, "..", "workers-src", "demo", "index.ts");
const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
const NAMESPACE = "cloudflare:index/workersKvNamespace:WorkersKvNamespace";
const CRON_TRIGGER = "cloudflare:index/workersCronTrigger:WorkersCronTrigger";
const CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain";

/** Args as stacks/program.ts builds them from a validated stack config (the schema's defaults). */
const args = (extra: Partial<FrameworkDemoArgs> = {}): FrameworkDemoArgs => ({
  accountId: ACCOUNT,
  compatibilityDate: "2026-10-01",
  placement: "off",
  observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
  workersDev: true,
  protect: false,
  liveState: liveTag(undefined),
  ...extra,
});

/** Captures the demo and the KV namespace id the Worker's binding should carry. */
async function captureDemo(a: FrameworkDemoArgs) {
  let kvId: string | undefined;
  const resources = await capture(() => {
    const demo = new FrameworkDemo("demo", a);
    demo.kv.id.apply((v) => {
      kvId = v;
    });
  });
  return { resources, kvId };
}

describe("FrameworkDemo", () => {
  it("registers a KV namespace, one Worker and its declared cron under the component, and nothing else", async () => {
    const { resources } = await captureDemo(args());
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersCronTrigger:WorkersCronTrigger::demo-worker-crons",
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::demo-kv",
      "cloudflare:index/workersScript:WorkersScript::demo-worker",
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::demo-worker-subdomain",
      "workers-platform:cloudflare:KvNamespace::demo-kv",
      "workers-platform:cloudflare:Worker::demo-worker",
      "workers-platform:framework:FrameworkDemo::demo",
    ]);
    const demo = find(resources, FrameworkDemo.TYPE, "demo").urn;
    expect(shape(resources.filter((r) => r.parent === demo))).toEqual([
      "workers-platform:cloudflare:KvNamespace::demo-kv",
      "workers-platform:cloudflare:Worker::demo-worker",
    ]);
    expect(find(resources, NAMESPACE, "demo-kv").inputs).toEqual({
      accountId: ACCOUNT,
      title: "proj-test-demo-kv",
    });
    expect(find(resources, CRON_TRIGGER, "demo-worker-crons").inputs).toEqual({
      accountId: ACCOUNT,
      scriptName: "proj-test-demo-worker",
      schedules: [{ cron: "*/5 * * * *" }],
    });
  });

  it("uploads the demo bundle to a fresh script with DEMO_KV, ROOMS, COUNTERS and SESSIONS and migrations v1 then v2 in SQLite", async () => {
    const live = liveTag(undefined);
    const { resources, kvId } = await captureDemo(args({ liveState: live }));
    expect(kvId).toMatch(/^[0-9a-f]{32}$/);
    const bundle = await bundleWorker(ENTRY, { nodejsCompat: false });
    const script = find(resources, SCRIPT, "demo-worker");
    expect(script.inputs).toEqual({
      accountId: ACCOUNT,
      scriptName: "proj-test-demo-worker",
      mainModule: "index.js",
      content: bundle.content,
      compatibilityDate: "2026-10-01",
      compatibilityFlags: [],
      bindings: [
        { type: "kv_namespace", name: "DEMO_KV", namespaceId: kvId },
        { type: "durable_object_namespace", name: "ROOMS", className: "Room" },
        { type: "durable_object_namespace", name: "COUNTERS", className: "Counter" },
        { type: "durable_object_namespace", name: "SESSIONS", className: "Session" },
      ],
      migrations: {
        newTag: uploadTag(DEMO_MIGRATIONS, 1),
        steps: [
          { newSqliteClasses: ["DemoObject"] },
          { newSqliteClasses: ["Counter", "Session"], renamedClasses: [{ from: "DemoObject", to: "Room" }] },
        ],
      },
      observability: {
        enabled: true,
        headSamplingRate: 1,
        logs: { enabled: true, invocationLogs: true, headSamplingRate: 1 },
      },
    });
    expect(uploadTag(DEMO_MIGRATIONS, 1)).toMatch(/^v2@[0-9a-f]{10}$/);
    expect(live.asked).toEqual([`${ACCOUNT}/proj-test-demo-worker`]);
    // The binding needs the namespace to exist first.
    expect(script.dependsOn).toContain(find(resources, NAMESPACE, "demo-kv").urn);
  });

  it("keeps the demo Worker's Durable Object history as released (append only): v1, then v2 renaming DemoObject to Room", () => {
    expect(DEMO_MIGRATIONS).toEqual([
      { tag: "v1", newClasses: ["DemoObject"] },
      {
        tag: "v2",
        newClasses: ["Counter", "Session"],
        renamedClasses: [{ from: "DemoObject", to: "Room" }],
      },
    ]);
  });

  it("uploads only step v2 (the rename and the new classes) when the live tag is v1", async () => {
    const { resources } = await captureDemo(args({ liveState: liveTag(uploadTag(DEMO_MIGRATIONS, 0)) }));
    expect(find(resources, SCRIPT, "demo-worker").inputs.migrations).toEqual({
      oldTag: uploadTag(DEMO_MIGRATIONS, 0),
      newTag: uploadTag(DEMO_MIGRATIONS, 1),
      steps: [
        { newSqliteClasses: ["Counter", "Session"], renamedClasses: [{ from: "DemoObject", to: "Room" }] },
      ],
    });
  });

  it("uploads no migration when the live tag is already v2", async () => {
    const { resources } = await captureDemo(args({ liveState: liveTag(uploadTag(DEMO_MIGRATIONS, 1)) }));
    expect(find(resources, SCRIPT, "demo-worker").inputs).not.toHaveProperty("migrations");
  });

  it.each([
    [true, [`${NAMESPACE}::demo-kv`]],
    [false, []],
    [undefined, []],
  ])("with protect: %s protects and retains exactly %j", async (protect, expected) => {
    const { resources } = await captureDemo(args({ protect }));
    expect(shape(resources.filter((r) => r.protect))).toEqual(expected);
    expect(shape(resources.filter((r) => r.retainOnDelete))).toEqual(expected);
  });

  it("adds a custom domain only when one is given", async () => {
    const withDomain = await captureDemo(args({ domain: { hostname: "demo.example.net", zoneId: ZONE } }));
    expect(shape(withDomain.resources.filter((r) => r.type === CUSTOM_DOMAIN))).toEqual([
      `${CUSTOM_DOMAIN}::demo-worker-domain-0`,
    ]);
    expect(find(withDomain.resources, CUSTOM_DOMAIN, "demo-worker-domain-0").inputs).toEqual({
      accountId: ACCOUNT,
      hostname: "demo.example.net",
      service: "proj-test-demo-worker",
      zoneId: ZONE,
    });
    const without = await captureDemo(args());
    expect(without.resources.filter((r) => r.type === CUSTOM_DOMAIN)).toEqual([]);
  });

  it.each([
    ["smart", { mode: "smart" }],
    ["off", undefined],
  ] as const)("with placement %s sets the script's placement to %j", async (placement, expected) => {
    const { resources } = await captureDemo(args({ placement }));
    expect(find(resources, SCRIPT, "demo-worker").inputs.placement).toEqual(expected);
  });

  it("turns off the workers.dev subdomain when workersDev is false", async () => {
    const { resources } = await captureDemo(args({ workersDev: false }));
    expect(
      find(
        resources,
        "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain",
        "demo-worker-subdomain",
      ).inputs.enabled,
    ).toBe(false);
  });

  describe("an app's bindings and migrations derived from its declaration and lock file", () => {
    const v1 = { tag: "v1", newClasses: ["Counter", "Room"] };
    /** An app whose lock records v1 (Room, Counter) and whose declaration renames Room to Lobby. */
    function renamingApp(extra: Partial<FrameworkAppSource["declaration"]> = {}): FrameworkAppSource {
      const lockFile = path.join(mkdtempSync(path.join(tmpdir(), "wp-app-")), "migrations.lock.json");
      writeFileSync(lockFile, JSON.stringify({ steps: [v1] }));
      return {
        entry: path.join(__dirname, "..", "test", "fixtures", "workers", "framework-app.ts"),
        lockFile,
        declaration: {
          durableObjects: { LOBBIES: { className: "Lobby" }, COUNTERS: { className: "Counter" } },
          kvNamespaces: ["DOCS", "SESSIONS"],
          renamedClasses: [{ from: "Room", to: "Lobby" }],
          ...extra,
        },
      };
    }
    const history = [v1, { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] }];

    it("binds every declared namespace and class, and uploads the declared rename after the live v1", async () => {
      const resources = await capture(
        () => new FrameworkDemo("demo", args({ app: renamingApp(), liveState: liveTag(uploadTag([v1], 0)) })),
      );
      expect(shape(resources.filter((r) => r.type === NAMESPACE))).toEqual([
        `${NAMESPACE}::demo-kv`,
        `${NAMESPACE}::demo-kv-sessions`,
      ]);
      // It declares no cron, so the Worker has no cron trigger.
      expect(resources.filter((r) => r.type === CRON_TRIGGER)).toEqual([]);
      const inputs = find(resources, SCRIPT, "demo-worker").inputs;
      expect(
        (inputs.bindings as { name: string; type: string; className?: string }[]).map((b) => [
          b.type,
          b.name,
          b.className,
        ]),
      ).toEqual([
        ["kv_namespace", "DOCS", undefined],
        ["kv_namespace", "SESSIONS", undefined],
        ["durable_object_namespace", "LOBBIES", "Lobby"],
        ["durable_object_namespace", "COUNTERS", "Counter"],
      ]);
      expect(inputs.migrations).toEqual({
        oldTag: uploadTag(history, 0),
        newTag: uploadTag(history, 1),
        steps: [{ renamedClasses: [{ from: "Room", to: "Lobby" }] }],
      });
    });

    it("turns each declared cron into one of the Worker's schedules, and refuses a malformed one", async () => {
      const resources = await capture(
        () =>
          new FrameworkDemo("demo", args({ app: renamingApp({ crons: ["0 3 * * *", "*/15 * * * 1-5"] }) })),
      );
      expect(find(resources, CRON_TRIGGER, "demo-worker-crons").inputs.schedules).toEqual([
        { cron: "0 3 * * *" },
        { cron: "*/15 * * * 1-5" },
      ]);
      const error = await captureError(
        () => new FrameworkDemo("demo", args({ app: renamingApp({ crons: ["every day"] }) })),
      );
      expect(error.message).toBe('Worker demo-worker: cron "every day" must have 5 fields (got 2)');
    });

    it("refuses, naming the class, a class that left the declaration without a rename or the data-loss opt-in", async () => {
      const app = renamingApp();
      app.declaration.durableObjects = { LOBBIES: { className: "Lobby" } };
      const error = await captureError(() => new FrameworkDemo("demo", args({ app })));
      expect(error).toBeInstanceOf(MigrationDerivationError);
      expect(error.message).toMatch(/class Counter is no longer declared/);
    });
  });
});
