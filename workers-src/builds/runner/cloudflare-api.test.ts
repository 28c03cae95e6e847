/**
 * A runner started with `cloudflareApi` (`--cloudflare-api`): its sandboxed builds reach that one port of
 * the host's loopback at the same address, and no other port of it (another server's, the runner's own);
 * every build has a forwarder of its own, gone with the build (and with a runner that is killed), its
 * socket removed; the token a build is given never shows in its log. A runner without it changes nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../local/stack-file";
import { descendants } from "../../../test/processes";
import type { StartBuildRequest } from "../shared/protocol";
import { removeSandboxLeftovers, unisolatedSandbox } from "./sandbox";
import { removeNetworkPolicy } from "./sandbox/network";
import { type RunnerServer, startRunnerServer } from "./server";
import {
  buildRequest,
  type CallbackServer,
  createTestRepo,
  hostCommandLinesContaining,
  processAlive,
  startCallbackServer,
  type TestRepo,
  tempDir,
  testSandbox,
} from "./testing";

const BUILD_WAIT = { timeout: 30_000, interval: 100 };
const TOKEN = "cf-api-test-token-0123456789abcdef";
const work = tempDir("runner-cf-api-");
const buildsRoot = path.join(work.dir, "builds");

/** A host server that answers every request with its name, and remembers what it was asked. */
interface HostServer {
  port: number;
  requests: { url: string; authorization: string | undefined }[];
  server: Server;
}

/** Builds waiting at `/gate` go on once their uuid is in here. */
const opened = new Set<string>();
let api: HostServer;
let other: HostServer;
let callback: CallbackServer;
let repo: TestRepo;
let runner: RunnerServer;
const owned: RunnerServer[] = [];
const children: ChildProcess[] = [];

async function hostServer(name: string): Promise<HostServer> {
  const requests: HostServer["requests"] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", authorization: req.headers.authorization });
    const gate = /\/gate\?build=(.+)$/.exec(req.url ?? "");
    if (gate) return res.end(opened.has(gate[1] as string) ? "open" : "closed");
    res.end(`${name} answered ${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, requests, server };
}

/** `node fetch.js <url>`: one line, `answer: <body>` or `error: <code>`, with the build's token. */
const FETCH_JS = `fetch(process.argv[2], {
  headers: { authorization: "Bearer " + process.env.CLOUDFLARE_API_TOKEN },
  signal: AbortSignal.timeout(3000),
}).then(
  (r) => r.text().then((t) => console.log("answer: " + t)),
  (e) => console.log("error: " + ((e.cause && e.cause.code) || e.name)),
);
`;

/** `node gate.js <uuid>`: waits until the API's gate opens for the build. */
const GATE_JS = `const url = process.env.CLOUDFLARE_API_BASE_URL + "/gate?build=" + process.argv[2];
console.log("at the gate");
(async () => {
  while ((await (await fetch(url)).text()) !== "open") await new Promise((r) => setTimeout(r, 100));
  console.log("through the gate");
})();
`;

beforeAll(async () => {
  api = await hostServer("stand-in");
  other = await hostServer("other");
  callback = await startCallbackServer();
  repo = createTestRepo(work.dir);
  repo.commit({ "fetch.js": FETCH_JS, "gate.js": GATE_JS });
  runner = await startRunnerServer({
    token: TOKEN,
    allowFileRepos: true,
    sandbox: await testSandbox(buildsRoot),
    cloudflareApi: `http://127.0.0.1:${api.port}`,
    maxConcurrent: 2,
    logFlushIntervalMs: 50,
    killGraceMs: 500,
  });
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(owned.map((own) => own.close().catch(() => undefined)));
  await runner?.close();
  await callback?.close();
  for (const server of [api, other]) server?.server.close();
  work.remove();
});

/** A build of the test repository with the platform's Cloudflare API variables, its token a secret. */
function request(command: string, token = `cfl_${randomBytes(24).toString("base64url")}`): StartBuildRequest {
  const value = buildRequest({
    repo_url: repo.url,
    callback_url: callback.url,
    build_command: command,
    env: {
      CLOUDFLARE_API_BASE_URL: `http://127.0.0.1:${api.port}/client/v4`,
      CLOUDFLARE_ACCOUNT_ID: "account-1",
      CLOUDFLARE_API_TOKEN: token,
    },
    secret_names: ["CLOUDFLARE_API_TOKEN"],
  });
  callback.allow(value.build_uuid, value.callback_token);
  return value;
}

