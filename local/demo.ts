/**
 * `npm run demo`: the builds platform's whole path on the local target, as a new user would walk it. A
 * real git repository holding a Worker project gets a Worker and a trigger, a push and its signed GitHub
 * webhook; the build that follows is watched live from its log stream, deploys the Worker with the real
 * wrangler through the local Cloudflare API stand-in, and the live Worker answers. A change pushed to a
 * feature branch then gets a preview URL of its own, while production answers as before.
 */
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { format } from "node:util";
import { BRANCH, createSiteRepo, githubPushDelivery, githubSignature, siteFiles } from "./demo-site";
import { DEFAULT_DEV_ACCOUNT, devTokenServiceOf, signDevToken } from "./dev-token";
import { parseSse } from "./sse";
import { processAlive, startLocalTarget } from "./target/runner";
import { localDevTokenService } from "./token-cli";
import { getByHost } from "./workers-dev";

const REPO_ROOT = path.resolve(__dirname, "..");
const WORKER_NAME = "hello-worker";
/** The branch the demo pushes a change to, for a preview. */
const FEATURE_BRANCH = "feature/greeting";
/** How long a target that another process is starting may take to answer. */
const READY_WAIT_MS = 90_000;
const STREAM_RECONNECTS = 5;

export class DemoError extends Error {
  override name = "DemoError";
}

export interface DemoOptions {
  /** State folder of the local target (data, lock, endpoints.json); the demo's repositories go in `demo/`. @default `<repo>/.local` */
  stateDir?: string;
  /** Account the demo's token is for. @default DEFAULT_DEV_ACCOUNT */
  account?: string;
  /** Print the local target's own log when the demo starts it. @default false */
  verbose?: boolean;
  /** @default a line on stdout */
  out?: (line: string) => void;
  /** Stops following the build and stops a target the demo started. */
  signal?: AbortSignal;
}

export interface DemoResult {
  workerName: string;
  buildUuid: string;
  /** `build_outcome` of the stopped build; null when it never stopped. */
  outcome: string | null;
}

interface Build {
  build_uuid: string;
  status: string;
  build_outcome: string | null;
  failure_class: string | null;
  deployment_url: string | null;
  preview_url: string | null;
  created_at: string;
  initializing_at: string | null;
  running_at: string | null;
  stopped_at: string | null;
}

const seconds = (from: string | null, to: string | null): string =>
  from === null || to === null ? "-" : `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;

/** One line of how long a build spent in each status, from its timestamps (`-` for a status it skipped). */
export function timeline(
  build: Pick<Build, "created_at" | "initializing_at" | "running_at" | "stopped_at">,
): string {
  return [
    `queued ${seconds(build.created_at, build.initializing_at)}`,
    `initializing ${seconds(build.initializing_at, build.running_at)}`,
    `running ${seconds(build.running_at, build.stopped_at)}`,
    `stopped (total ${seconds(build.created_at, build.stopped_at)})`,
  ].join(" → ");
}

interface Envelope<T> {
  success: boolean;
  errors: { code: number; message: string }[];
  result: T;
}

/** Calls the REST API; anything but the expected status is a DemoError naming the call and the API's reasons. */
async function call<T>(
  api: string,
  method: string,
  route: string,
  options: { token?: string; body?: string | object; headers?: Record<string, string>; expect: number[] },
): Promise<{ status: number; result: T }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const body = typeof options.body === "object" ? JSON.stringify(options.body) : options.body;
  const res = await fetch(`${api}${route}`, { method, headers, body });
  const text = await res.text();
  let json: Envelope<T> | undefined;
  try {
    json = JSON.parse(text) as Envelope<T>;
  } catch {
    json = undefined;
  }
  if (!options.expect.includes(res.status) || json === undefined) {
    const reasons = json?.errors?.map((e) => e.message).join("; ") || text.slice(0, 200);
    throw new DemoError(`${method} ${route} answered ${res.status}: ${reasons}`);
  }
  return { status: res.status, result: json.result };
}

interface Connection {
  api: string;
  /** The entry port: workers.dev host names are reached through it, by `Host`. */
  entry: string;
  /** Script name of the builds platform's client Worker. */
  clientName: string;
  secret: string;
  /** Set when the demo started the target itself. */
  stop?: () => Promise<void>;
}

/** The builds platform's client Worker among a target's Workers (script name → URL), by its script name. */
function clientOf(workers: Record<string, string>, name: string): { name: string; url: string } | undefined {
  const url = workers[name];
  return url === undefined ? undefined : { name, url };
}

/** The client Worker (script `name`) of endpoints.json when it answers its health check. */
async function healthyClient(
  stateDir: string,
  name: string,
): Promise<{ name: string; url: string; entry: string } | undefined> {
  let client: { name: string; url: string; entry: string } | undefined;
  try {
    const endpoints = JSON.parse(readFileSync(path.join(stateDir, "endpoints.json"), "utf8"));
    const found = clientOf(endpoints.workers ?? {}, name);
    if (found && typeof endpoints.entry === "string") client = { ...found, entry: endpoints.entry };
  } catch {
    return undefined;
  }
  if (!client) return undefined;
  try {
    const res = await fetch(`${client.url}/api/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? client : undefined;
  } catch {
    return undefined;
  }
}

