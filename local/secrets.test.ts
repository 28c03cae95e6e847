import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LIVE_TAGS_ENV } from "../components/live-state";
import { loadStackConfig, SECRET_KEYS } from "../stacks/config";
import { definePlatform } from "../stacks/program";
import { captureProgram } from "./capture";
import { maskGraph } from "./mask";
import { projectName, REPO_ROOT, readStackFile, stackFilePath } from "./stack-file";
import { renderGraph, type SynthGraph } from "./synth";
import { planLocal } from "./target/miniflare-plan";

/**
 * A secret planted in every shape an input takes must show nowhere in what the tools print (synth's graph,
 * the local plan), for every stack of this repository and for a program given by path, while the
 * structure around it stays visible.
 */
const FIXTURE = path.join(REPO_ROOT, "test", "fixtures", "secret-shapes");
const SENTINEL = "s3ntinel-c0ffee-9d41";
const STACKS = ["local", "dev", "staging", "prod"] as const;

function cli(script: string, ...args: string[]): string {
  const res = spawnSync(process.execPath, ["-r", "./local/register.cjs", script, ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, WORKERS_PLATFORM_LIVE_TAGS: "" },
  });
  expect(res.status, res.stderr).toBe(0);
  return res.stdout;
}

const inputsOf = (graph: SynthGraph, type: string, name: string) => {
  const hit = graph.resources.find((r) => r.type.endsWith(type) && r.name === name);
  if (!hit) throw new Error(`no ${type} ${name}`);
  return hit.inputs;
};

describe("a program given by path, a secret in every shape", () => {
  it("npm run synth -- --program prints none of it and keeps its structure", () => {
    const out = cli("local/synth-cli.ts", "--stack", "local", "--program", path.join(FIXTURE, "dynamic.ts"));
    expect(out).not.toContain(SENTINEL);
    const graph = JSON.parse(out) as SynthGraph;
    expect(inputsOf(graph, "WorkersKvNamespace", "string").title).toBe("[secret]");
    expect(inputsOf(graph, "HyperdriveConfig", "object").origin).toEqual({
      database: "[secret]",
      host: "[secret]",
      password: "[secret]",
      port: "[secret]",
      scheme: "[secret]",
      user: "[secret]",
    });
    expect(inputsOf(graph, "HyperdriveConfig", "nested").origin).toEqual({
      database: "app",
      host: "db.example.net",
      password: "[secret]",
      port: "[secret]",
      scheme: "postgres",
      user: "app",
    });
    expect(inputsOf(graph, "WorkersCronTrigger", "array").schedules).toEqual([
      { cron: "0 3 * * *" },
      { cron: "[secret]" },
    ]);
    expect(inputsOf(graph, "WorkersCronTrigger", "whole-array").schedules).toEqual([
      { cron: "[secret]" },
      { cron: "[secret]" },
    ]);
    // A secret given as a plain var is masked like a secret binding; the open var shows.
    expect(inputsOf(graph, "WorkersScript", "worker").bindings).toEqual([
      { name: "OPEN", text: "visible", type: "plain_text" },
      { name: "LEAKED_AS_VAR", text: "[secret]", type: "plain_text" },
      { name: "TOKEN", text: "[secret]", type: "secret_text" },
    ]);
    expect(inputsOf(graph, "D1Migrations", "d1-migrations").apiToken).toBe("[secret]");
    expect(inputsOf(graph, "SqlMigrations", "pg-migrations").connection).toEqual({
      database: "shapes",
      host: "127.0.0.1",
      password: "[secret]",
      port: 5432,
      sslMode: "disable",
      user: "postgres",
    });
    const custom = inputsOf(graph, "Resource", "custom");
    expect({ ...custom, __provider: undefined }).toEqual({
      __provider: undefined,
      token: "[secret]",
      nested: { deep: ["[secret]", "open"] },
      whole: { a: "[secret]", b: ["[secret]", "[secret]", "[secret]"] },
    });
  });

  it("npm run plan -- --program prints none of it", () => {
    const out = cli("local/plan-cli.ts", "--stack", "local", "--program", path.join(FIXTURE, "index.ts"));
    expect(out).not.toContain(SENTINEL);
    const plan = JSON.parse(out) as { workers: { name: string; bindings: Record<string, string> }[] };
    expect(plan.workers.find((w) => w.name === "secret-shapes-local-worker")?.bindings).toEqual({
      OPEN: "visible",
      LEAKED_AS_VAR: "[secret]",
      TOKEN: "[secret]",
    });
  });
});

describe.each(STACKS)("stack %s with its secrets set to sentinels", (stack) => {
  // The config as the Pulumi CLI hands it to the program once it decrypted the stack's secrets: each
  // secret key's value (shaped to pass its content rule), listed among the secret keys.
  const sentinels: Record<(typeof SECRET_KEYS)[number], string> = {
    postgresAdminPassword: `${SENTINEL}-admin`,
    apiJwtSecret: `${SENTINEL}-jwt-0123456789abcdef`,
    buildVariablesKey: Buffer.from(`${SENTINEL}-key`.padEnd(32, "k")).toString("base64"),
    runnerToken: `${SENTINEL}-runner-0123456789abcdef`,
  };
  const captured = async () => {
    const project = projectName();
    const { config, secretKeys } = readStackFile(stackFilePath(stack), project);
    for (const key of SECRET_KEYS) config[`${project}:${key}`] = sentinels[key];
    const secret = [...new Set([...secretKeys, ...SECRET_KEYS.map((k) => `${project}:${k}`)])];
    const previous = process.env[LIVE_TAGS_ENV];
    process.env[LIVE_TAGS_ENV] = "none";
    try {
      return (
        await captureProgram({ project, stack, config, secretKeys: secret }, () =>
          definePlatform(loadStackConfig()),
        )
      ).resources;
    } finally {
      if (previous === undefined) delete process.env[LIVE_TAGS_ENV];
      else process.env[LIVE_TAGS_ENV] = previous;
    }
  };

  it("synth and the local plan print none of them", async () => {
    const resources = await captured();
    // The sentinels did reach the program: the graph holds them, wrapped as secrets.
    expect(JSON.stringify(resources)).toContain(sentinels.apiJwtSecret);
    const printed = [
      JSON.stringify(renderGraph(stack, resources)),
      JSON.stringify(planLocal(maskGraph(resources))),
    ];
    for (const out of printed) {
      expect(out).not.toContain(SENTINEL);
      for (const value of Object.values(sentinels)) expect(out).not.toContain(value);
    }
  });
});