async function post(server: RunnerServer, build: StartBuildRequest): Promise<void> {
  const response = await fetch(`${server.url}/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(build),
  });
  expect(response.status).toBe(202);
}

/** Host pids of a build's forwarder (its command line ends with the build's uuid). */
function forwarders(uuid: string): number[] {
  return hostCommandLinesContaining(`cloudflare-api-forward ${uuid}`);
}

describe("a runner with cloudflareApi", () => {
  it("lets a sandboxed build reach that port and no other of the host's loopback, its token masked", async () => {
    const token = `cfl_${randomBytes(24).toString("base64url")}`;
    const runnerPort = new URL(runner.url).port;
    const build = request(
      [
        'echo "token: $CLOUDFLARE_API_TOKEN"',
        'node fetch.js "$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/workers/scripts"',
        `node fetch.js http://[::1]:${api.port}/v6`,
        `echo other; node fetch.js http://127.0.0.1:${other.port}/`,
        `echo runner; node fetch.js http://127.0.0.1:${runnerPort}/health`,
        `echo slirp-host; node fetch.js http://10.0.2.2:${api.port}/`,
        `echo slirp-other; node fetch.js http://10.0.2.2:${other.port}/`,
      ].join("; "),
      token,
    );
    const before = api.requests.length;
    await post(runner, build);
    expect(await callback.waitForStopped(build.build_uuid, 60_000)).toMatchObject({ outcome: "success" });
    const log = callback.lines(build.build_uuid);
    expect(log.find((line) => line.startsWith("Sandbox: "))).toContain(
      `the Cloudflare API at 127.0.0.1:${api.port}`,
    );
    expect(log).toContain("answer: stand-in answered GET /client/v4/accounts/account-1/workers/scripts");
    expect(log).toContain("answer: stand-in answered GET /v6");
    const after = (label: string) => log[log.indexOf(label) + 1];
    for (const label of ["other", "runner", "slirp-host", "slirp-other"]) {
      expect(after(label)).toMatch(/^error: /);
    }
    // The stand-in saw the build's two requests with its token; nothing else on the host saw any.
    expect(api.requests.slice(before)).toEqual([
      { url: "/client/v4/accounts/account-1/workers/scripts", authorization: `Bearer ${token}` },
      { url: "/v6", authorization: `Bearer ${token}` },
    ]);
    expect(other.requests).toEqual([]);
    expect(log).toContain("token: ***");
    expect(log.join("\n")).not.toContain(token);
    expect(forwarders(build.build_uuid)).toEqual([]);
    expect(existsSync(path.join(buildsRoot, build.build_uuid))).toBe(false);
  });

  it("gives each of two builds at once a forwarder of its own, gone with its build with its socket", async () => {
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    const builds = [0, 1].map(() => request(""));
    for (const build of builds) {
      build.build_command = `node gate.js ${build.build_uuid}; node fetch.js "$CLOUDFLARE_API_BASE_URL/${build.build_uuid}"`;
      await post(runner, build);
    }
    for (const build of builds) {
      await expect.poll(() => callback.lines(build.build_uuid), BUILD_WAIT).toContain("at the gate");
    }
    // Both wait at the gate: both sandboxes, and their forwarders, are up at once.
    const pids = builds.map((build) => forwarders(build.build_uuid));
    expect(pids.map((found) => found.length)).toEqual([1, 1]);
    expect(pids[0]?.[0]).not.toBe(pids[1]?.[0]);
    // The runner's own children (it runs in this process), so that they go with it.
    expect(descendants(process.pid)).toEqual(expect.arrayContaining(pids.flat()));
    const sockets = builds.map((build) => path.join(buildsRoot, build.build_uuid, "api", "api.sock"));
    for (const socket of sockets) expect(statSync(socket).isSocket()).toBe(true);

    for (const build of builds) opened.add(build.build_uuid);
    for (const build of builds) {
      expect(await callback.waitForStopped(build.build_uuid, 60_000)).toMatchObject({ outcome: "success" });
      expect(callback.lines(build.build_uuid)).toContain(
        `answer: stand-in answered GET /client/v4/${build.build_uuid}`,
      );
    }
    for (const pid of pids.flat()) expect(processAlive(pid)).toBe(false);
    const left = descendants(process.pid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("cloudflare-api-forward");
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
    for (const build of builds) expect(forwarders(build.build_uuid)).toEqual([]);
    for (const socket of sockets) expect(existsSync(socket)).toBe(false);
  });

  it("a forwarder dies with a runner that is killed", async () => {
    const uidBase = 6_000_000 + randomInt(0, 10_000) * 100;
    const workRoot = path.join(work.dir, "killed");
    const child = spawn(
      process.execPath,
      [
        "-r",
        "./local/register.cjs",
        path.join(__dirname, "cli.ts"),
        "--port",
        "0",
        "--work-root",
        workRoot,
        "--uid-base",
        String(uidBase),
        "--uid-count",
        "10",
        "--allow-file-repos",
        "--cloudflare-api",
        `http://127.0.0.1:${api.port}`,
      ],
      { cwd: REPO_ROOT, env: { ...process.env, RUNNER_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    try {
      let stdout = "";
      child.stdout?.on("data", (chunk) => {
        stdout += chunk;
      });
      await expect.poll(() => /runner listening on (\S+)/.exec(stdout)?.[1], BUILD_WAIT).toBeDefined();
      const url = /runner listening on (\S+)/.exec(stdout)?.[1] as string;
      const build = request("");
      build.build_command = `node gate.js ${build.build_uuid}`;
      await post({ url } as RunnerServer, build);
      await expect.poll(() => callback.lines(build.build_uuid), BUILD_WAIT).toContain("at the gate");
      const [pid] = forwarders(build.build_uuid);
      expect(pid).toBeDefined();
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      await expect.poll(() => processAlive(pid as number), BUILD_WAIT).toBe(false);
      expect(forwarders(build.build_uuid)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      // What a killed runner leaves, a supervisor removes (as the local target does).
      await removeSandboxLeftovers(workRoot);
      await removeNetworkPolicy(uidBase);
    }
  });
});

describe("without cloudflareApi", () => {
  it("a sandboxed build reaches no port of the host's loopback, the stand-in's neither", async () => {
    const own = await startRunnerServer({
      token: TOKEN,
      allowFileRepos: true,
      sandbox: await testSandbox(path.join(work.dir, "plain")),
      logFlushIntervalMs: 50,
    });
    owned.push(own);
    const build = request(`node fetch.js http://127.0.0.1:${api.port}/plain`);
    await post(own, build);
    expect(await callback.waitForStopped(build.build_uuid, 60_000)).toMatchObject({ outcome: "success" });
    const log = callback.lines(build.build_uuid);
    expect(log.find((line) => line.startsWith("Sandbox: "))).not.toContain("Cloudflare API");
    expect(log.find((line) => line.startsWith("answer: ") || line.startsWith("error: "))).toMatch(/^error: /);
    expect(api.requests.map((r) => r.url)).not.toContain("/plain");
  });

  it("an unsandboxed runner with it runs builds on the host, which reach the stand-in as they are", async () => {
    const own = await startRunnerServer({
      token: TOKEN,
      allowFileRepos: true,
      sandbox: unisolatedSandbox(path.join(work.dir, "host")),
      cloudflareApi: `http://127.0.0.1:${api.port}`,
      logFlushIntervalMs: 50,
    });
    owned.push(own);
    const build = request(`node fetch.js "$CLOUDFLARE_API_BASE_URL/host"`);
    await post(own, build);
    expect(await callback.waitForStopped(build.build_uuid, 60_000)).toMatchObject({ outcome: "success" });
    expect(callback.lines(build.build_uuid)).toContain("answer: stand-in answered GET /client/v4/host");
  });

  it("refuses a cloudflareApi that is not http://127.0.0.1:<port>", async () => {
    await expect(
      startRunnerServer({
        token: TOKEN,
        allowFileRepos: true,
        sandbox: unisolatedSandbox(path.join(work.dir, "refused")),
        cloudflareApi: "http://localhost:8787/client/v4",
      }),
    ).rejects.toThrow("the Cloudflare API must be http://127.0.0.1:<port>, with no path");
  });
});
