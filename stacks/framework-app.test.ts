// The framework app (workers-src/demo) as stacks/program.ts deploys it with the FrameworkApp component.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundleWorker } from "../components/bundle";
import { uploadTag } from "../components/durable-objects";
import { FrameworkApp, type FrameworkAppArgs, migrationsOf } from "../components/framework-app";
import { capture, find, liveTag, shape } from "../test/mock-program";
import { FRAMEWORK_APP } from "./framework-app";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ENTRY = path.join(__dirname, "..", "workers-src", "demo", "index.ts");
const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
const NAMESPACE = "cloudflare:index/workersKvNamespace:WorkersKvNamespace";
const CRON_TRIGGER = "cloudflare:index/workersCronTrigger:WorkersCronTrigger";

/** Args as stacks/program.ts builds them from a validated stack config (the schema's defaults). */
const args = (extra: Partial<FrameworkAppArgs> = {}): FrameworkAppArgs => ({
  app: FRAMEWORK_APP,
  accountId: ACCOUNT,
  compatibilityDate: "2026-10-01",
  placement: "off",
  observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
  workersDev: true,
  protect: false,
  liveState: liveTag(undefined),
  ...extra,
});

/** The app's history: its lock file, plus a step its declaration would ask for (none: v3 is recorded). */
const HISTORY = migrationsOf(FRAMEWORK_APP);

/** Captures the app and the KV namespace id the Worker's binding should carry. */
async function captureApp(a: FrameworkAppArgs) {
  let kvId: string | undefined;
  const resources = await capture(() => {
    const app = new FrameworkApp("demo", a);
    app.kvNamespaces.DEMO_KV?.id.apply((v) => {
      kvId = v;
    });
  });
  return { resources, kvId };
}

describe("the framework app as the program deploys it", () => {
  it("registers a KV namespace, one Worker and its declared cron under the component, and nothing else", async () => {
    const { resources } = await captureApp(args());
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersCronTrigger:WorkersCronTrigger::demo-worker-crons",
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::demo-kv",
      "cloudflare:index/workersScript:WorkersScript::demo-worker",
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::demo-worker-subdomain",
      "workers-platform:cloudflare:KvNamespace::demo-kv",
      "workers-platform:cloudflare:Worker::demo-worker",
      "workers-platform:framework:FrameworkDemo::demo",
    ]);
    const app = find(resources, FrameworkApp.TYPE, "demo").urn;
    expect(shape(resources.filter((r) => r.parent === app))).toEqual([
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

  it("uploads the app's bundle to a fresh script with DEMO_KV, ROOMS, COUNTERS, SESSIONS and the derived KV_WRITER and migrations v1, v2 then v3 in SQLite", async () => {
    const live = liveTag(undefined);
    const { resources, kvId } = await captureApp(args({ liveState: live }));
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
        // DEMO_KV's writes are serialised: the framework's writer is derived from the declaration.
        { type: "durable_object_namespace", name: "KV_WRITER", className: "KvWriter" },
      ],
      migrations: {
        newTag: uploadTag(HISTORY, 2),
        steps: [
          { newSqliteClasses: ["DemoObject"] },
          { newSqliteClasses: ["Counter", "Session"], renamedClasses: [{ from: "DemoObject", to: "Room" }] },
          { newSqliteClasses: ["KvWriter"] },
        ],
      },
      observability: {
        enabled: true,
        headSamplingRate: 1,
        logs: { enabled: true, invocationLogs: true, headSamplingRate: 1 },
      },
    });
    expect(uploadTag(HISTORY, 2)).toMatch(/^v3@[0-9a-f]{10}$/);
    expect(live.asked).toEqual([`${ACCOUNT}/proj-test-demo-worker`]);
    // The binding needs the namespace to exist first.
    expect(script.dependsOn).toContain(find(resources, NAMESPACE, "demo-kv").urn);
  });

  it("keeps the app Worker's Durable Object history as released (append only): v1, v2 renaming DemoObject to Room, v3 the KV writer", () => {
    expect(HISTORY).toEqual([
      { tag: "v1", newClasses: ["DemoObject"] },
      {
        tag: "v2",
        newClasses: ["Counter", "Session"],
        renamedClasses: [{ from: "DemoObject", to: "Room" }],
      },
      { tag: "v3", newClasses: ["KvWriter"] },
    ]);
  });

  it("uploads steps v2 (the rename and the new classes) and v3 (the writer) when the live tag is v1", async () => {
    const { resources } = await captureApp(args({ liveState: liveTag(uploadTag(HISTORY, 0)) }));
    expect(find(resources, SCRIPT, "demo-worker").inputs.migrations).toEqual({
      oldTag: uploadTag(HISTORY, 0),
      newTag: uploadTag(HISTORY, 2),
      steps: [
        { newSqliteClasses: ["Counter", "Session"], renamedClasses: [{ from: "DemoObject", to: "Room" }] },
        { newSqliteClasses: ["KvWriter"] },
      ],
    });
  });

  it("uploads only step v3, the KV writer's class, when the live tag is v2", async () => {
    const { resources } = await captureApp(args({ liveState: liveTag(uploadTag(HISTORY, 1)) }));
    expect(find(resources, SCRIPT, "demo-worker").inputs.migrations).toEqual({
      oldTag: uploadTag(HISTORY, 1),
      newTag: uploadTag(HISTORY, 2),
      steps: [{ newSqliteClasses: ["KvWriter"] }],
    });
  });

  it("uploads no migration when the live tag is already v3", async () => {
    const { resources } = await captureApp(args({ liveState: liveTag(uploadTag(HISTORY, 2)) }));
    expect(find(resources, SCRIPT, "demo-worker").inputs).not.toHaveProperty("migrations");
  });
});
