/**
 * The runner's container image, as far as it can be checked without a container engine: the Dockerfile
 * has what the image needs (git and the sandbox's programs, a health check on `/health`, the drain signal),
 * and the runner bundled by the Dockerfile's own esbuild command starts, isolates builds and answers its
 * health check.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../local/stack-file";
import { SANDBOX_PROGRAMS } from "./sandbox/host-tools";
import { tempDir } from "./testing";

const DOCKERFILE = readFileSync(path.join(__dirname, "Dockerfile"), "utf8");
const work = tempDir("runner-image-");
afterAll(() => work.remove());

/** The Dockerfile's instructions, continuation lines joined. */
const instructions = DOCKERFILE.replace(/\\\n\s*/g, " ")
  .split("\n")
  .filter((line) => line.trim() && !line.startsWith("#"));

describe("the runner's Dockerfile", () => {
  it("installs git and a Debian package for every program the sandbox needs", () => {
    const install = instructions.find((line) => line.includes("apt-get install")) ?? "";
    for (const pkg of ["git", "ca-certificates", ...new Set(Object.values(SANDBOX_PROGRAMS))]) {
      expect(install.split(/\s+/)).toContain(pkg);
    }
  });

  it("checks health on /health, stops with SIGTERM, and listens on every address of its container", () => {
    expect(instructions.find((line) => line.startsWith("HEALTHCHECK"))).toContain(
      "http://127.0.0.1:8791/health",
    );
    expect(instructions).toContain("STOPSIGNAL SIGTERM");
    const entrypoint = JSON.parse(
      instructions.find((l) => l.startsWith("ENTRYPOINT"))!.slice("ENTRYPOINT".length),
    );
    expect(entrypoint).toEqual([
      "node",
      "/opt/runner/runner.cjs",
      "--host",
      "0.0.0.0",
      "--port",
      "8791",
      "--work-root",
      "/var/lib/workers-builds-runner",
    ]);
  });

  it("bundles a runner that starts on its own, isolates builds and answers its health check", async () => {
    const command = instructions.find((line) => line.includes("npx esbuild")) ?? "";
    const args = /npx esbuild (.+?) &&/.exec(command)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    const outfile = path.join(work.dir, "runner.cjs");
    const esbuildArgs = args.map((arg) => (arg.startsWith("--outfile=") ? `--outfile=${outfile}` : arg));
    expect(esbuildArgs).toContain("workers-src/builds/runner/cli.ts");
    execFileSync(path.join(REPO_ROOT, "node_modules", ".bin", "esbuild"), esbuildArgs, {
      cwd: REPO_ROOT,
      stdio: "pipe",
    });

    const child = spawn(
      process.execPath,
      [outfile, "--port", "0", "--work-root", path.join(work.dir, "builds")],
      {
        cwd: work.dir,
        env: { PATH: process.env.PATH ?? "", RUNNER_TOKEN: "image-test-token-0123456789abcdef" },
      },
    );
    try {
      let stdout = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      await expect
        .poll(() => /runner listening on (\S+)/.exec(stdout)?.[1], { timeout: 10_000 })
        .toBeDefined();
      const url = /runner listening on (\S+)/.exec(stdout)?.[1];
      expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ ok: true, isolated: true });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