/** Uses the local target running on `stateDir`, waiting for one still starting, or starts one here. */
async function connect(
  stateDir: string,
  options: DemoOptions,
  out: (line: string) => void,
): Promise<Connection> {
  const lockFile = path.join(stateDir, "target.lock");
  const pid = existsSync(lockFile) ? Number(readFileSync(lockFile, "utf8").trim()) : Number.NaN;
  if (Number.isInteger(pid) && processAlive(pid)) {
    // The REST API is the Worker that declared development tokens (a dev-token local service).
    const api = await localDevTokenService({ stack: "local" });
    // endpoints.json is rewritten when a start is ready: until then it may name the last run's ports.
    let client = await healthyClient(stateDir, api.scriptName);
    if (!client) out(`waiting for the local target (pid ${pid}) to be ready`);
    const deadline = Date.now() + READY_WAIT_MS;
    while (!client && Date.now() < deadline && !options.signal?.aborted) {
      await new Promise((r) => setTimeout(r, 500));
      client = await healthyClient(stateDir, api.scriptName);
    }
    if (!client) {
      throw new DemoError(
        `the local target (pid ${pid}, state in ${stateDir}) runs but its REST API did not answer within ${READY_WAIT_MS / 1000} s; stop it and run the demo again`,
      );
    }
    out(`using the local target already running (pid ${pid}): REST API at ${client.url}`);
    return { api: client.url, entry: client.entry, clientName: client.name, secret: api.secret };
  }
  out("no local target is running: starting one for this demo (PostgreSQL, workerd, build runner)");
  const logFile = path.join(stateDir, "demo", "target.log");
  if (!options.verbose) {
    writeFileSync(logFile, "");
    out(`  its log: ${logFile}`);
  }
  const restoreConsole = options.verbose ? () => {} : consoleToFile(logFile);
  const started = Date.now();
  let target: Awaited<ReturnType<typeof startLocalTarget>>;
  try {
    target = await startLocalTarget({
      stateDir,
      log: options.verbose
        ? (line) => out(`  target: ${line}`)
        : (line) => appendFileSync(logFile, `${line}\n`),
    });
  } catch (err) {
    restoreConsole();
    throw err;
  }
  const stop = async () => {
    try {
      await target.stop();
    } finally {
      restoreConsole();
    }
  };
  const service = devTokenServiceOf(target.plan.services);
  const client = service && clientOf(target.workers, service.scriptName);
  const secret = service?.secret;
  if (!client || !secret) {
    await stop();
    throw new DemoError(
      "the local stack has no Worker that declares development tokens (the builds platform's REST API)",
    );
  }
  out(`local target ready in ${((Date.now() - started) / 1000).toFixed(1)} s: REST API at ${client.url}`);
  return { api: client.url, entry: target.entryUrl, clientName: client.name, secret, stop };
}

