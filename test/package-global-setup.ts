import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /**
     * Where `npm pack` of this repository writes its tarball, started once for the whole `npm test` run
     * (its `status` file appears when it ends); empty when the run packs nothing up front.
     */
    packDir: string;
  }
}

/**
 * The package tests (test/package/) install the packed tarball. Under `npm test` it is packed once, in
 * the background while the other tests start, so that several package test files share one build of
 * dist/; a targeted run (`npx vitest run <file>`) leaves it to the test that needs it.
 */
export default function setup(project: TestProject) {
  if (process.env.npm_lifecycle_event !== "test") {
    project.provide("packDir", "");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "wp-pack-"));
  const child: ChildProcess = spawn(
    "sh",
    [
      "-c",
      'npm pack --json --pack-destination "$1" > "$1/pack.json" 2> "$1/pack.err"; echo $? > "$1/status"',
      "sh",
      dir,
    ],
    { cwd: path.resolve(__dirname, ".."), stdio: "ignore", detached: true },
  );
  project.provide("packDir", dir);
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
