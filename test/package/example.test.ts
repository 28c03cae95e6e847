// The example (examples/notes-board) as its user would have it: a temporary copy with the packed tarball
// installed in place of its file:../.. dependency, synthesized and served by the installed command.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../components/package-root";
import {
  descendantCommands,
  npmInstall,
  pinnedPeers,
  removeAll,
  runCommand,
  sharedTarball,
  startCommand,
} from "./packed";

const EXAMPLE = path.join(packageRoot(), "examples", "notes-board");

let tarball: string;
let ownTarball = false;
let example: string;
const scratch = mkdtempSync(path.join(tmpdir(), "wp-example-"));

beforeAll(async () => {
  ({ tarball, ownTarball } = await sharedTarball());
  // A temporary copy of the example, as a user would have it: its own files, none of what a run left.
  example = path.join(scratch, "notes-board");
  cpSync(EXAMPLE, example, {
    recursive: true,
    filter: (src) => !/(^|\/)(node_modules|\.local|package-lock\.json)$/.test(path.relative(EXAMPLE, src)),
  });
  await npmInstall(example, { "workers-platform": `file:${tarball}` });
}, 300_000);

afterAll(() => removeAll(scratch, ownTarball ? path.dirname(tarball) : undefined));

// Each command is a process that loads the Pulumi SDK (and starts workerd for start): slow on a loaded machine.
describe("the example (examples/notes-board), installed from the tarball into a temporary copy", {
  timeout: 120_000,
}, () => {
  it("depends on the package by its name, and its Worker imports the framework through the package's entry", () => {
    const manifest = JSON.parse(readFileSync(path.join(EXAMPLE, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies["workers-platform"]).toBe("file:../..");
    expect(manifest.dependencies["@pulumi/pulumi"]).toBe(pinnedPeers()["@pulumi/pulumi"]);
    expect(manifest.dependencies["@pulumi/cloudflare"]).toBe(pinnedPeers()["@pulumi/cloudflare"]);
    const worker = readFileSync(path.join(example, "src", "worker.ts"), "utf8");
    expect(worker).toContain('from "workers-platform/framework"');
    const program = readFileSync(path.join(example, "index.ts"), "utf8");
    expect(program).toContain('from "workers-platform"');
    // No path into the repository: the only framework code the copy can reach is the installed entry.
    expect(`${worker}\n${program}`).not.toMatch(/from "\.\.\//);
    expect(
      existsSync(path.join(example, "node_modules", "workers-platform", "dist", "framework", "index.js")),
    ).toBe(true);
  });

  it("type-checks: the program against the components' .d.ts (node16), the Worker against the framework's (bundler)", () => {
    const result = spawnSync("npm", ["run", "typecheck"], { cwd: example, encoding: "utf8" });
    expect({ status: result.status, errors: result.stdout.match(/error TS\d+.*/g) ?? [] }).toEqual({
      status: 0,
      errors: [],
    });
  });

  it("synthesizes the example's graph: KV, D1 with its migrations, the Worker with its Durable Objects", () => {
    const { status, stdout, stderr } = runCommand(example, ["synth", "--stack", "dev"]);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    const graph = JSON.parse(stdout) as {
      resources: { urn: string; type: string; inputs: Record<string, unknown> }[];
    };
    expect(graph.resources.map((r) => r.urn)).toEqual([
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:D1Database$cloudflare:index/d1Database:D1Database::db",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:D1Database$pulumi-nodejs:dynamic/workers-platform:D1Migrations::db-migrations",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:D1Database::db",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:KvNamespace$cloudflare:index/workersKvNamespace:WorkersKvNamespace::notes",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:KvNamespace::notes",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:Worker$cloudflare:index/workersScript:WorkersScript::board",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:Worker$cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::board-subdomain",
      "urn:pulumi:dev::notes-board::workers-platform:cloudflare:Worker::board",
    ]);
    const script = graph.resources.find((r) => r.type === "cloudflare:index/workersScript:WorkersScript");
    // The tag carries the step's fingerprint, so an edited step cannot pass for the deployed one.
    expect(script?.inputs.migrations).toEqual({
      newTag: expect.stringMatching(/^v1@[0-9a-f]{10}$/),
      steps: [{ newSqliteClasses: ["Counter", "KvWriter"] }],
    });
    expect(
      ((script?.inputs.bindings ?? []) as { name: string; type: string }[])
        .map((b) => `${b.type} ${b.name}`)
        .sort(),
    ).toEqual([
      "d1 DB",
      "durable_object_namespace COUNTERS",
      "durable_object_namespace KV_WRITER",
      "kv_namespace NOTES",
    ]);
    const migrations = graph.resources.find((r) => r.type.endsWith(":D1Migrations"));
    expect(JSON.stringify(migrations?.inputs)).toContain("0001_comments.sql");
  });

  it("serves the example's routes with the package's start: KV, D1 after its migration, the Durable Object", async () => {
    const stateDir = path.join(scratch, "example-state");
    const started = await startCommand(example, ["--stack", "dev", "--state-dir", stateDir]);
    try {
      expect(started.output()).toContain("applied 0001_comments.sql");
      const { workers } = JSON.parse(readFileSync(path.join(stateDir, "endpoints.json"), "utf8")) as {
        workers: Record<string, string>;
      };
      const url = workers["notes-board-dev-board"];
      const call = async (method: string, route: string, body?: unknown) => {
        const res = await fetch(`${url}${route}`, {
          method,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: await res.json() };
      };
      expect(await call("PUT", "/notes/first", { text: "hello" })).toEqual({
        status: 200,
        body: { id: "first", text: "hello", tags: [] },
      });
      expect(await call("POST", "/notes/first/tags", { tag: "greeting" })).toEqual({
        status: 200,
        body: { id: "first", text: "hello", tags: ["greeting"] },
      });
      expect(await call("GET", "/notes/first")).toEqual({
        status: 200,
        body: { id: "first", text: "hello", tags: ["greeting"] },
      });
      expect(await call("GET", "/notes/missing")).toEqual({
        status: 404,
        body: { error: "no note missing" },
      });
      expect((await call("PUT", "/notes/first", { text: "" })).status).toBe(400);
      expect(await call("POST", "/notes/first/comments", { text: "nice" })).toEqual({
        status: 201,
        body: { id: 1, note: "first", text: "nice" },
      });
      expect(await call("GET", "/notes/first/comments")).toEqual({
        status: 200,
        body: { note: "first", comments: [{ id: 1, text: "nice" }] },
      });
      expect(await call("POST", "/counters/a")).toEqual({ status: 200, body: { name: "a", count: 1 } });
      expect(await call("POST", "/counters/a")).toEqual({ status: 200, body: { name: "a", count: 2 } });
      expect(await call("POST", "/counters/b")).toEqual({ status: 200, body: { name: "b", count: 1 } });
    } finally {
      await started.stop();
    }
    expect(descendantCommands(started.child.pid as number)).toEqual([]);
  });
});
