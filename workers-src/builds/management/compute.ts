import { type RunnerHealth, runnerHealthSchema, type StartBuildRequest } from "../shared/protocol";
import { ContainerBackend } from "./container";
import type { ManagementEnv } from "./env";

/** Where builds run. Each backend starts and stops one build; the build reports back on its own. */
export interface ComputeBackend {
  /** Starts the build; answers which runner took it, where there are several. */
  startBuild(request: StartBuildRequest): Promise<{ runner?: string }>;
  /** Stops a build's processes (on `runner`, when known); stopping one that is not running is not an error. */
  stopBuild(buildUuid: string, runner?: string): Promise<void>;
  /** The build ended on its own: whatever it held (a container) can go. */
  releaseBuild?(buildUuid: string): Promise<void>;
}

export class ComputeError extends Error {
  override name = "ComputeError";
  /** The backend is busy or unreachable for now: the start may be tried again. */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** How long a runner's health check may take before the runner counts as down. */
const HEALTH_TIMEOUT_MS = 2000;
/** How long a start or stop may take before the runner counts as unreachable (a busy runner is slow). */
const CALL_TIMEOUT_MS = 60_000;

/** One runner's answer to `GET /health`, or why there was none. */
export type RunnerProbe = { url: string; health: RunnerHealth } | { url: string; problem: string };

/**
 * The runners to offer a build to, most free capacity first (ties keep the configured order), and why the
 * others were left out. Pure.
 */
export function rankRunners(probes: readonly RunnerProbe[]): { order: string[]; skipped: string[] } {
  const ready: { url: string; free: number; index: number }[] = [];
  const skipped: string[] = [];
  for (const [index, probe] of probes.entries()) {
    if ("problem" in probe) {
      skipped.push(`${probe.url}: ${probe.problem}`);
      continue;
    }
    const { health } = probe;
    const free = health.capacity - health.active;
    if (!health.ok || health.draining) skipped.push(`${probe.url}: shutting down`);
    else if (free <= 0) skipped.push(`${probe.url}: busy (${health.active} of ${health.capacity} builds)`);
    else ready.push({ url: probe.url, free, index });
  }
  ready.sort((a, b) => b.free - a.free || a.index - b.index);
  return { order: ready.map((r) => r.url), skipped };
}

/**
 * The HTTP runner service (`workers-src/builds/runner`), reached with a shared bearer token. With several
 * runners, each build goes to the one with the most free capacity that answers its health check; a runner
 * that is down, busy or shutting down is skipped.
 */
export class HttpRunnerBackend implements ComputeBackend {
  private readonly urls: string[];

  constructor(
    urls: string | readonly string[],
    private readonly token: string,
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {
    this.urls = [urls].flat().map((url) => url.replace(/\/+$/, ""));
    if (this.urls.length === 0) throw new ComputeError("no runner URL");
  }

  async startBuild(request: StartBuildRequest): Promise<{ runner?: string }> {
    const body = JSON.stringify(request);
    let order = this.urls;
    const problems: string[] = [];
    if (this.urls.length > 1) {
      const ranked = rankRunners(await Promise.all(this.urls.map((url) => this.probe(url))));
      order = ranked.order;
      problems.push(...ranked.skipped);
    }
    for (const runner of order) {
      let res: Response;
      try {
        res = await this.call(runner, "POST", "/builds", body);
      } catch (error) {
        problems.push((error as Error).message);
        // The runner may have taken the build although its answer was lost: it is told to drop it before
        // another runner is asked, so that the build never runs twice.
        if (order.length > 1) await this.stopBuild(request.build_uuid, runner).catch(() => undefined);
        continue;
      }
      if (res.status === 202) {
        await res.body?.cancel();
        return { runner };
      }
      const text = await res.text();
      if (res.status !== 503) {
        throw new ComputeError(`runner ${runner} refused the build: HTTP ${res.status} ${text}`);
      }
      problems.push(`${runner} refused the build: HTTP 503 ${text}`);
    }
    const one = this.urls.length === 1;
    throw new ComputeError(
      one ? (problems[0] ?? "runner unavailable") : `no runner took the build (${problems.join("; ")})`,
      true,
    );
  }

  async stopBuild(buildUuid: string, runner?: string): Promise<void> {
    const targets = runner && this.urls.includes(runner) ? [runner] : this.urls;
    const results = await Promise.allSettled(
      targets.map(async (url) => {
        const res = await this.call(url, "DELETE", `/builds/${encodeURIComponent(buildUuid)}`);
        await res.body?.cancel();
        if (res.status !== 202 && res.status !== 404)
          throw new ComputeError(`runner ${url} did not stop the build: HTTP ${res.status}`);
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) throw failed[0]?.reason;
  }

  private async probe(url: string): Promise<RunnerProbe> {
    try {
      const res = await this.fetcher(`${url}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      const parsed = runnerHealthSchema.safeParse(await res.json());
      if (!parsed.success)
        return { url, problem: `health check answered HTTP ${res.status} without a health body` };
      return { url, health: parsed.data };
    } catch (error) {
      return { url, problem: `unreachable: ${(error as Error).message}` };
    }
  }

  private async call(baseUrl: string, method: string, path: string, body?: string): Promise<Response> {
    const url = new URL(`${baseUrl}${path}`);
    try {
      return await this.fetcher(url.toString(), {
        method,
        body,
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
      });
    } catch (err) {
      throw new ComputeError(`runner at ${url.origin} unreachable: ${(err as Error).message}`, true);
    }
  }
}

/** The backend the stack config chose (`builds.compute.backend`). */
export function computeBackend(env: ManagementEnv): ComputeBackend {
  if (env.COMPUTE_BACKEND === "container") return new ContainerBackend(env.BUILD_CONTAINER);
  if (env.COMPUTE_BACKEND !== "http")
    throw new ComputeError(`unknown compute backend "${env.COMPUTE_BACKEND}"`);
  const urls = env.RUNNER_URL.split(",").map((url) => url.trim());
  const bad = urls.find((url) => !/^https?:\/\//.test(url));
  if (bad !== undefined) {
    throw new ComputeError(`RUNNER_URL "${bad}" is not a URL: is the build runner started?`);
  }
  return new HttpRunnerBackend(urls, env.RUNNER_TOKEN);
}
