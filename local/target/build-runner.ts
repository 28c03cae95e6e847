import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { LocalServicePlan } from "../../components/local-service-types";
import { packageRoot, workerSource } from "../../components/package-root";
import type * as Sandbox from "../../workers-src/builds/runner/sandbox";
import { ensureSandboxPrograms, findProgram } from "../../workers-src/builds/runner/sandbox/host-tools";
import { removeNetworkPolicy } from "../../workers-src/builds/runner/sandbox/network";
import { freePort } from "../ports";

/**
 * The runner is a Node program whose TypeScript sources ship with the package (`workers-src/builds/runner`);
 * it runs through the same loader as the local tooling, from source here and from `dist/` when installed.
 */
const runnerCli = () => workerSource("builds", "runner", "cli.ts");
const LOADER = path.join(__dirname, "..", "register.cjs");

export interface LocalBuildRunner {
  scriptName: string;
  url: string;
  /** The runner's own process: a separate service, as it is in the cloud. */
  pid: number;
}

export interface LocalBuildRunners {
  /** Script name → the vars that point each Worker at its runners (`urlVar` → their URLs). */
  vars: Map<string, Record<string, string>>;
  /** The runners started so far (all of them once `start` has been called). */
  runners: LocalBuildRunner[];
  /**
   * Starts the runner processes on the ports already chosen (once; a later call changes nothing). Until
   * then nothing listens on the runners' URLs, and a build offered to one is tried again later.
   */
  start(): void;
  /**
   * Resolves once every runner answers its health check; rejects with the runner's own words when one
   * exits while starting (it could not isolate builds, say). Also said through `log` either way.
   */
  ready: Promise<void>;
  /** Whether `ready` has resolved. */
  isReady(): boolean;
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

/** The Cloudflare API stand-in the runners' builds deploy through. */
export interface LocalCloudflareApi {
  /** `http://127.0.0.1:<port>/client/v4` */
  url: string;
  /** The stand-in's secret, from which the Build Management Worker derives each account's token. */
  tokenSecret: string;
}

/** `http://127.0.0.1:<port>` of the stand-in's URL: what the runner forwards into its builds' networks. */
function loopbackOrigin(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" || parsed.hostname !== "127.0.0.1" || !parsed.port) {
    throw new Error(`the Cloudflare API stand-in must listen on http://127.0.0.1:<port> (got ${url})`);
  }
  return parsed.origin;
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

/** What a runner is started with, chosen before workerd starts so that its Worker knows its URL. */
interface PlannedRunner {
  scriptName: string;
  name: string;
  url: string;
  token: string;
  args: string[];
  workRoot: string;
  uidBase: number;
}

interface StartedRunner {
  runner: LocalBuildRunner;
  child: ChildProcess;
  planned: PlannedRunner;
}

/**
 * Build runner processes for every `build-runner` service a Worker declared (the builds platform's Build
 * Management Worker on the local stack), `count` of them (default 1) each: chooses their ports and
 * answers the var that points the Worker at them (a comma-separated list) at once, and starts them when
 * told (`start`), so that the target can start them once workerd is up. Each runner takes the declared
 * token, allows `file://` repositories when the declaration says so, calls back the declared URL or
 * else the Worker's own, and isolates every build in a sandbox (the sandbox's Debian packages are
 * installed first where they are missing).
 *
 * With `cloudflareApi`, every runner's builds reach the stand-in at the same `127.0.0.1:<port>` from inside
 * their sandboxes (`--cloudflare-api`), and the Worker gets its base URL and token secret
 * (`CLOUDFLARE_API_BASE_URL`, `CLOUDFLARE_API_TOKEN_SECRET`), from which it gives each build its base URL,
 * account id and a token for that account alone.
 */
export async function startLocalBuildRunners(
  services: LocalServicePlan[],
  workerUrls: Record<string, string>,
  stateDir: string,
  log: (line: string) => void,
  options: { cloudflareApi?: LocalCloudflareApi } = {},
): Promise<LocalBuildRunners> {
  const { cloudflareApi } = options;
  const apiOrigin = cloudflareApi && loopbackOrigin(cloudflareApi.url);
  const planned: PlannedRunner[] = [];
  const vars = new Map<string, Record<string, string>>();
  for (const service of services) {
    if (service.kind !== "build-runner") continue;
    const scriptName = service.scriptName;
    const count = Math.max(1, service.count ?? 1);
    const urls: string[] = [];
    for (let index = 0; index < count; index++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const name = count === 1 ? scriptName : `${scriptName}-${index + 1}`;
      const workRoot = path.join(stateDir, "runner", name);
      const maxConcurrent = Math.min(service.maxConcurrent || 8, LOCAL_RUNNER_UIDS - 1);
      const args = [
        "-r",
        LOADER,
        runnerCli(),
        "--port",
        String(port),
        "--callback-url",
        service.callbackUrl || (workerUrls[scriptName] as string),
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
        ...(service.allowFileRepos ? ["--allow-file-repos"] : []),
        ...(apiOrigin ? ["--cloudflare-api", apiOrigin] : []),
      ];
      urls.push(url);
      planned.push({
        scriptName,
        name,
        url,
        token: service.token,
        args,
        workRoot,
        uidBase: localUidBase(port),
      });
    }
    vars.set(scriptName, {
      ...vars.get(scriptName),
      [service.urlVar]: urls.join(","),
      ...(cloudflareApi
        ? {
            CLOUDFLARE_API_BASE_URL: cloudflareApi.url,
            CLOUDFLARE_API_TOKEN_SECRET: cloudflareApi.tokenSecret,
          }
        : {}),
    });
  }

  const started: StartedRunner[] = [];
  const runners: LocalBuildRunner[] = [];
  let stopped = false;
  /** The runners' spawn (after the sandbox's packages are there), then every health check. */
  let spawning: Promise<Promise<void>[]> | undefined;
  let ready = false;
  let signalStarted: () => void = () => {};
  const startCalled = new Promise<void>((resolve) => {
    signalStarted = resolve;
  });

  const spawnAll = async () => {
    if (planned.length > 0) await ensureSandboxPrograms(log);
    const healthy: Promise<void>[] = [];
    for (const p of planned) {
      if (stopped) break;
      mkdirSync(p.workRoot, { recursive: true });
      // Tied to the target's life: if the target is killed, the runner is told to stop (SIGTERM), so that it
      // removes what it set up for its builds rather than run on alone.
      const child = spawn(
        findProgram("setpriv") ?? "setpriv",
        ["--pdeathsig=SIGTERM", "--", process.execPath, ...p.args],
        {
          cwd: packageRoot(),
          env: { ...process.env, RUNNER_TOKEN: p.token },
          stdio: ["ignore", "pipe", "pipe"],
        },
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
      const runner = { scriptName: p.scriptName, url: p.url, pid: child.pid as number };
      log(`build runner for ${p.name} starting on ${p.url} (pid ${runner.pid})`);
      started.push({ runner, child, planned: p });
      runners.push(runner);
      const since = Date.now();
      healthy.push(
        waitForHealth(p.url, child, () => output).then(() =>
          log(`build runner for ${p.name} ready (${Date.now() - since} ms)`),
        ),
      );
    }
    return healthy;
  };
  const readiness = startCalled
    .then(() => spawning)
    .then((healthy) => Promise.all(healthy ?? []))
    .then(() => {
      ready = true;
    });
  // Said here, so that a runner failing after the target reported ready is never silent.
  readiness.catch((error: Error) => {
    if (!stopped) log(`build runner failed to start: ${error.message}; builds cannot run until it is fixed`);
  });

  const stop = async () => {
    stopped = true;
    await spawning?.catch(() => undefined);
    if (started.length === 0) return;
    // Only what this module loads at stop: the sandbox's clean-up would slow every start down.
    const { removeSandboxLeftovers } = require("../../workers-src/builds/runner/sandbox") as typeof Sandbox;
    await Promise.all(
      started.map(async ({ child, planned: p }) => {
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
          // A runner that does not stop in time is killed: its builds die with it (their sandboxes are
          // tied to its life), and what they leave is removed below.
          setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
        });
        await removeSandboxLeftovers(p.workRoot).catch((error: Error) =>
          log(`build runner: could not clean up ${p.workRoot}: ${error.message}`),
        );
        // A runner that was killed did not remove its network filter.
        await removeNetworkPolicy(p.uidBase);
      }),
    );
  };
  return {
    vars,
    runners,
    start: () => {
      if (spawning || stopped) return;
      spawning = spawnAll();
      signalStarted();
    },
    ready: readiness,
    isReady: () => ready || planned.length === 0,
    stop,
    signalStop: () => {
      for (const { child } of started) if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}
