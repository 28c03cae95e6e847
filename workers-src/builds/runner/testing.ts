/** Test helpers for the runner: real git repositories and a stand-in for the callback API. */
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type LogBatch,
  logBatchSchema,
  type StartBuildRequest,
  type StatusCallback,
  statusCallbackSchema,
} from "../shared/protocol";
import { openSandbox, type Sandbox, type SandboxLimits } from "./sandbox";

/**
 * The real sandbox, as the runner opens it, with its builds' workspaces under `workRoot` (a folder of its
 * own: opening a sandbox clears what is in it) and a uid range of its own, as runners sharing a host have.
 */
export function testSandbox(workRoot: string, limits: Partial<SandboxLimits> = {}): Promise<Sandbox> {
  const uidBase = 300_000 + randomInt(0, 50_000) * 100;
  return openSandbox({ workRoot, limits: { diskMb: 512, ...limits }, uidBase, uidCount: 100 });
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A bare repository (cloned through `url`) and a work tree that commits and pushes to it. */
export interface TestRepo {
  /** `file:///.../repo.git` */
  url: string;
  /** Writes the files, commits them and pushes to `branch`; returns the commit sha. */
  commit(files: Record<string, string>, options?: { branch?: string; message?: string }): string;
}

export function createTestRepo(root: string, name = "repo"): TestRepo {
  const bare = path.join(root, `${name}.git`);
  const work = path.join(root, `${name}-work`);
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", ...args], {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  mkdirSync(bare, { recursive: true });
  mkdirSync(work, { recursive: true });
  git(bare, "init", "-q", "--bare", "--initial-branch=main");
  git(work, "init", "-q", "--initial-branch=main");
  return {
    url: `file://${bare}`,
    commit(files, options = {}) {
      const branch = options.branch ?? "main";
      for (const [file, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
        writeFileSync(path.join(work, file), content);
      }
      git(work, "add", "-A");
      git(work, "commit", "-q", "--allow-empty", "-m", options.message ?? "change");
      const sha = git(work, "rev-parse", "HEAD");
      git(work, "push", "-q", bare, `HEAD:refs/heads/${branch}`);
      return sha;
    },
  };
}

export function buildRequest(overrides: Partial<StartBuildRequest> = {}): StartBuildRequest {
  return {
    build_uuid: randomUUID(),
    callback_token: randomBytes(24).toString("hex"),
    repo_url: "https://example.com/none.git",
    commit_hash: null,
    branch: "main",
    root_directory: "",
    build_command: null,
    deploy_command: "true",
    env: {},
    secret_names: [],
    cache_enabled: false,
    timeout_seconds: 60,
    ...overrides,
  };
}

export interface CallbackRecord {
  statuses: StatusCallback[];
  /** Log batches accepted (answered 2xx), in the order they arrived; a batch sent twice shows twice. */
  batches: LogBatch[];
  /** Every log post, including the ones answered with an injected failure. */
  logAttempts: number;
  cachePuts: number;
  cacheGets: number;
  /** The bearer token of every accepted request, in order. */
  tokens: string[];
}

export interface CallbackServer {
  url: string;
  /** What the API received for one build. */
  record(uuid: string): CallbackRecord;
  /** Lines of the accepted batches, in seq order. */
  lines(uuid: string): string[];
  /** Adds a token the API accepts for a build. */
  allow(uuid: string, token: string): void;
  /** Answers 500 to the first attempt of these log batches of one build. */
  failFirstAttempt(uuid: string, seqs: number[]): void;
  /** Resolves with the `stopped` status once it arrives. */
  waitForStopped(uuid: string, timeoutMs?: number): Promise<Extract<StatusCallback, { status: "stopped" }>>;
  /** The one cache slot all builds share, as tar.gz bytes. */
  cache: Buffer | undefined;
  close(): Promise<void>;
}

/** A stand-in for the Build Management Worker's callback API that records what it receives. */
export async function startCallbackServer(): Promise<CallbackServer> {
  const records = new Map<string, CallbackRecord>();
  const tokens = new Map<string, Set<string>>();
  const failing = new Set<string>();
  const failed = new Set<string>();
  const waiters: (() => void)[] = [];
  const record = (uuid: string) => {
    let entry = records.get(uuid);
    if (!entry) {
      entry = { statuses: [], batches: [], logAttempts: 0, cachePuts: 0, cacheGets: 0, tokens: [] };
      records.set(uuid, entry);
    }
    return entry;
  };
  const readAll = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  const server = createServer(async (req, res) => {
    const match = /^\/api\/builds\/([^/]+)\/(status|logs|cache)$/.exec(req.url ?? "");
    const body = await readAll(req);
    const reply = (status: number, text = "") => {
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(text);
    };
    if (!match) return reply(404, "no route");
    const [, uuid = "", route] = match;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (!tokens.get(uuid)?.has(bearer)) return reply(401, "bad token");
    record(uuid).tokens.push(bearer);
    const entry = record(uuid);
    if (route === "status" && req.method === "POST") {
      entry.statuses.push(statusCallbackSchema.parse(JSON.parse(body.toString())));
      for (const wake of waiters.splice(0)) wake();
      return reply(204);
    }
    if (route === "logs" && req.method === "POST") {
      entry.logAttempts++;
      const batch = logBatchSchema.parse(JSON.parse(body.toString()));
      const key = `${uuid}/${batch.seq}`;
      if (failing.has(key) && !failed.has(key)) {
        failed.add(key);
        return reply(500, "injected failure");
      }
      entry.batches.push(batch);
      return reply(204);
    }
    if (route === "cache" && req.method === "GET") {
      entry.cacheGets++;
      if (!api.cache) return reply(404, "no cache");
      res.writeHead(200, { "content-type": "application/gzip" });
      return res.end(api.cache);
    }
    if (route === "cache" && req.method === "PUT") {
      // As the real API: R2 needs the length up front.
      if (req.headers["content-length"] !== String(body.length))
        return reply(411, "content-length is required");
      entry.cachePuts++;
      api.cache = body;
      return reply(204);
    }
    reply(405);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const api: CallbackServer = {
    url: `http://127.0.0.1:${port}`,
    cache: undefined,
    record,
    lines: (uuid) =>
      [...record(uuid).batches]
        .sort((a, b) => a.seq - b.seq)
        .flatMap((batch) => batch.lines.map((l) => l.line)),
    allow: (uuid, token) => tokens.set(uuid, new Set([...(tokens.get(uuid) ?? []), token])),
    failFirstAttempt: (uuid, seqs) => {
      for (const seq of seqs) failing.add(`${uuid}/${seq}`);
    },
    async waitForStopped(uuid, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const stopped = record(uuid).statuses.find((status) => status.status === "stopped");
        if (stopped?.status === "stopped") return stopped;
        if (Date.now() > deadline)
          throw new Error(`build ${uuid} did not report stopped within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A `sleep` duration no other process on the host has, so the process can be found from outside its sandbox. */
export function uniqueSleep(): string {
  return `1000.${randomInt(1, 1_000_000_000)}`;
}

/** Every process on the host but this one, with its command line (arguments joined by spaces). */
function hostCommandLines(): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      found.push({ pid: Number(entry), cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Host pids of the live processes whose command line is `text` (a build's pids differ inside its sandbox). */
export function hostProcessesRunning(text: string): number[] {
  return hostCommandLines()
    .filter((p) => p.cmdline === text && processAlive(p.pid))
    .map((p) => p.pid);
}

/** Host pids of the processes whose command line contains `text` anywhere (a secret must never be there). */
export function hostCommandLinesContaining(text: string): number[] {
  return hostCommandLines()
    .filter((p) => p.cmdline.includes(text))
    .map((p) => p.pid);
}
