import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StartBuildRequest } from "../shared/protocol";
import { MAX_REQUEST_BYTES, type RunnerServer, startRunnerServer } from "./server";
import {
  buildRequest,
  type CallbackServer,
  createTestRepo,
  startCallbackServer,
  type TestRepo,
  tempDir,
  testSandbox,
} from "./testing";

/** A build takes its time on a loaded machine (its sandbox, its clone): polls wait for it this long. */
const BUILD_WAIT = { timeout: 30_000 };
const TOKEN = "server-test-token-0123456789abcdef";
const work = tempDir("runner-server-");
let callback: CallbackServer;
let runner: RunnerServer;
let repo: TestRepo;
const errors: string[] = [];

beforeAll(async () => {
  callback = await startCallbackServer();
  repo = createTestRepo(work.dir);
  repo.commit({ "README.md": "hi\n" });
  runner = await startRunnerServer({
    token: TOKEN,
    allowFileRepos: true,
    sandbox: await testSandbox(path.join(work.dir, "builds")),
    maxConcurrent: 1,
    logFlushIntervalMs: 50,
    killGraceMs: 500,
    onError: (message) => errors.push(message),
  });
});

/** Runners a test started for itself: closed at the end even when the test failed before closing it. */
const owned: RunnerServer[] = [];

afterAll(async () => {
  await Promise.all(owned.map((own) => own.close().catch(() => undefined)));
  await runner?.close();
  await callback?.close();
  work.remove();
});

