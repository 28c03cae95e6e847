import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as cloudflare from "@pulumi/cloudflare";
import { afterAll, describe, expect, it } from "vitest";
import { LOCAL_SERVICE_TYPE } from "../components/local-service";
import { D1Migrations } from "../components/migration-providers";
import { Worker } from "../components/worker";
import { capture, find, revealSecrets } from "../test/mock-program";
import { projectEntry } from "./stack-file";
import { renderGraph } from "./synth";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ENTRY = path.join(__dirname, "..", "test", "fixtures", "secret-shapes", "worker.ts");

describe("the captured inputs", () => {
  it("take a resource given as an input by its id, as the engine does", async () => {
    const resources = await capture(() => {
      const kv = new cloudflare.WorkersKvNamespace("kv", { accountId: ACCOUNT, title: "t" });
      new cloudflare.WorkersKvNamespace("other", { accountId: ACCOUNT, title: kv as unknown as string });
    });
    const kv = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "kv");
    const other = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "other");
    expect(other.inputs.title).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(renderGraph("s", [kv, other]))).not.toContain("Calling [toJSON]");
  });

  it("keep a component's inputs even where Pulumi is told to skip them (a Worker's local services)", async () => {
    process.env.PULUMI_NODEJS_SKIP_COMPONENT_INPUTS = "true";
    try {
      const resources = await capture(
        () =>
          new Worker("api", {
            accountId: ACCOUNT,
            entry: ENTRY,
            compatibilityDate: "2026-10-01",
            localServices: [{ kind: "dev-token", secret: "k3y" }],
          }),
      );
      const service = resources.find((r) => r.type === LOCAL_SERVICE_TYPE);
      expect(revealSecrets(service?.inputs)).toEqual({
        kind: "dev-token",
        secret: { secret: "k3y" },
        scriptName: "proj-test-api",
      });
    } finally {
      delete process.env.PULUMI_NODEJS_SKIP_COMPONENT_INPUTS;
    }
  });

  it("hold a D1 API token given in plain text as a secret", async () => {
    const resources = await capture(
      () =>
        new D1Migrations("m", {
          accountId: ACCOUNT,
          databaseId: "db",
          apiToken: "PLAIN-TOKEN",
          migrations: [],
          allowDataLoss: [],
        }),
    );
    const migrations = resources.find((r) => r.name === "m")!;
    expect(revealSecrets(migrations.inputs.apiToken)).toEqual({ secret: "PLAIN-TOKEN" });
    expect(JSON.stringify(renderGraph("s", resources))).not.toContain("PLAIN-TOKEN");
  });
});

describe("projectEntry", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const project = (files: Record<string, string>) => {
    const root = mkdtempSync(path.join(tmpdir(), "wp-entry-"));
    dirs.push(root);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), text);
    }
    return root;
  };
  it.each<[string, Record<string, string>, string]>([
    ["index.ts at the root", { "Pulumi.yaml": "name: p\n", "index.ts": "" }, "index.ts"],
    [
      "index.js before index.ts, as Node resolves",
      { "Pulumi.yaml": "name: p\n", "index.ts": "", "index.js": "" },
      "index.js",
    ],
    [
      "Pulumi.yaml main, a folder",
      { "Pulumi.yaml": "name: p\nmain: src/\n", "src/index.ts": "" },
      "src/index.ts",
    ],
    ["Pulumi.yaml main, a file", { "Pulumi.yaml": "name: p\nmain: app.ts\n", "app.ts": "" }, "app.ts"],
    [
      "a main without its extension",
      { "Pulumi.yaml": "name: p\nmain: dist/index\n", "dist/index.js": "" },
      "dist/index.js",
    ],
    [
      "package.json main",
      { "Pulumi.yaml": "name: p\n", "package.json": '{"main":"lib/prog.ts"}', "lib/prog.ts": "" },
      "lib/prog.ts",
    ],
  ])("finds %s", (_, files, expected) => {
    const root = project(files);
    expect(projectEntry(root)).toBe(path.join(root, expected));
  });

  it("says what to do when there is no entry", () => {
    const root = project({ "Pulumi.yaml": "name: p\n" });
    expect(() => projectEntry(root)).toThrow(`no program entry in ${root}`);
  });
});
