import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunnerHealth, startBuildRequestSchema } from "../shared/protocol";
import { type BuildHandle, startBuild } from "./build";
import { errorMessage } from "./callback";
import type { RetryOptions } from "./retry";
import { loopbackPort, type Sandbox } from "./sandbox";

/** Largest `POST /builds` body accepted. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** How many finished build ids are remembered, so that a repeated start does not run a build again. */
const REMEMBERED_BUILDS = 10_000;

export interface RunnerServerOptions {
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** The bearer token the Build Management Worker sends. */
  token: string;
  /** Base URL of the callback API for requests that carry no `callback_url`. */
  callbackUrl?: string;
  /** Allow `file:///` repositories; only for the local stack. */
  allowFileRepos: boolean;
  /** Where builds run (see `openSandbox`, or `unisolatedSandbox` for a single-tenant host). */
  sandbox: Sandbox;
  /**
   * `http://127.0.0.1:<port>`: the local Cloudflare API stand-in, which every sandboxed build reaches at
   * the same address (that one port of the host's loopback and no other). The local stack only.
   */
  cloudflareApi?: string;
  /** Builds run at the same time; more are answered 503. @default 4 */
  maxConcurrent?: number;
  /** Longest time a log line waits before it is sent. @default 1000 */
  logFlushIntervalMs?: number;
  /** Time a killed process tree gets between SIGTERM and SIGKILL. @default 2000 */
  killGraceMs?: number;
  /** How long failing callbacks are retried (see `BuildOptions.callbackRetry`). */
  callbackRetry?: RetryOptions;
  /** Where problems go that a build cannot report through its callbacks. @default console.error */
  onError?: (message: string) => void;
}

export interface RunnerServer {
  /** e.g. `http://127.0.0.1:8791` */
  url: string;
  /** Sets the callback base for builds started from now on (for a runner started before the API). */
  setCallbackUrl(url: string): void;
  /** Ids of the builds that have not finished yet. */
  activeBuilds(): string[];
  /**
   * Takes no new builds, gives the running ones `drainMs` to finish, then stops the rest (they report
   * `failed`, class `health_check`), waits for every build to report, and stops the server.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

/** The runner's HTTP service: `POST /builds`, `DELETE /builds/:uuid`, `GET /health`. */
export async function startRunnerServer(options: RunnerServerOptions): Promise<RunnerServer> {
  if (options.token.length < 16) throw new Error("runner: the token must be at least 16 characters long");
  const maxConcurrent = options.maxConcurrent ?? 4;
  const cloudflareApiPort =
    options.cloudflareApi === undefined ? undefined : loopbackPort(options.cloudflareApi);
  const tokenDigest = sha256(options.token);
  let callbackUrl = options.callbackUrl;
  let closing = false;
  const builds = new Map<string, BuildHandle>();
  const finished = new Set<string>();

  const authorized = (req: IncomingMessage) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    // Digests have equal length, which timingSafeEqual needs; comparing them leaks nothing about the token.
    return timingSafeEqual(sha256(match?.[1] ?? ""), tokenDigest) && match !== null;
  };

  async function startRoute(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (body === undefined) {
      res.setHeader("connection", "close");
      return send(res, 413, { error: `request body is larger than ${MAX_REQUEST_BYTES} bytes` });
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch (error) {
      return send(res, 400, { error: `request body is not valid JSON: ${errorMessage(error)}` });
    }
    const parsed = startBuildRequestSchema.safeParse(json);
    if (!parsed.success)
      return send(res, 400, { error: "invalid start build request", issues: parsed.error.issues });
    const request = parsed.data;
    const running = builds.get(request.build_uuid);
    if (running) {
      running.renewToken(request.callback_token);
      return send(res, 202, { accepted: true });
    }
    if (finished.has(request.build_uuid)) return send(res, 202, { accepted: true });
    if (closing) {
      res.setHeader("retry-after", "5");
      return send(res, 503, { error: "the runner is shutting down" });
    }
    if (builds.size >= maxConcurrent) {
      res.setHeader("retry-after", "5");
      return send(res, 503, {
        error: `the runner is busy (${builds.size} of ${maxConcurrent} builds running)`,
      });
    }
    const handle = startBuild({
      request,
      callbackUrl,
      allowFileRepos: options.allowFileRepos,
      cloudflareApiPort,
      sandbox: options.sandbox,
      logFlushIntervalMs: options.logFlushIntervalMs,
      killGraceMs: options.killGraceMs,
      callbackRetry: options.callbackRetry,
      onError: options.onError,
    });
    builds.set(request.build_uuid, handle);
    void handle.done.then(() => {
      builds.delete(request.build_uuid);
      finished.add(request.build_uuid);
      if (finished.size > REMEMBERED_BUILDS) finished.delete(finished.values().next().value!);
    });
    send(res, 202, { accepted: true });
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const { pathname } = new URL(req.url ?? "/", "http://runner");
    if (pathname === "/health") {
      if (req.method !== "GET") return send(res, 405, { error: "use GET" });
      const health: RunnerHealth = {
        ok: !closing,
        active: builds.size,
        capacity: maxConcurrent,
        draining: closing,
        isolated: options.sandbox.isolated,
      };
      return send(res, closing ? 503 : 200, health);
    }
    const buildMatch = /^\/builds\/([^/]+)$/.exec(pathname);
    if (pathname !== "/builds" && !buildMatch) return send(res, 404, { error: `no route ${pathname}` });
    if (!authorized(req)) {
      res.setHeader("www-authenticate", "Bearer");
      return send(res, 401, { error: "missing or wrong bearer token" });
    }
    if (pathname === "/builds") {
      if (req.method !== "POST") return send(res, 405, { error: "use POST /builds" });
      return startRoute(req, res);
    }
    if (req.method !== "DELETE") return send(res, 405, { error: "use DELETE /builds/:uuid" });
    const uuid = decodeURIComponent(buildMatch![1]!);
    const build = builds.get(uuid);
    if (!build) return send(res, 404, { error: `build ${uuid} is not running here` });
    build.cancel();
    send(res, 202, { accepted: true });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(res, 500, { error: errorMessage(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    setCallbackUrl(url) {
      callbackUrl = url;
    },
    activeBuilds: () => [...builds.keys()],
    async close({ drainMs = 0 } = {}) {
      closing = true;
      const running = [...builds.values()];
      const allDone = Promise.all(running.map((build) => build.done));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDone, new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
      for (const build of builds.values()) build.abandon();
      await allDone;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await options.sandbox.close();
    },
  };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** The request body, or undefined when it is larger than `limit` (the rest is then read and dropped). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"] ?? 0) > limit) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        return resolve(undefined);
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}
