import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { capture, captureError, find, liveTag, shape } from "../test/mock-program";
import { type DurableObjectMigration, replayMigrations, uploadTag } from "./durable-objects";
import {
  deriveMigrations,
  durableObjectsOf,
  FrameworkApp,
  type FrameworkAppArgs,
  type FrameworkAppDeclaration,
  type FrameworkAppSource,
  KV_WRITER_BINDING,
  KV_WRITER_CLASS,
  kvNamespacesOf,
  MigrationDerivationError,
  migrationsOf,
  recordMigrations,
} from "./framework-app";
import { Queue } from "./queue";

const declare = (
  classes: string[],
  extra: Partial<FrameworkAppDeclaration> = {},
): FrameworkAppDeclaration => ({
  durableObjects: Object.fromEntries(classes.map((c) => [c.toUpperCase(), { className: c }])),
  kvNamespaces: [],
  ...extra,
});
const v1: DurableObjectMigration = { tag: "v1", newClasses: ["Room", "Counter"] };
/** A namespace that opts out of the writer. */
const lww = (binding: string) => ({ binding, writes: "last-write-wins" as const });

describe("deriveMigrations: declaration + lock → history", () => {
  it.each<{
    name: string;
    declaration: FrameworkAppDeclaration;
    lock: DurableObjectMigration[];
    added: DurableObjectMigration | undefined;
  }>([
    {
      name: "a fresh app: one step creating every class",
      declaration: declare(["Room", "Counter"]),
      lock: [],
      added: { tag: "v1", newClasses: ["Counter", "Room"] },
    },
    {
      name: "nothing changed: no step",
      declaration: declare(["Counter", "Room"]),
      lock: [v1],
      added: undefined,
    },
    {
      name: "a class added",
      declaration: declare(["Room", "Counter", "Session"]),
      lock: [v1],
      added: { tag: "v2", newClasses: ["Session"] },
    },
    {
      name: "a declared rename",
      declaration: declare(["Lobby", "Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      lock: [v1],
      added: { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] },
    },
    {
      name: "a rename already recorded is not repeated",
      declaration: declare(["Lobby", "Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      lock: [v1, { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] }],
      added: undefined,
    },
    {
      name: "a removal with the data-loss opt-in",
      declaration: declare(["Room"], { deletedClasses: [{ className: "Counter", allowDataLoss: true }] }),
      lock: [v1],
      added: { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true },
    },
    {
      name: "a serialised KV namespace: the writer class KvWriter is created like a declared class",
      declaration: declare(["Room", "Counter"], { kvNamespaces: ["DOCS", lww("CACHE")] }),
      lock: [v1],
      added: { tag: "v2", newClasses: ["KvWriter"] },
    },
    {
      name: "the writer already recorded: no step",
      declaration: declare(["Room", "Counter"], { kvNamespaces: ["DOCS"] }),
      lock: [v1, { tag: "v2", newClasses: ["KvWriter"] }],
      added: undefined,
    },
    {
      name: "every namespace last-write-wins: no writer, no step",
      declaration: declare(["Room", "Counter"], { kvNamespaces: [lww("DOCS"), lww("CACHE")] }),
      lock: [v1],
      added: undefined,
    },
    {
      name: "the writer with a new class of the app: one step creating both",
      declaration: declare(["Room", "Counter", "Session"], { kvNamespaces: ["DOCS"] }),
      lock: [v1],
      added: { tag: "v2", newClasses: ["KvWriter", "Session"] },
    },
    {
      name: "the writer no longer needed, deleted with the opt-in",
      declaration: declare(["Room", "Counter"], {
        kvNamespaces: [lww("DOCS")],
        deletedClasses: [{ className: "KvWriter", allowDataLoss: true }],
      }),
      lock: [v1, { tag: "v2", newClasses: ["KvWriter"] }],
      added: { tag: "v3", deletedClasses: ["KvWriter"], allowDataLoss: true },
    },
    {
      name: "rename, addition and removal in one step",
      declaration: declare(["Lobby", "Session"], {
        renamedClasses: [{ from: "Room", to: "Lobby" }],
        deletedClasses: [{ className: "Counter", allowDataLoss: true }],
      }),
      lock: [v1],
      added: {
        tag: "v2",
        newClasses: ["Session"],
        renamedClasses: [{ from: "Room", to: "Lobby" }],
        deletedClasses: ["Counter"],
        allowDataLoss: true,
      },
    },
  ])("$name", ({ declaration, lock, added }) => {
    const result = deriveMigrations(declaration, { steps: lock });
    expect(result.added).toEqual(added);
    expect(result.steps).toEqual(added ? [...lock, added] : lock);
    expect([...replayMigrations(result.steps).live.keys()].sort()).toEqual(
      Object.values(durableObjectsOf(declaration))
        .map((d) => d.className)
        .sort(),
    );
  });

  it.each<{ name: string; declaration: FrameworkAppDeclaration; message: RegExp }>([
    {
      name: "a class that vanished is refused, not guessed to be a rename",
      declaration: declare(["Lobby", "Counter"]),
      message: /class Room is no longer declared: declare a rename/,
    },
    {
      name: "a removal without the opt-in is refused",
      declaration: declare(["Room"]),
      message: /class Counter is no longer declared.*allowDataLoss: true/,
    },
    {
      name: "a rename of a class that does not exist",
      declaration: declare(["Room", "Counter", "Lobby"], { renamedClasses: [{ from: "Hall", to: "Lobby" }] }),
      message: /cannot be renamed to Lobby: no live class is named Hall/,
    },
    {
      name: "a rename onto an existing class",
      declaration: declare(["Counter"], { renamedClasses: [{ from: "Room", to: "Counter" }] }),
      message: /Room cannot be renamed to Counter: Counter already exists/,
    },
    {
      name: "a rename to a class no binding declares",
      declaration: declare(["Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      message: /renamed to Lobby, but no binding declares Lobby/,
    },
    {
      name: "a class both declared and deleted",
      declaration: declare(["Room", "Counter"], {
        deletedClasses: [{ className: "Counter", allowDataLoss: true }],
      }),
      message: /Counter is both declared and deleted/,
    },
    {
      name: "a declared binding named KV_WRITER is refused: the writer is derived",
      declaration: declare(["Room", "Counter"], { durableObjects: { KV_WRITER: { className: "Room" } } }),
      message:
        /binding KV_WRITER \(class Room\): KV_WRITER and KvWriter are the framework's KV writer, derived from the KV namespaces; declare neither/,
    },
    {
      name: "a declared class named KvWriter is refused: the writer is derived",
      declaration: declare(["Room", "Counter", "KvWriter"], { kvNamespaces: ["DOCS"] }),
      message: /binding KVWRITER \(class KvWriter\): KV_WRITER and KvWriter are the framework's KV writer/,
    },
    {
      name: "a KV namespace named KV_WRITER is refused",
      declaration: declare(["Room", "Counter"], { kvNamespaces: ["KV_WRITER"] }),
      message: /KV namespace KV_WRITER: the name is the framework's KV writer binding; choose another/,
    },
  ])("$name", ({ declaration, message }) => {
    expect(() => deriveMigrations(declaration, { steps: [v1] })).toThrow(MigrationDerivationError);
    expect(() => deriveMigrations(declaration, { steps: [v1] })).toThrow(message);
  });

  it("refuses, naming it as the writer, a recorded KvWriter that every namespace's opt-out leaves unneeded", () => {
    const lock = { steps: [v1, { tag: "v2", newClasses: ["KvWriter"] }] };
    expect(() =>
      deriveMigrations(declare(["Room", "Counter"], { kvNamespaces: [lww("DOCS")] }), lock),
    ).toThrow(
      "Durable Object class KvWriter, the framework's KV writer, is no longer needed (every KV namespace is last-write-wins): declare its deletion, { className: \"KvWriter\", allowDataLoss: true }, or keep a namespace's writes serialised",
    );
  });
});

describe("the KV writer, derived from the declared namespaces", () => {
  it("reads both entry forms: a binding name is serialised, the opt-out last-write-wins", () => {
    expect(kvNamespacesOf(declare([], { kvNamespaces: ["DOCS", lww("CACHE")] }))).toEqual([
      { binding: "DOCS", writes: "serialized" },
      { binding: "CACHE", writes: "last-write-wins" },
    ]);
  });

  it.each<[string, FrameworkAppDeclaration["kvNamespaces"], string[]]>([
    ["no namespace", [], ["ROOM"]],
    ["a serialised namespace", ["DOCS"], ["ROOM", "KV_WRITER"]],
    ["a serialised and an opted-out namespace", [lww("CACHE"), "DOCS"], ["ROOM", "KV_WRITER"]],
    ["only opted-out namespaces", [lww("DOCS"), lww("CACHE")], ["ROOM"]],
  ])("%s: the Worker's Durable Object bindings are %j", (_name, kvNamespaces, bindings) => {
    const objects = durableObjectsOf(declare(["Room"], { kvNamespaces }));
    expect(Object.keys(objects)).toEqual(bindings);
    if (bindings.includes(KV_WRITER_BINDING))
      expect(objects.KV_WRITER).toEqual({ className: KV_WRITER_CLASS });
  });
});

describe("recordMigrations: the lock file only grows", () => {
  it("appends the derived step and leaves recorded steps as they were", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "wp-lock-")), "migrations.lock.json");
    expect(recordMigrations(file, declare(["Room", "Counter"]))).toEqual({
      tag: "v1",
      newClasses: ["Counter", "Room"],
    });
    const first = readFileSync(file, "utf8");
    expect(recordMigrations(file, declare(["Room", "Counter"]))).toBeUndefined();
    expect(readFileSync(file, "utf8")).toBe(first);
    expect(recordMigrations(file, declare(["Room", "Counter", "Session"]))).toEqual({
      tag: "v2",
      newClasses: ["Session"],
    });
    const steps = (JSON.parse(readFileSync(file, "utf8")) as { steps: DurableObjectMigration[] }).steps;
    expect(steps).toEqual([
      { tag: "v1", newClasses: ["Counter", "Room"] },
      { tag: "v2", newClasses: ["Session"] },
    ]);
  });
});

describe("FrameworkApp: any app, from its declaration, entry and lock file", () => {
  const ACCOUNT = "0123456789abcdef0123456789abcdef";
  const ZONE = "fedcba9876543210fedcba9876543210";
  const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
  const NAMESPACE = "cloudflare:index/workersKvNamespace:WorkersKvNamespace";
  const CRON_TRIGGER = "cloudflare:index/workersCronTrigger:WorkersCronTrigger";
  const CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain";
  const SUBDOMAIN = "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain";
  /** Exports Lobby and Counter. */
  const ENTRY = path.join(__dirname, "..", "test", "fixtures", "workers", "framework-app.ts");

  /** A lock file holding `steps` (none: no file yet). */
  function lockFile(steps: DurableObjectMigration[] | undefined): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "wp-app-")), "migrations.lock.json");
    if (steps) writeFileSync(file, JSON.stringify({ steps }));
    return file;
  }
  /**
   * An app whose lock records v1 (Room, Counter) and whose declaration renames Room to Lobby. Its
   * namespaces opt out of the writer (the fixture entry exports no KvWriter); the writer has its own tests.
   */
  function renamingApp(extra: Partial<FrameworkAppDeclaration> = {}): FrameworkAppSource {
    return {
      entry: ENTRY,
      lockFile: lockFile([v1]),
      declaration: {
        durableObjects: { LOBBIES: { className: "Lobby" }, COUNTERS: { className: "Counter" } },
        kvNamespaces: [lww("DOCS"), lww("SESSIONS")],
        renamedClasses: [{ from: "Room", to: "Lobby" }],
        ...extra,
      },
    };
  }
  const history = [v1, { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] }];
  const args = (extra: Partial<FrameworkAppArgs> = {}): FrameworkAppArgs => ({
    app: renamingApp(),
    accountId: ACCOUNT,
    compatibilityDate: "2026-10-01",
    liveState: liveTag(undefined),
    ...extra,
  });

  it("registers a KV namespace per declared binding and one Worker under the component, named after it", async () => {
    const resources = await capture(() => new FrameworkApp("docs", args()));
    expect(shape(resources)).toEqual([
      `${NAMESPACE}::docs-kv`,
      `${NAMESPACE}::docs-kv-sessions`,
      `${SCRIPT}::docs-worker`,
      `${SUBDOMAIN}::docs-worker-subdomain`,
      "workers-platform:cloudflare:KvNamespace::docs-kv",
      "workers-platform:cloudflare:KvNamespace::docs-kv-sessions",
      "workers-platform:cloudflare:Worker::docs-worker",
      `${FrameworkApp.TYPE}::docs`,
    ]);
    const app = find(resources, FrameworkApp.TYPE, "docs").urn;
    expect(shape(resources.filter((r) => r.parent === app))).toEqual([
      "workers-platform:cloudflare:KvNamespace::docs-kv",
      "workers-platform:cloudflare:KvNamespace::docs-kv-sessions",
      "workers-platform:cloudflare:Worker::docs-worker",
    ]);
  });

  it("binds every declared namespace and class, and uploads the declared rename after the live v1", async () => {
    const resources = await capture(
      () => new FrameworkApp("demo", args({ liveState: liveTag(uploadTag([v1], 0)) })),
    );
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

  it("an app without a lock file yet gets one step creating every declared class; an app without KV, no namespace", async () => {
    const app: FrameworkAppSource = {
      entry: ENTRY,
      lockFile: lockFile(undefined),
      declaration: {
        durableObjects: { LOBBIES: { className: "Lobby" }, COUNTERS: { className: "Counter" } },
        kvNamespaces: [],
      },
    };
    expect(migrationsOf(app)).toEqual([{ tag: "v1", newClasses: ["Counter", "Lobby"] }]);
    const resources = await capture(() => new FrameworkApp("bare", args({ app })));
    expect(resources.filter((r) => r.type === NAMESPACE)).toEqual([]);
    const inputs = find(resources, SCRIPT, "bare-worker").inputs;
    expect((inputs.bindings as { type: string }[]).map((b) => b.type)).toEqual([
      "durable_object_namespace",
      "durable_object_namespace",
    ]);
    expect(inputs.migrations).toEqual({
      newTag: uploadTag(migrationsOf(app), 0),
      steps: [{ newSqliteClasses: ["Counter", "Lobby"] }],
    });
  });

  /** An entry exporting Lobby, Counter and the framework's writer class, KvWriter. */
  function writerEntry(): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "wp-app-entry-")), "index.ts");
    writeFileSync(
      file,
      [
        'import { DurableObject } from "cloudflare:workers";',
        "export class Lobby extends DurableObject {}",
        "export class Counter extends DurableObject {}",
        "export class KvWriter extends DurableObject {}",
        'export default { fetch: () => new Response("ok") };',
        "",
      ].join("\n"),
    );
    return file;
  }
  /** Lobby and Counter (v1 recorded as Lobby, Counter) with `kvNamespaces`, on `steps` of lock. */
  function writerApp(
    kvNamespaces: FrameworkAppDeclaration["kvNamespaces"],
    steps: DurableObjectMigration[],
  ): FrameworkAppSource {
    return {
      entry: writerEntry(),
      lockFile: lockFile(steps),
      declaration: {
        durableObjects: { LOBBIES: { className: "Lobby" }, COUNTERS: { className: "Counter" } },
        kvNamespaces,
      },
    };
  }
  const lobbyV1: DurableObjectMigration = { tag: "v1", newClasses: ["Counter", "Lobby"] };
  const writerV2: DurableObjectMigration = { tag: "v2", newClasses: ["KvWriter"] };
  const bindingsOf = (resources: Awaited<ReturnType<typeof capture>>, name: string) =>
    (
      find(resources, SCRIPT, name).inputs.bindings as { name: string; type: string; className?: string }[]
    ).map((b) => [b.type, b.name, b.className]);

  it("a serialised namespace: the Worker binds KV_WRITER to KvWriter, and once the lock records it no new step", async () => {
    const app = writerApp(["DOCS", lww("CACHE")], [lobbyV1, writerV2]);
    expect(migrationsOf(app)).toEqual([lobbyV1, writerV2]);
    const live = uploadTag([lobbyV1, writerV2], 1);
    const resources = await capture(() => new FrameworkApp("docs", args({ app, liveState: liveTag(live) })));
    // Both entry forms are KV namespaces, named as before.
    expect(shape(resources.filter((r) => r.type === NAMESPACE))).toEqual([
      `${NAMESPACE}::docs-kv`,
      `${NAMESPACE}::docs-kv-cache`,
    ]);
    expect(bindingsOf(resources, "docs-worker")).toEqual([
      ["kv_namespace", "DOCS", undefined],
      ["kv_namespace", "CACHE", undefined],
      ["durable_object_namespace", "LOBBIES", "Lobby"],
      ["durable_object_namespace", "COUNTERS", "Counter"],
      ["durable_object_namespace", "KV_WRITER", "KvWriter"],
    ]);
    expect(find(resources, SCRIPT, "docs-worker").inputs).not.toHaveProperty("migrations");
  });

  it("the lock lacks the writer: the derived step creating KvWriter (SQLite) is uploaded after the live v1", async () => {
    const app = writerApp(["DOCS"], [lobbyV1]);
    expect(migrationsOf(app)).toEqual([lobbyV1, writerV2]);
    const resources = await capture(
      () => new FrameworkApp("docs", args({ app, liveState: liveTag(uploadTag([lobbyV1], 0)) })),
    );
    expect(find(resources, SCRIPT, "docs-worker").inputs.migrations).toEqual({
      oldTag: uploadTag([lobbyV1], 0),
      newTag: uploadTag([lobbyV1, writerV2], 1),
      steps: [{ newSqliteClasses: ["KvWriter"] }],
    });
  });

  it("only opted-out namespaces: no writer binding and no writer step", async () => {
    const app = writerApp([lww("DOCS"), lww("CACHE")], [lobbyV1]);
    expect(migrationsOf(app)).toEqual([lobbyV1]);
    const resources = await capture(
      () => new FrameworkApp("docs", args({ app, liveState: liveTag(uploadTag([lobbyV1], 0)) })),
    );
    expect(bindingsOf(resources, "docs-worker")).toEqual([
      ["kv_namespace", "DOCS", undefined],
      ["kv_namespace", "CACHE", undefined],
      ["durable_object_namespace", "LOBBIES", "Lobby"],
      ["durable_object_namespace", "COUNTERS", "Counter"],
    ]);
    expect(find(resources, SCRIPT, "docs-worker").inputs).not.toHaveProperty("migrations");
  });

  it("turns each declared cron into one of the Worker's schedules, and refuses a malformed one", async () => {
    const resources = await capture(
      () => new FrameworkApp("demo", args({ app: renamingApp({ crons: ["0 3 * * *", "*/15 * * * 1-5"] }) })),
    );
    expect(find(resources, CRON_TRIGGER, "demo-worker-crons").inputs.schedules).toEqual([
      { cron: "0 3 * * *" },
      { cron: "*/15 * * * 1-5" },
    ]);
    const error = await captureError(
      () => new FrameworkApp("demo", args({ app: renamingApp({ crons: ["every day"] }) })),
    );
    expect(error.message).toBe('Worker demo-worker: cron "every day" must have 5 fields (got 2)');
  });

  it("refuses, naming the class, a class that left the declaration without a rename or the data-loss opt-in", async () => {
    const app = renamingApp();
    app.declaration.durableObjects = { LOBBIES: { className: "Lobby" } };
    const error = await captureError(() => new FrameworkApp("demo", args({ app })));
    expect(error).toBeInstanceOf(MigrationDerivationError);
    expect(error.message).toMatch(/class Counter is no longer declared/);
  });

  it.each([
    [true, [`${NAMESPACE}::demo-kv`, `${NAMESPACE}::demo-kv-sessions`]],
    [false, []],
    [undefined, []],
  ])("with protect: %s protects and retains exactly %j", async (protect, expected) => {
    const resources = await capture(() => new FrameworkApp("demo", args({ protect })));
    expect(shape(resources.filter((r) => r.protect))).toEqual(expected);
    expect(shape(resources.filter((r) => r.retainOnDelete))).toEqual(expected);
  });

  it("adds a custom domain only when one is given", async () => {
    const withDomain = await capture(
      () => new FrameworkApp("demo", args({ domain: { hostname: "app.example.net", zoneId: ZONE } })),
    );
    expect(shape(withDomain.filter((r) => r.type === CUSTOM_DOMAIN))).toEqual([
      `${CUSTOM_DOMAIN}::demo-worker-domain-0`,
    ]);
    expect(find(withDomain, CUSTOM_DOMAIN, "demo-worker-domain-0").inputs).toEqual({
      accountId: ACCOUNT,
      hostname: "app.example.net",
      service: "proj-test-demo-worker",
      zoneId: ZONE,
    });
    const without = await capture(() => new FrameworkApp("demo", args()));
    expect(without.filter((r) => r.type === CUSTOM_DOMAIN)).toEqual([]);
  });

  it.each([
    ["smart", { mode: "smart" }],
    ["off", undefined],
    [undefined, undefined],
  ] as const)("with placement %s sets the script's placement to %j", async (placement, expected) => {
    const resources = await capture(() => new FrameworkApp("demo", args({ placement })));
    expect(find(resources, SCRIPT, "demo-worker").inputs.placement).toEqual(expected);
  });

  it("turns off the workers.dev subdomain when workersDev is false", async () => {
    const resources = await capture(() => new FrameworkApp("demo", args({ workersDev: false })));
    expect(find(resources, SUBDOMAIN, "demo-worker-subdomain").inputs.enabled).toBe(false);
  });

  it("transform.worker is the Worker's own transform: its script and its other children, and no namespace", async () => {
    const untouched = await capture(
      () => new FrameworkApp("demo", args({ app: renamingApp({ crons: ["0 3 * * *"] }) })),
    );
    const resources = await capture(
      () =>
        new FrameworkApp(
          "demo",
          args({
            app: renamingApp({ crons: ["0 3 * * *"] }),
            transform: {
              worker: {
                script: (a) => ({ ...a, logpush: true }),
                crons: (a) => ({ ...a, schedules: [{ cron: "0 4 * * *" }] }),
              },
            },
          }),
        ),
    );
    const script = find(resources, SCRIPT, "demo-worker");
    expect(script.inputs).toEqual({ ...find(untouched, SCRIPT, "demo-worker").inputs, logpush: true });
    expect(find(resources, CRON_TRIGGER, "demo-worker-crons").inputs).toEqual({
      ...find(untouched, CRON_TRIGGER, "demo-worker-crons").inputs,
      schedules: [{ cron: "0 4 * * *" }],
    });
    for (const ns of ["demo-kv", "demo-kv-sessions"]) {
      expect(find(resources, NAMESPACE, ns).inputs).toEqual(find(untouched, NAMESPACE, ns).inputs);
    }
  });

  it("transform.kvNamespaces is each KV namespace's own transform, and touches nothing else", async () => {
    const untouched = await capture(() => new FrameworkApp("demo", args()));
    const resources = await capture(
      () =>
        new FrameworkApp(
          "demo",
          args({
            transform: {
              kvNamespaces: {
                namespace: (a, opts) => {
                  opts.protect = true;
                  return { ...a, title: `${String(a.title)}-custom` };
                },
              },
            },
          }),
        ),
    );
    expect(find(resources, NAMESPACE, "demo-kv").inputs.title).toBe("proj-test-demo-kv-custom");
    expect(find(resources, NAMESPACE, "demo-kv-sessions").inputs.title).toBe(
      "proj-test-demo-kv-sessions-custom",
    );
    expect(shape(resources.filter((r) => r.protect))).toEqual([
      `${NAMESPACE}::demo-kv`,
      `${NAMESPACE}::demo-kv-sessions`,
    ]);
    expect(find(resources, SCRIPT, "demo-worker").inputs).toEqual(
      find(untouched, SCRIPT, "demo-worker").inputs,
    );
  });

  it("uploads the script only after what the app itself depends on", async () => {
    const resources = await capture(() => {
      const schema = new Queue("schema", { accountId: ACCOUNT });
      return new FrameworkApp("demo", args(), { dependsOn: [schema] });
    });
    expect(find(resources, SCRIPT, "demo-worker").dependsOn).toEqual(
      [
        find(resources, NAMESPACE, "demo-kv").urn,
        find(resources, NAMESPACE, "demo-kv-sessions").urn,
        find(resources, "cloudflare:index/queue:Queue", "schema").urn,
      ].sort(),
    );
  });
});
