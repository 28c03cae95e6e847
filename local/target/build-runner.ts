import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { removeSandboxLeftovers } from "../../workers-src/builds/runner/sandbox";
import { ensureSandboxPrograms, findProgram } from "../../workers-src/builds/runner/sandbox/host-tools";
import { removeNetworkPolicy } from "../../workers-src/builds/runner/sandbox/network";
import { freePort } from "../ports";
import type { LocalPlan } from "./miniflare-plan";

/** The value of a Worker's `RUNNER_URL` var that asks the local target for a build runner. */
export const LOCAL_RUNNER = "local";
const REPO_ROOT = path.resolve(__dirname, "..", "..");
const CLI = path.join(REPO_ROOT, "workers-src", "builds", "runner", "cli.ts");

export interface LocalBuildRunner {
  scriptName: string;
  url: string;
  /** The runner's own process: a separate service, as it is in the cloud. */
  pid: number;
}

export interface LocalBuildRunners {
  runners: LocalBuildRunner[];
  /** Resolves once every runner answers its health check. */
  ready: Promise<void>;
  stop(): Promise<void>;
  /** Synchronous: tells every runner to stop (for a process that is exiting). */
  signalStop(): void;
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the build runner exited while starting: ${output().trim().slice(-500)}`);
    }
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the build runner at ${url} did not answer within 30 s`);
}

/** Builds one local runner takes at once; also the size of its uid range. */
const LOCAL_RUNNER_UIDS = 100;

/**
 * The first uid a local runner gives its builds. Runners sharing a host need ranges of their own; one
 * derived from the runner's port is, since no two live runners hold the same port.
 */
export function localUidBase(port: number): number {
  return 1_000_000 + port * LOCAL_RUNNER_UIDS;
}

/**
 * Starts `LOCAL_RUNNERS` (default 1) build runner processes for every Worker of the plan whose
 * `RUNNER_URL` var is `local` (the builds platform's Build Management Worker on the local stack) and
 * points that var at them (a comma-separated list). Each runner takes the Worker's own `RUNNER_TOKEN`,
 * allows `file://` repositories when the Worker's `ALLOW_FILE_REPOS` says so, calls back the Worker's
 * own URL unless the Worker names a `CALLBACK_URL`, and isolates every build in a sandbox (installing
 * the sandbox's Debian packages first where they are missing).
 */
export async function startLocalBuildRunners(
  plan: LocalPlan,
  workerUrls: Record<string, string>,
  stateDir: string,
  log: (line: string) => void,
): Promise<LocalBuildRunners> {
  const started: {
    runner: LocalBuildRunner;
    child: ChildProcess;
    workRoot: string;
    uidBase: number;
    ready: Promise<void>;
  }[] = [];
  const wanted = plan.workers.filter((worker) => worker.bindings.RUNNER_URL === LOCAL_RUNNER);
  if (wanted.length > 0) await ensureSandboxPrograms(log);
  for (const worker of wanted) {
    const token = worker.bindings.RUNNER_TOKEN;
    if (!token)
      throw new Error(`Worker ${worker.name} asks for a local build runner but has no RUNNER_TOKEN`);
    const count = Math.max(1, Number(worker.bindings.LOCAL_RUNNERS) || 1);
    const urls: string[] = [];
    for (let index = 0; index < count; index++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const name = count === 1 ? worker.name : `${worker.name}-${index + 1}`;
      const workRoot = path.join(stateDir, "runner", name);
      mkdirSync(workRoot, { recursive: true });
      const maxConcurrent = Math.min(
        Number(worker.bindings.MAX_CONCURRENT_BUILDS_GLOBAL) || 8,
        LOCAL_RUNNER_UIDS - 1,
      );
      const args = [
        "-r",
        path.join(REPO_ROOT, "local", "register.cjs"),
        CLI,
        "--port",
        String(port),
        "--callback-url",
        worker.bindings.CALLBACK_URL ?? (workerUrls[worker.name] as string),
        "--work-root",
        workRoot,
        "--max-concurrent",
        String(maxConcurrent),
        "--uid-base",
        String(localUidBase(port)),
        "--uid-count",
        String(LOCAL_RUNNER_UIDS),
        // A local runner stops with the target: what still runs is handed back at once.
        "--drain-seconds",
        "0",
        ...(worker.bindings.ALLOW_FILE_REPOS === "true" ? ["--allow-file-repos"] : []),
      ];
      // Tied to the target's life: if the target is killed, the runner is told to stop (SIGTERM), so that it
      // removes what it set up for its builds rather than run on alone.
      const child = spawn(
        findProgram("setpriv") ?? "setpriv",
        ["--pdeathsig=SIGTERM", "--", process.execPath, ...args],
        { cwd: REPO_ROOT, env: { ...process.env, RUNNER_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      const collect = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-4000);
      };
      child.stdout?.on("data", collect);
      child.stderr?.on("data", (chunk: Buffer) => {
        collect(chunk);
        for (const line of chunk.toString().split("\n")) if (line.trim()) log(`build runner: ${line}`);
      });
      urls.push(url);
      const runner = { scriptName: worker.name, url, pid: child.pid as number };
      started.push({
        runner,
        child,
        workRoot,
        uidBase: localUidBase(port),
        ready: waitForHealth(url, child, () => output),
      });
      log(`build runner for ${worker.name} on ${url}`);
    }
    worker.bindings.RUNNER_URL = urls.join(",");
  }
  const stop = async () => {
    await Promise.all(
      started.map(async ({ child, workRoot, uidBase }) => {
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
          // A runner that does not stop in time is killed: its builds die with it (their sandboxes are
          // tied to its life), and what they leave is removed below.
          setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
        });
        await removeSandboxLeftovers(workRoot).catch((error: Error) =>
          log(`build runner: could not clean up ${workRoot}: ${error.message}`),
        );
        // A runner that was killed did not remove its network filter.
        await removeNetworkPolicy(uidBase);
      }),
    );
  };
  return {
    runners: started.map((s) => s.runner),
    ready: Promise.all(started.map((s) => s.ready)).then(() => undefined),
    stop,
    signalStop: () => {
      for (const { child } of started) if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}
