import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../test/cli";

const scratch = mkdtempSync(path.join(tmpdir(), "wp-start-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("npm start with an input that does not exist", () => {
  it("names the missing --program entry, exits 1 and creates no state folder", async () => {
    const stateDir = path.join(scratch, "never-created");
    const missing = path.join(scratch, "no-such-app", "index.ts");
    const { status, stdout, stderr } = await runCli(
      "local/start-cli.ts",
      "--program",
      missing,
      "--state-dir",
      stateDir,
    );
    expect(status).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(
      `npm start failed: the program's entry module ${missing} does not exist (no file at ${missing})`,
    );
    expect(stderr).not.toMatch(/ENOENT|scandir/);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("changes nothing in an existing state folder, even with --reset", async () => {
    const stateDir = path.join(scratch, "kept");
    mkdirSync(path.join(stateDir, "postgres"), { recursive: true });
    writeFileSync(path.join(stateDir, "postgres", "PG_VERSION"), "18\n");
    writeFileSync(path.join(stateDir, "graph.json"), "{}");
    const { status, stderr } = await runCli(
      "local/start-cli.ts",
      "--reset",
      "--program",
      "../missing-program/index.ts",
      "--state-dir",
      stateDir,
    );
    expect(status).toBe(1);
    expect(stderr).toContain("the program's entry module ../missing-program/index.ts does not exist");
    expect(readdirSync(stateDir).sort()).toEqual(["graph.json", "postgres"]);
    expect(readdirSync(path.join(stateDir, "postgres"))).toEqual(["PG_VERSION"]);
  });

  it("names a missing --config-file the same way", async () => {
    const stateDir = path.join(scratch, "no-config");
    const { status, stdout, stderr } = await runCli(
      "local/start-cli.ts",
      "--config-file",
      "stacks/Pulumi.nope.yaml",
      "--state-dir",
      stateDir,
    );
    expect({ status, stdout }).toEqual({ status: 1, stdout: "" });
    expect(stderr.trim()).toBe(
      "npm start failed: the stack config file stacks/Pulumi.nope.yaml does not exist",
    );
    expect(existsSync(stateDir)).toBe(false);
  });
});

describe("npm run plan with a --program that does not exist", () => {
  it("names the missing file", async () => {
    const { status, stdout, stderr } = await runCli("local/plan-cli.ts", "--program", "nowhere/index.ts");
    expect({ status, stdout }).toEqual({ status: 1, stdout: "" });
    expect(stderr).toContain(
      `the program's entry module nowhere/index.ts does not exist (no file at ${path.resolve(__dirname, "..", "nowhere", "index.ts")})`,
    );
  });
});
