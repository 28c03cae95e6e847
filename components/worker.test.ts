import path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { capture, find, liveTag, revealSecrets, shape } from "../test/mock-program";
import { bundleWorker } from "./bundle";
import { uploadTag } from "./durable-objects";
import { KvNamespace } from "./kv";
import { Queue } from "./queue";
import { R2Bucket } from "./r2";
import { Worker, type WorkerArgs } from "./worker";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ENTRY = path.join(__dirname, "..", "test", "fixtures", "workers", "exports.ts");
const SCRIPT = "cloudflare:index/workersScript:WorkersScript";

const base = (extra: Partial<WorkerArgs> = {}): WorkerArgs => ({
  accountId: ACCOUNT,
  entry: ENTRY,
  compatibilityDate: "2026-10-01",
  ...extra,
});

describe("Worker", () => {
  it("uploads the bundled entry as one WorkersScript with a workers.dev subdomain", async () => {
    const resources = await capture(() => new Worker("api", base()));
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersScript:WorkersScript::api",
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::api-subdomain",
      "workers-platform:cloudflare:Worker::api",
    ]);
    const bundle = await bundleWorker(ENTRY, { nodejsCompat: false });
    const script = find(resources, SCRIPT, "api");
    expect(script.inputs).toEqual({
      accountId: ACCOUNT,
      scriptName: "proj-test-api",
      mainModule: "index.js",
      content: bundle.content,
      compatibilityDate: "2026-10-01",
      compatibilityFlags: [],
      bindings: [],
    });
    expect(
      find(resources, "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain", "api-subdomain")
        .inputs,
    ).toEqual({
      accountId: ACCOUNT,
      scriptName: "proj-test-api",
      enabled: true,
      previewsEnabled: false,
    });
  });

  it("does not ask for a live tag when it has no Durable Objects", async () => {
    const live = liveTag("v9");
    await capture(() => new Worker("api", base({ liveState: live })));
    expect(live.asked).toEqual([]);
  });

  it("declares every binding kind with the provider's field names", async () => {
    const resources = await capture(() => {
      const kv = new KvNamespace("kv", { accountId: ACCOUNT });
      const bucket = new R2Bucket("files", { accountId: ACCOUNT });
      const queue = new Queue("jobs", { accountId: ACCOUNT });
      const other = new Worker("other", base({ scriptName: "other-script" }));
      return new Worker(
        "api",
        base({
          nodejsCompat: true,
          compatibilityFlags: ["nodejs_compat", "streams_enable_constructors"],
          kvNamespaces: { CACHE: kv, RAW_KV: "kv-id-1" },
          d1Databases: { DB: "d1-uuid" },
          r2Buckets: { FILES: bucket },
          hyperdrives: { HYPERDRIVE: { id: "hd-id" } },
          durableObjects: {
            ALPHA: { className: "Alpha" },
            REMOTE: { className: "Remote", script: other },
          },
          durableObjectMigrations: [{ tag: "v1", newClasses: ["Alpha"] }],
          services: { OTHER: { service: other, entrypoint: "Api" }, PLAIN: { service: "plain-script" } },
          queues: { JOBS: queue },
          analyticsEngineDatasets: { METRICS: "metrics_ds" },
          vars: { MODE: "test" },
          secrets: { TOKEN: "t0ken" },
          liveState: liveTag(undefined),
        }),
      );
    });
    const script = find(resources, SCRIPT, "api");
    expect(script.inputs.compatibilityFlags).toEqual(["nodejs_compat", "streams_enable_constructors"]);
    // Only the secret binding's value is secret: the rest of the list shows in a diff.
    expect(revealSecrets(script.inputs.bindings)).toEqual([
      { type: "kv_namespace", name: "CACHE", namespaceId: expect.stringMatching(/^[0-9a-f]{32}$/) },
      { type: "kv_namespace", name: "RAW_KV", namespaceId: "kv-id-1" },
      { type: "d1", name: "DB", id: "d1-uuid" },
      { type: "r2_bucket", name: "FILES", bucketName: "proj-test-files" },
      { type: "hyperdrive", name: "HYPERDRIVE", id: "hd-id" },
      { type: "durable_object_namespace", name: "ALPHA", className: "Alpha" },
      { type: "durable_object_namespace", name: "REMOTE", className: "Remote", scriptName: "other-script" },
      { type: "service", name: "OTHER", service: "other-script", entrypoint: "Api" },
      { type: "service", name: "PLAIN", service: "plain-script" },
      { type: "queue", name: "JOBS", queueName: "proj-test-jobs" },
      { type: "analytics_engine", name: "METRICS", dataset: "metrics_ds" },
      { type: "plain_text", name: "MODE", text: "test" },
      { type: "secret_text", name: "TOKEN", text: { secret: "t0ken" } },
    ]);
    // The other Worker's script must exist before a binding to its class or entrypoint is uploaded.
    expect(script.dependsOn).toContain(find(resources, SCRIPT, "other").urn);
  });

  it("uploads every migration step, SQLite-backed, to a fresh script", async () => {
    const live = liveTag(undefined);
    const history = [
      { tag: "v1", newClasses: ["Alpha"] },
      { tag: "v2", newClasses: ["Beta"] },
    ];
    const resources = await capture(
      () =>
        new Worker(
          "api",
          base({
            durableObjects: { ALPHA: { className: "Alpha" }, BETA: { className: "Beta" } },
            durableObjectMigrations: history,
            liveState: live,
          }),
        ),
    );
    expect(live.asked).toEqual([`${ACCOUNT}/proj-test-api`]);
    expect(find(resources, SCRIPT, "api").inputs.migrations).toEqual({
      newTag: uploadTag(history, 1),
      steps: [{ newSqliteClasses: ["Alpha"] }, { newSqliteClasses: ["Beta"] }],
    });
  });

  it("uploads only the steps after the live tag, and none when nothing is pending", async () => {
    const history = [
      { tag: "v1", newClasses: ["Alpha"] },
      { tag: "v2", newClasses: ["Beta"] },
    ];
    const args = (tag: string) =>
      base({
        durableObjects: { ALPHA: { className: "Alpha" }, BETA: { className: "Beta" } },
        durableObjectMigrations: history,
        liveState: liveTag(tag),
      });
    const pending = await capture(() => new Worker("api", args(uploadTag(history, 0))));
    expect(find(pending, SCRIPT, "api").inputs.migrations).toEqual({
      oldTag: uploadTag(history, 0),
      newTag: uploadTag(history, 1),
      steps: [{ newSqliteClasses: ["Beta"] }],
    });
    const current = await capture(() => new Worker("api", args(uploadTag(history, 1))));
    expect(find(current, SCRIPT, "api").inputs).not.toHaveProperty("migrations");
  });

  it.each([
    [
      "a live tag missing from the history",
      {
        durableObjects: { ALPHA: { className: "Alpha" } },
        durableObjectMigrations: [{ tag: "v1", newClasses: ["Alpha"] }],
      },
      "v7",
      /"v7"/,
    ],
    [
      "a binding to an own class that no step creates",
      {
        durableObjects: { BETA: { className: "Beta" } },
        durableObjectMigrations: [{ tag: "v1", newClasses: ["Alpha"] }],
      },
      undefined,
      /Beta/,
    ],
    [
      "a class the bundle does not export",
      {
        durableObjects: { GAMMA: { className: "Gamma" } },
        durableObjectMigrations: [{ tag: "v1", newClasses: ["Gamma"] }],
      },
      undefined,
      /Gamma.*not exported/,
    ],
    [
      "a delete step without allowDataLoss",
      {
        durableObjects: { BETA: { className: "Beta" } },
        durableObjectMigrations: [
          { tag: "v1", newClasses: ["Alpha", "Beta"] },
          { tag: "v2", deletedClasses: ["Alpha"] },
        ],
      },
      undefined,
      /Alpha.*allowDataLoss/s,
    ],
  ])("refuses, before anything is uploaded, %s", async (_case, extra, tag, message) => {
    await expect(
      capture(() => new Worker("api", base({ ...(extra as Partial<WorkerArgs>), liveState: liveTag(tag) }))),
    ).rejects.toThrow(message);
  });

  it("declares placement, observability, crons, domains, routes, workers.dev and queue consumers", async () => {
    const resources = await capture(() => {
      const queue = new Queue("jobs", { accountId: ACCOUNT });
      return new Worker(
        "api",
        base({
          placement: "smart",
          observability: { enabled: true, headSamplingRate: 0.25 },
          crons: ["*/5 * * * *"],
          customDomains: [{ hostname: "api.example.net", zoneId: "zone-1" }],
          routes: [{ pattern: "example.net/api/*", zoneId: "zone-1" }],
          workersDev: false,
          queueConsumers: [{ queue, batchSize: 5, deadLetterQueue: "dlq" }],
        }),
      );
    });
    const script = find(resources, SCRIPT, "api");
    expect(script.inputs.placement).toEqual({ mode: "smart" });
    expect(script.inputs.observability).toEqual({
      enabled: true,
      headSamplingRate: 0.25,
      logs: { enabled: true, invocationLogs: true, headSamplingRate: 0.25 },
    });
    const after = [script.urn];
    const cron = find(resources, "cloudflare:index/workersCronTrigger:WorkersCronTrigger", "api-crons");
    expect(cron.inputs).toEqual({
      accountId: ACCOUNT,
      scriptName: "proj-test-api",
      schedules: [{ cron: "*/5 * * * *" }],
    });
    expect(cron.dependsOn).toEqual(after);
    expect(
      find(resources, "cloudflare:index/workersCustomDomain:WorkersCustomDomain", "api-domain-0").inputs,
    ).toEqual({
      accountId: ACCOUNT,
      hostname: "api.example.net",
      service: "proj-test-api",
      zoneId: "zone-1",
    });
    expect(find(resources, "cloudflare:index/workersRoute:WorkersRoute", "api-route-0").inputs).toEqual({
      zoneId: "zone-1",
      pattern: "example.net/api/*",
      script: "proj-test-api",
    });
    expect(
      find(resources, "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain", "api-subdomain")
        .inputs.enabled,
    ).toBe(false);
    expect(find(resources, "cloudflare:index/queueConsumer:QueueConsumer", "api-consumer-0").inputs).toEqual({
      accountId: ACCOUNT,
      queueId: expect.stringMatching(/^[0-9a-f]{32}$/),
      scriptName: "proj-test-api",
      type: "worker",
      deadLetterQueue: "dlq",
      settings: { batchSize: 5, maxRetries: 3, maxWaitTimeMs: 5000 },
    });
  });

  it("uploads the script only after what the Worker itself depends on; its other children wait for the script", async () => {
    const resources = await capture(() => {
      const schema = new Queue("schema", { accountId: ACCOUNT });
      const other = new Worker("other", base({ scriptName: "other-script" }));
      return new Worker("api", base({ services: { OTHER: { service: other } }, crons: ["*/5 * * * *"] }), {
        dependsOn: [schema],
      });
    });
    const script = find(resources, SCRIPT, "api");
    expect(script.dependsOn).toEqual(
      [
        find(resources, SCRIPT, "other").urn,
        find(resources, "cloudflare:index/queue:Queue", "schema").urn,
      ].sort(),
    );
    expect(
      find(resources, "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain", "api-subdomain")
        .dependsOn,
    ).toEqual([script.urn]);
    expect(
      find(resources, "cloudflare:index/workersCronTrigger:WorkersCronTrigger", "api-crons").dependsOn,
    ).toEqual([script.urn]);
  });

  describe("Pulumi's own transform options on the component", () => {
    const CRON = "cloudflare:index/workersCronTrigger:WorkersCronTrigger";

    it("`transformations` given to the Worker reach its children (applied in the SDK, after `transform`)", async () => {
      const program = (opts?: pulumi.ComponentResourceOptions) => () =>
        new Worker(
          "api",
          base({
            crons: ["*/5 * * * *"],
            transform: { crons: (a) => ({ ...a, schedules: [{ cron: "0 * * * *" }] }) },
          }),
          opts,
        );
      const plain = await capture(program());
      const changed = await capture(
        program({
          transformations: [
            ({ type, props, opts }) =>
              type === CRON
                ? { props: { ...props, schedules: [...props.schedules, { cron: "30 * * * *" }] }, opts }
                : undefined,
          ],
        }),
      );
      expect(shape(changed)).toEqual(shape(plain));
      for (const before of plain) {
        const after = find(changed, before.type, before.name);
        expect(after.inputs, before.name).toEqual(
          before.type === CRON
            ? { ...before.inputs, schedules: [{ cron: "0 * * * *" }, { cron: "30 * * * *" }] }
            : before.inputs,
        );
      }
    });

    it("`transforms` (run by the engine) cannot be exercised under Pulumi's mocks: the mock runtime refuses them", async () => {
      await expect(
        capture(
          () =>
            new Worker("api", base(), {
              transforms: [async ({ props, opts }) => ({ props, opts })],
            }),
        ),
      ).rejects.toThrow("The Pulumi CLI does not support transforms");
    });
  });

  it("lets a transform adjust the script's args", async () => {
    const resources = await capture(
      () => new Worker("api", base({ transform: { script: (args) => ({ ...args, logpush: true }) } })),
    );
    expect(find(resources, SCRIPT, "api").inputs.logpush).toBe(true);
  });

  describe("transform", () => {
    // Every kind of child, two of each repeated one, so a test sees a transform reach all of its kind.
    const everyChild = (transform?: WorkerArgs["transform"]) => () => {
      const jobs = new Queue("jobs", { accountId: ACCOUNT });
      const mail = new Queue("mail", { accountId: ACCOUNT });
      return new Worker(
        "api",
        base({
          crons: ["*/5 * * * *"],
          customDomains: [
            { hostname: "api.example.net", zoneId: "zone-1" },
            { hostname: "api.example.org", zoneId: "zone-2" },
          ],
          routes: [
            { pattern: "example.net/api/*", zoneId: "zone-1" },
            { pattern: "example.org/api/*", zoneId: "zone-2" },
          ],
          queueConsumers: [{ queue: jobs }, { queue: mail }],
          transform,
        }),
      );
    };
    const CHILD = {
      script: SCRIPT,
      subdomain: "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain",
      crons: "cloudflare:index/workersCronTrigger:WorkersCronTrigger",
      customDomain: "cloudflare:index/workersCustomDomain:WorkersCustomDomain",
      route: "cloudflare:index/workersRoute:WorkersRoute",
      queueConsumer: "cloudflare:index/queueConsumer:QueueConsumer",
    };
    type Entry = keyof NonNullable<WorkerArgs["transform"]>;
    // Each entry sets one field, by returning new args or by mutating them in place.
    const cases: [Entry, NonNullable<WorkerArgs["transform"]>, Record<string, unknown>][] = [
      ["script", { script: (a) => ({ ...a, logpush: true }) }, { logpush: true }],
      [
        "subdomain",
        {
          subdomain: (a) => {
            a.previewsEnabled = true;
            return undefined;
          },
        },
        { previewsEnabled: true },
      ],
      [
        "crons",
        { crons: (a) => ({ ...a, schedules: [{ cron: "0 * * * *" }] }) },
        { schedules: [{ cron: "0 * * * *" }] },
      ],
      [
        "customDomain",
        { customDomain: (a) => ({ ...a, environment: "production" }) },
        { environment: "production" },
      ],
      ["route", { route: (a) => ({ ...a, script: "other-script" }) }, { script: "other-script" }],
      [
        "queueConsumer",
        { queueConsumer: (a) => ({ ...a, settings: { batchSize: 50 } }) },
        { settings: { batchSize: 50 } },
      ],
    ];

    it.each(cases)(
      "%s changes every child of its kind and nothing else",
      async (entry, transform, change) => {
        const plain = await capture(everyChild());
        const changed = await capture(everyChild(transform));
        expect(shape(changed)).toEqual(shape(plain));
        const ofKind = plain.filter((r) => r.type === CHILD[entry]);
        expect(ofKind.length).toBeGreaterThanOrEqual(1);
        if (entry === "customDomain" || entry === "route" || entry === "queueConsumer") {
          expect(ofKind).toHaveLength(2);
        }
        for (const before of plain) {
          const after = find(changed, before.type, before.name);
          const expected = before.type === CHILD[entry] ? { ...before.inputs, ...change } : before.inputs;
          expect(after.inputs, `${before.type}::${before.name}`).toEqual(expected);
          expect(after.dependsOn).toEqual(before.dependsOn);
          expect(after.parent).toEqual(before.parent);
        }
      },
    );

    it("gives each child its own options, so a transform that changes one child's options changes no other", async () => {
      const resources = await capture(() => {
        const extra = new Queue("extra", { accountId: ACCOUNT });
        return everyChild({
          route: (a, o) => {
            o.dependsOn = [...(o.dependsOn as pulumi.Resource[]), extra];
            return a;
          },
        })();
      });
      const extraUrn = find(resources, "cloudflare:index/queue:Queue", "extra").urn;
      for (const r of resources.filter(
        (r) => r.parent === find(resources, "workers-platform:cloudflare:Worker", "api").urn,
      )) {
        expect(r.dependsOn.includes(extraUrn), `${r.type}::${r.name}`).toBe(r.type === CHILD.route);
      }
    });
  });

  it.each([
    [
      "a binding name that is not an identifier",
      { vars: { "BAD-NAME": "x" } },
      'binding name "BAD-NAME" must be a JavaScript identifier',
    ],
    [
      "a binding name used twice",
      { vars: { X: "a" }, secrets: { X: "b" } },
      'binding name "X" is used twice',
    ],
    ["a cron without five fields", { crons: ["every minute"] }, 'cron "every minute" must have 5 fields'],
    [
      "a cron with a minute out of range",
      { crons: ["*/5 * * * *", "60 * * * *"] },
      'Worker api: cron "60 * * * *": minute "60" must be between 0 and 59',
    ],
    [
      "a cron with day of week 0 (Cloudflare counts 1-7 from Sunday)",
      { crons: ["0 0 * * 0"] },
      'Worker api: cron "0 0 * * 0": day of week "0" must be between 1 and 7 or SUN-SAT',
    ],
    ["a script name Cloudflare refuses", { scriptName: "Bad Name" }, 'script name "Bad Name" must be 1-63'],
  ])("refuses %s", async (_case, extra, message) => {
    await expect(capture(() => new Worker("api", base(extra as Partial<WorkerArgs>)))).rejects.toThrow(
      message,
    );
  });

  it("accepts the crons Cloudflare accepts, Quartz's L, W and # included", async () => {
    const crons = [
      "0 0 L * *",
      "59 23 LW * *",
      "0 0 15W * *",
      "0 18 * * friL",
      "0 0 * * 6#3",
      "10 7 * * 2-6",
    ];
    const resources = await capture(() => new Worker("api", base({ crons })));
    expect(
      find(resources, "cloudflare:index/workersCronTrigger:WorkersCronTrigger", "api-crons").inputs.schedules,
    ).toEqual(crons.map((cron) => ({ cron })));
  });

  it("rejects with the bundler's message when the entry does not build", async () => {
    const broken = path.join(__dirname, "..", "test", "fixtures", "workers", "broken.ts");
    await expect(capture(() => new Worker("api", base({ entry: broken })))).rejects.toThrow(/does-not-exist/);
  });
});
