import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { MANAGEMENT_MIGRATIONS } from "../components/builds-platform";
import { uploadTag } from "../components/durable-objects";
import { loadStackConfig, SECRET_KEYS, StackConfigError } from "../stacks/config";
import { definePlatform } from "../stacks/program";
import { captureProgram } from "./capture";
import { projectName, REPO_ROOT, readStackFile, stackFilePath } from "./stack-file";
import { type SynthGraph, synth } from "./synth";

const STACKS = ["local", "dev", "staging", "prod"] as const;

function runCli(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ["-r", "./local/register.cjs", "local/synth-cli.ts", ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, WORKERS_PLATFORM_LIVE_TAGS: "", ...env },
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function tempFile(name: string, content: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "wp-synth-")), name);
  writeFileSync(file, content);
  return file;
}

const byName = (graph: SynthGraph, type: string, name: string) => {
  const hit = graph.resources.find((r) => r.type.endsWith(type) && r.name === name);
  if (!hit) throw new Error(`no ${type} ${name}`);
  return hit;
};

describe.each(STACKS)("synth --stack %s", (stack) => {
  it("matches the reviewed snapshot of the resource graph", async () => {
    const graph = await synth({ stack });
    await expect(`${JSON.stringify(graph, null, 2)}\n`).toMatchFileSnapshot(
      `__snapshots__/synth.${stack}.json`,
    );
  });

  it("is sorted by URN, and every parent and dependency is a resource of the graph", async () => {
    const graph = await synth({ stack });
    const urns = graph.resources.map((r) => r.urn);
    expect(urns).toEqual([...urns].sort());
    const known = new Set(urns);
    for (const r of graph.resources) {
      if (r.parent !== null) expect(known.has(r.parent), `${r.urn} parent`).toBe(true);
      for (const dep of r.dependsOn) expect(known.has(dep), `${r.urn} dependsOn ${dep}`).toBe(true);
    }
  });

  it("prints no secret value and no Worker source", async () => {
    const text = JSON.stringify(await synth({ stack }));
    const { config } = readStackFile(stackFilePath(stack), projectName());
    for (const key of SECRET_KEYS) {
      const value = config[`workers-platform:${key}`];
      expect(value, key).toEqual(expect.any(String));
      if (value !== "[secret]") expect(text).not.toContain(value);
    }
    expect(text).not.toMatch(/"dev-[0-9a-f]{24}"/); // generated role passwords under the mock runtime
    expect(text).not.toContain("DurableObject");
    for (const r of (await synth({ stack })).resources.filter((r) => r.type.endsWith("WorkersScript"))) {
      expect(r.inputs.content).toEqual({
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        bytes: expect.any(Number),
      });
    }
  });
});

describe("synth of the stacks", () => {
  it("protects and retains exactly the stateful resources in prod, and nothing elsewhere", async () => {
    const protectedIn = async (stack: string) =>
      (await synth({ stack })).resources
        .filter((r) => r.protect)
        .map((r) => `${r.type}::${r.name}:${r.retainOnDelete}`)
        .sort();
    expect(await protectedIn("prod")).toEqual([
      "cloudflare:index/r2Bucket:R2Bucket::builds-build-cache:true",
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::demo-kv:true",
      "postgresql:index/database:Database::builds-postgres-database:true",
      "postgresql:index/schema:Schema::builds-postgres-schema:true",
    ]);
    for (const stack of ["local", "dev", "staging"]) expect(await protectedIn(stack)).toEqual([]);
  });

  it("shows a Worker's plain vars for review and masks only its secret bindings", async () => {
    const graph = await synth({ stack: "prod" });
    const management = byName(graph, ":WorkersScript", "builds-management");
    const bindings = management.inputs.bindings as { name: string; type: string; text?: string }[];
    const byBinding = new Map(bindings.map((b) => [b.name, b]));
    expect(byBinding.get("RUNNER_URL")).toEqual({
      name: "RUNNER_URL",
      type: "plain_text",
      text: "https://runner.builds.example.net",
    });
    expect(byBinding.get("BUILD_TIMEOUT_MINUTES")?.text).toBe("20");
    for (const name of ["RUNNER_TOKEN", "BUILD_VARIABLES_KEY"]) {
      expect(byBinding.get(name)).toEqual({ name, type: "secret_text", text: "[secret]" });
    }
  });

  it("takes live migration tags from a file: nothing pending means no migration", async () => {
    const tags = tempFile(
      "tags.json",
      JSON.stringify({
        "workers-platform-prod-builds-management": uploadTag(
          MANAGEMENT_MIGRATIONS,
          MANAGEMENT_MIGRATIONS.length - 1,
        ),
      }),
    );
    const graph = await synth({ stack: "prod", liveTagsFile: tags });
    expect(byName(graph, "WorkersScript", "builds-management").inputs).not.toHaveProperty("migrations");
    expect(byName(graph, "WorkersScript", "demo-worker").inputs.migrations).toMatchObject({ newTag: /^v1@/ });
  });

  it("registers no resource when the config is invalid", async () => {
    const { config, secretKeys } = readStackFile(stackFilePath("dev"), projectName());
    config["workers-platform:builds"] = JSON.stringify({ timeoutMinutes: 0 });
    let error: unknown;
    const { resources } = await captureProgram(
      { project: "workers-platform", stack: "dev", config, secretKeys },
      () => {
        try {
          definePlatform(loadStackConfig());
        } catch (err) {
          error = err;
        }
      },
    );
    expect(error).toBeInstanceOf(StackConfigError);
    expect(resources).toEqual([]);
  });
});