function post(body: string, token = TOKEN, headers: Record<string, string> = {}) {
  return fetch(`${runner.url}/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body,
  });
}

function request(overrides: Partial<StartBuildRequest> = {}): StartBuildRequest {
  const value = buildRequest({ repo_url: repo.url, callback_url: callback.url, ...overrides });
  callback.allow(value.build_uuid, value.callback_token);
  return value;
}

describe("runner server", () => {
  it("answers GET /health without a token", async () => {
    const response = await fetch(`${runner.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      ok: true,
      active: 0,
      capacity: 1,
      draining: false,
      isolated: true,
    });
  });

  it.each([
    ["no token", undefined],
    ["a wrong token", "wrong-token-0123456789abcdef0123"],
    ["a prefix of the token", TOKEN.slice(0, -1)],
  ])("answers 401 to %s", async (_name, token) => {
    const response = await fetch(`${runner.url}/builds`, {
      method: "POST",
      headers: token ? { authorization: `Bearer ${token}` } : {},
      body: JSON.stringify(request()),
    });
    expect(response.status).toBe(401);
    const cancel = await fetch(`${runner.url}/builds/${request().build_uuid}`, {
      method: "DELETE",
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    expect(cancel.status).toBe(401);
  });

  it("answers 400 to a body that is not JSON", async () => {
    const response = await post("{not json");
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/not valid JSON/);
  });

  it("answers 400 with the issues to a request the schema refuses", async () => {
    const response = await post(JSON.stringify({ ...request(), build_uuid: "nope", extra: 1 }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { issues: { path: string[] }[] };
    expect(body.issues.map((issue) => issue.path.join("."))).toEqual(expect.arrayContaining(["build_uuid"]));
    expect(body.issues.length).toBeGreaterThanOrEqual(2);
  });

  it("answers 413 to a body over 1 MiB", async () => {
    const big = JSON.stringify({ ...request(), env: { BIG: "x".repeat(MAX_REQUEST_BYTES) } });
    expect((await post(big)).status).toBe(413);
  });

  it("answers 404 to DELETE of a build it does not run, and to unknown routes", async () => {
    const response = await fetch(`${runner.url}/builds/${request().build_uuid}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(404);
    expect((await fetch(`${runner.url}/nope`)).status).toBe(404);
  });

  it("treats a repeated start of the same build as accepted, without running it again", async () => {
    const build = request({ build_command: "echo ran-once" });
    const body = JSON.stringify(build);
    const [a, b] = await Promise.all([post(body), post(body)]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(await a.json()).toEqual({ accepted: true });
    await callback.waitForStopped(build.build_uuid);
    expect((await post(body)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const statuses = callback.record(build.build_uuid).statuses.map((status) => status.status);
    expect(statuses).toEqual(["running", "running", "stopped"]);
    expect(callback.lines(build.build_uuid).filter((line) => line === "ran-once")).toHaveLength(1);
  });

  it("answers 503 once maxConcurrent builds run, and takes builds again afterwards", async () => {
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    const long = request({ build_command: "sleep 1000" });
    expect((await post(JSON.stringify(long))).status).toBe(202);
    expect(runner.activeBuilds()).toEqual([long.build_uuid]);
    const busy = await post(JSON.stringify(request()));
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("5");
    await fetch(`${runner.url}/builds/${long.build_uuid}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await callback.waitForStopped(long.build_uuid)).toMatchObject({ outcome: "cancelled" });
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    const next = request();
    expect((await post(JSON.stringify(next))).status).toBe(202);
    expect(await callback.waitForStopped(next.build_uuid)).toMatchObject({ outcome: "success" });
  });

  it("uses the callback URL set later when a request carries none, and fails a build that has none", async () => {
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    const orphan = request({ callback_url: undefined });
    expect((await post(JSON.stringify(orphan))).status).toBe(202);
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    expect(errors.some((error) => error.includes("no callback URL"))).toBe(true);
    expect(callback.record(orphan.build_uuid).statuses).toEqual([]);

    runner.setCallbackUrl(callback.url);
    const later = request({ callback_url: undefined });
    expect((await post(JSON.stringify(later))).status).toBe(202);
    expect(await callback.waitForStopped(later.build_uuid)).toMatchObject({ outcome: "success" });
  });

  it("takes the new callback token of a repeated start of a running build, and reports with it", async () => {
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).toEqual([]);
    const build = request({ build_command: "echo started; sleep 1; echo finished" });
    expect((await post(JSON.stringify(build))).status).toBe(202);
    await expect.poll(() => callback.lines(build.build_uuid), BUILD_WAIT).toContain("started");
    const renewed = { ...build, callback_token: "b".repeat(48) };
    callback.allow(build.build_uuid, renewed.callback_token);
    expect((await post(JSON.stringify(renewed))).status).toBe(202);
    expect(await callback.waitForStopped(build.build_uuid)).toMatchObject({ outcome: "success" });
    expect(callback.lines(build.build_uuid)).toContain("finished");
    const tokens = callback.record(build.build_uuid).tokens;
    expect(tokens[0]).toBe(build.callback_token);
    expect(tokens.at(-1)).toBe(renewed.callback_token);
  });

  async function ownRunner(name: string) {
    const own = await startRunnerServer({
      token: TOKEN,
      allowFileRepos: true,
      sandbox: await testSandbox(path.join(work.dir, name)),
      logFlushIntervalMs: 50,
      killGraceMs: 500,
    });
    owned.push(own);
    return own;
  }

  async function startOn(server: RunnerServer, build: StartBuildRequest) {
    const response = await fetch(`${server.url}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(build),
    });
    expect(response.status).toBe(202);
  }

  it("close() lets running builds finish within the drain time, refusing new ones meanwhile", async () => {
    const own = await ownRunner("builds-drain");
    const build = request({ build_command: "echo started; sleep 3; echo finished" });
    await startOn(own, build);
    await expect.poll(() => callback.lines(build.build_uuid), BUILD_WAIT).toContain("started");
    const closed = own.close({ drainMs: 30_000 });
    const health = await fetch(`${own.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, draining: true, active: 1 });
    const refused = await fetch(`${own.url}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(request()),
    });
    expect(refused.status).toBe(503);
    await closed;
    expect(callback.lines(build.build_uuid)).toContain("finished");
    expect(callback.record(build.build_uuid).statuses.at(-1)).toMatchObject({
      status: "stopped",
      outcome: "success",
    });
  });

  it("close() stops the builds still running after the drain time: failed, class health_check, with a log line", async () => {
    const own = await ownRunner("builds-close");
    const build = request({ build_command: "echo started; sleep 1000" });
    await startOn(own, build);
    await expect.poll(() => callback.lines(build.build_uuid), BUILD_WAIT).toContain("started");
    await own.close({ drainMs: 200 });
    expect(callback.record(build.build_uuid).statuses.at(-1)).toMatchObject({
      status: "stopped",
      outcome: "failed",
      failure_class: "health_check",
    });
    expect(callback.lines(build.build_uuid)).toContain(
      "The runner is shutting down and this build did not finish in time; stopping",
    );
  });
});