/** Creates `hello-worker`, or `hello-worker-2`, `-3`... when the account already has one. */
async function createWorker(api: string, token: string): Promise<string> {
  for (let n = 1; n <= 100; n++) {
    const name = n === 1 ? WORKER_NAME : `${WORKER_NAME}-${n}`;
    const res = await call(api, "POST", "/api/workers", { token, body: { name }, expect: [201, 401, 409] });
    if (res.status === 201) return name;
    if (res.status === 401) {
      throw new DemoError(
        "the running target refused a token signed with the local stack's API_JWT_SECRET: was it started with another --config-file or --stack? Restart it with plain `npm start`",
      );
    }
  }
  throw new DemoError(
    `the account already has Workers ${WORKER_NAME} to ${WORKER_NAME}-100; delete a few first`,
  );
}

/** Follows the build's log stream to its `done` event, printing each line as it arrives. */
async function followLogs(
  api: string,
  token: string,
  uuid: string,
  print: (line: string, ts: number) => void,
  signal?: AbortSignal,
): Promise<{ build_outcome: string | null } | undefined> {
  let lastId: string | undefined;
  for (let attempt = 0; attempt <= STREAM_RECONNECTS && !signal?.aborted; attempt++) {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    // A reconnection resumes after the last line received, so no line is printed twice.
    if (lastId !== undefined) headers["Last-Event-ID"] = lastId;
    let res: Response;
    try {
      res = await fetch(`${api}/api/builds/${uuid}/logs/stream`, { headers, signal });
    } catch (err) {
      if (signal?.aborted) return undefined;
      throw err;
    }
    if (!res.ok || !res.body)
      throw new DemoError(`the log stream answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body) {
        const parsed = parseSse(buffer + decoder.decode(chunk as Uint8Array, { stream: true }));
        buffer = parsed.rest;
        for (const event of parsed.events) {
          if (event.id !== undefined) lastId = event.id;
          if (event.event === "log") {
            const entry = JSON.parse(event.data) as { line: string; ts: number };
            print(entry.line, entry.ts);
          } else if (event.event === "done")
            return JSON.parse(event.data) as { build_outcome: string | null };
        }
      }
    } catch (err) {
      if (signal?.aborted) return undefined;
      // The connection dropped mid-build: reconnect below.
      if (!(err instanceof TypeError)) throw err;
    }
  }
  return undefined;
}

/** What the demo built, for the follow-up commands. */
interface Built extends DemoResult {
  triggerId: string;
}

/** How long the install step (`npm ci`) took: from its command line to the next command's, in the log. */
export function installSeconds(entries: { line: string; ts: number }[]): number | undefined {
  const from = entries.findIndex((e) => /^\$ npm (ci|install)\b/.test(e.line));
  if (from < 0) return undefined;
  const to = entries.slice(from + 1).find((e) => e.line.startsWith("$ "));
  return to === undefined ? undefined : (to.ts - entries[from]!.ts) / 1000;
}

/** A workers.dev URL's answer through the entry port: its status and first line. */
async function getWorkersDev(entry: string, url: string): Promise<string> {
  const { status, body } = await getByHost(entry, url);
  return `${status} ${body.split("\n")[0]}`;
}

/** A push and its signed webhook, then the build it started followed live to its outcome. */
async function pushAndFollow(
  conn: Connection,
  token: string,
  push: { repo: ReturnType<typeof createSiteRepo>; trigger: { id: string; webhook_secret: string } },
  change: { branch: string; message: string; files: string[] },
  out: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ build: Build | undefined; entries: { line: string; ts: number }[]; uuid: string }> {
  const { api } = conn;
  const pushed = push.repo.push(change.message, change.branch);
  out(`pushed commit ${pushed.sha.slice(0, 7)} to ${change.branch}`);
  const delivery = githubPushDelivery({
    repoUrl: push.repo.url,
    branch: change.branch,
    before: pushed.before,
    sha: pushed.sha,
    message: change.message,
    files: change.files,
  });
  const hook = await call<{ builds: { build_uuid: string; trigger_id: string }[] }>(
    api,
    "POST",
    "/webhooks/github",
    {
      body: delivery,
      expect: [200, 202],
      headers: {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": randomUUID(),
        "X-Hub-Signature-256": githubSignature(push.trigger.webhook_secret, delivery),
      },
    },
  );
  const uuid = hook.result.builds.find((b) => b.trigger_id === push.trigger.id)?.build_uuid;
  if (!uuid) throw new DemoError(`the push webhook started no build: ${JSON.stringify(hook.result)}`);
  out(`GitHub push webhook, signed with the trigger's webhook secret: queued build ${uuid}`);
  out("build log (live):");
  const entries: { line: string; ts: number }[] = [];
  const done = await followLogs(
    api,
    token,
    uuid,
    (line, ts) => {
      entries.push({ line, ts });
      out(`  │ ${line}`);
    },
    signal,
  );
  if (!done) {
    if (signal?.aborted) return { build: undefined, entries, uuid };
    throw new DemoError(`the log stream of build ${uuid} kept ending before the build did`);
  }
  const build = (await call<Build>(api, "GET", `/api/builds/${uuid}`, { token, expect: [200] })).result;
  const failure = build.failure_class ? ` (failure class: ${build.failure_class})` : "";
  out(`outcome: ${build.build_outcome}${failure}`);
  out(`timeline: ${timeline(build)}`);
  return { build, entries, uuid };
}

/**
 * Worker, repository, trigger; a push to the production branch built and deployed with the default
 * commands, and the deployed Worker's answer; then a change pushed to a feature branch, uploaded as a
 * version with a preview URL, whose answer is printed next to production's, unchanged.
 */
async function pushAndBuild(
  conn: Connection,
  stateDir: string,
  account: string,
  out: (line: string) => void,
  signal?: AbortSignal,
): Promise<Built> {
  const { api } = conn;
  const token = signDevToken(conn.secret, account);
  out(`token: signed for account ${account} with the local stack's API_JWT_SECRET (HS256, valid 24 h)`);

  const workerName = await createWorker(api, token);
  out(`Worker: ${workerName}`);
  const repoDir = path.join(stateDir, "demo", workerName);
  const repo = createSiteRepo(repoDir);
  out(`git repository: ${repo.url} (a Worker project: wrangler.jsonc, package.json with wrangler, lockfile)`);

  const trigger = await call<{ id: string; webhook_secret: string }>(
    api,
    "POST",
    `/api/workers/${workerName}/triggers`,
    {
      token,
      expect: [201],
      body: {
        repo_url: repo.url,
        production_branch: BRANCH,
        build_non_production_branches: true,
        build_caching_enabled: true,
      },
    },
  );
  out(
    `trigger: ${BRANCH} runs \`npx wrangler deploy\`, other branches \`npx wrangler versions upload\` (the defaults); the lockfile means \`npm ci\` first`,
  );
  const push = { repo, trigger: trigger.result };
  const built = { workerName, triggerId: trigger.result.id };

  const first = await pushAndFollow(
    conn,
    token,
    push,
    { branch: BRANCH, message: "Add hello-worker", files: Object.keys(siteFiles()) },
    out,
    signal,
  );
  if (!first.build) return { ...built, buildUuid: first.uuid, outcome: null };
  if (first.build.build_outcome !== "success" || !first.build.deployment_url) {
    return { ...built, buildUuid: first.uuid, outcome: first.build.build_outcome };
  }
  out(`deployed: ${first.build.deployment_url}`);
  out(`  its answer: ${await getWorkersDev(conn.entry, first.build.deployment_url)}`);

  out("");
  out(`a change on ${FEATURE_BRANCH}: a new greeting, uploaded as a version with its own preview URL`);
  const index = siteFiles()["src/index.js"]!.replace("from v1", "from v2 on a feature branch");
  repo.write({ "src/index.js": index });
  const second = await pushAndFollow(
    conn,
    token,
    push,
    { branch: FEATURE_BRANCH, message: "A new greeting", files: ["src/index.js"] },
    out,
    signal,
  );
  if (!second.build) return { ...built, buildUuid: second.uuid, outcome: null };
  const outcome = second.build.build_outcome;
  if (second.build.preview_url) {
    out(`preview:    ${second.build.preview_url}`);
    out(`  its answer:         ${await getWorkersDev(conn.entry, second.build.preview_url)}`);
    out(`production: ${first.build.deployment_url}`);
    out(`  its answer, as before: ${await getWorkersDev(conn.entry, first.build.deployment_url)}`);
  }
  const [cold, warm] = [installSeconds(first.entries), installSeconds(second.entries)];
  if (cold !== undefined && warm !== undefined) {
    out(
      `npm ci: ${cold.toFixed(1)} s in the first build (from the registry), ${warm.toFixed(1)} s in the second (from the build cache)`,
    );
  }
  return { ...built, buildUuid: second.uuid, outcome };
}

/** Commands to look at the build afterwards; the token stays out of the output, in `$TOKEN`. */
function followUps(conn: Connection, stateDir: string, account: string, built: Built): string[] {
  const defaultState = stateDir === path.join(REPO_ROOT, ".local");
  const tokenCommand =
    account === DEFAULT_DEV_ACCOUNT ? "npm run -s token" : `npm run -s token -- --account ${account}`;
  const auth = '-H "Authorization: Bearer $TOKEN"';
  const build = `$API/api/builds/${built.buildUuid}`;
  const lines = ["", "explore it with curl:"];
  if (conn.stop) {
    // The next start serves the same data on new ports: the URL is read from its endpoints.json.
    const start = defaultState ? "npm start" : `npm start -- --state-dir ${stateDir}`;
    const endpoints = JSON.stringify(path.join(stateDir, "endpoints.json"));
    lines.push(
      `  ${start}   # in another terminal first: the data stays, the target this demo started has stopped`,
      `  export API=$(node -p 'require(${endpoints}).workers[${JSON.stringify(conn.clientName)}]')`,
    );
  } else {
    lines.push(`  export API=${conn.api}`);
  }
  lines.push(
    `  export TOKEN=$(${tokenCommand})`,
    `  curl -s ${auth} ${build}`,
    `  curl -s ${auth} ${build}/logs`,
    `  curl -sN ${auth} ${build}/logs/stream`,
    `  curl -s ${auth} $API/api/workers/${built.workerName}/builds`,
    `  curl -s ${auth} -H "Content-Type: application/json" -d '{"branch":"${BRANCH}"}' $API/api/triggers/${built.triggerId}/builds`,
    `  curl -s ${auth} -X POST ${build}/retry`,
  );
  return lines;
}

/**
 * While a target the demo started runs, its Workers' console output (Miniflare prints it with
 * `console.log`) and its own log go to a file, so that the demo's lines stay readable.
 */
function consoleToFile(file: string): () => void {
  const saved = { ...console };
  const write = (...args: unknown[]) => appendFileSync(file, `${format(...args)}\n`);
  Object.assign(console, { log: write, info: write, warn: write, error: write, debug: write });
  return () => Object.assign(console, saved);
}

/**
 * Runs the demo (see the module comment) on the local target running on the state folder, or on one it
 * starts and stops. Resolves with the build's outcome; throws a DemoError when a step is refused.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stateDir = path.resolve(options.stateDir ?? path.join(REPO_ROOT, ".local"));
  const account = options.account ?? DEFAULT_DEV_ACCOUNT;
  mkdirSync(path.join(stateDir, "demo"), { recursive: true });

  out("builds platform demo: a git push becomes a live Worker, and a branch a preview of it");
  const conn = await connect(stateDir, options, out);
  let built: Built;
  try {
    built = await pushAndBuild(conn, stateDir, account, out, options.signal);
  } finally {
    if (conn.stop) {
      out("stopping the local target this demo started");
      await conn.stop();
    }
  }
  if (built.outcome !== null) for (const line of followUps(conn, stateDir, account, built)) out(line);
  return { workerName: built.workerName, buildUuid: built.buildUuid, outcome: built.outcome };
}