describe("npm run synth (CLI)", () => {
  it("prints the graph as JSON on stdout and exits 0", () => {
    const res = runCli(["--stack", "dev"]);
    expect(res.status).toBe(0);
    const graph = JSON.parse(res.stdout) as SynthGraph;
    expect(graph.stack).toBe("dev");
    expect(graph.resources.length).toBeGreaterThan(20);
  });

  it("prints the same graph from an empty bundle cache, from the cache that run left, and in-process", async () => {
    const cache = mkdtempSync(path.join(tmpdir(), "wp-synth-cache-"));
    try {
      const cold = runCli(["--stack", "prod"], { WORKERS_PLATFORM_CACHE_DIR: cache });
      expect(cold.status).toBe(0);
      // The three Workers and the migrations' runtime, and the SQL migrations' serialized provider.
      expect(readdirSync(path.join(cache, "bundles"))).toHaveLength(4);
      expect(readdirSync(path.join(cache, "providers"))).toHaveLength(1);
      const warm = runCli(["--stack", "prod"], { WORKERS_PLATFORM_CACHE_DIR: cache });
      expect(warm.status).toBe(0);
      expect(warm.stdout).toBe(cold.stdout);
      expect(cold.stdout).toBe(`${JSON.stringify(await synth({ stack: "prod" }), null, 2)}\n`);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("exits non-zero on a bad config, lists every invalid key on stderr and prints nothing on stdout", () => {
    const doc = yaml.load(readFileSync(stackFilePath("dev"), "utf8")) as { config: Record<string, unknown> };
    doc.config["workers-platform:accountId"] = "nope";
    doc.config["workers-platform:builds"] = { timeoutMinutes: 500, maxConcurrentPerAccount: 0 };
    doc.config["workers-platform:placement"] = { client: "fast" };
    const res = runCli(["--stack", "dev", "--config-file", tempFile("Pulumi.bad.yaml", yaml.dump(doc))]);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("accountId: must be 32 lowercase hex characters (got string)");
    expect(res.stderr).toContain("builds.timeoutMinutes: must be between 1 and 120 (got number)");
    expect(res.stderr).toContain("builds.maxConcurrentPerAccount: must be between 1 and 100 (got number)");
    expect(res.stderr).toContain('placement.client: must be one of "smart", "off" (got string)');
    expect(res.stderr).not.toContain("secure");
  });

  it("exits non-zero naming builds.compute.runnerUrl when a non-local stack asks for the local runner", () => {
    const doc = yaml.load(readFileSync(stackFilePath("dev"), "utf8")) as { config: Record<string, unknown> };
    doc.config["workers-platform:builds"] = { compute: { backend: "http", runnerUrl: "local" } };
    const res = runCli(["--stack", "dev", "--config-file", tempFile("Pulumi.bad.yaml", yaml.dump(doc))]);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(
      "builds.compute.runnerUrl: must be the runner's https:// URL outside the local environment (got string)",
    );
    expect(res.stderr).toContain(
      "builds.compute.callbackUrl: is required outside the local environment (got missing)",
    );
  });

  it("exits non-zero naming the live tag when the migration history does not contain it", () => {
    const tags = tempFile(
      "tags.json",
      JSON.stringify({ "workers-platform-dev-builds-management": "v9@0000000000" }),
    );
    const res = runCli(["--stack", "dev", "--live-tags", tags]);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(/v9@0000000000/);
  });

  it.each([
    [[], /--stack is required/],
    [["--stack", "nowhere"], /no config for stack "nowhere"/],
    [["--stack", "dev", "--bogus"], /Unknown option '--bogus'/],
  ])("refuses bad arguments %j with exit code 1, evaluating nothing", (args, message) => {
    const res = runCli(args);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(message);
  });
});
