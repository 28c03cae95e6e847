/**
 * A build's resource limits, on the real sandbox (namespaces, cgroups, a loop-mounted disk): a build that
 * goes over one is stopped, fails with the failure class `resource_limit` and a log line naming the limit,
 * and a build running beside it finishes as it would alone, within a stated bound.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StartBuildRequest } from "../shared/protocol";
import { type RunnerServer, startRunnerServer } from "./server";
import {
  buildRequest,
  type CallbackServer,
  createTestRepo,
  startCallbackServer,
  type TestRepo,
  tempDir,
  testSandbox,
} from "./testing";

const TOKEN = "limits-test-token-0123456789abcdef";
const LIMITS = { memoryMb: 256, pids: 128, cpus: 1, cpuSeconds: 3, diskMb: 256 };
/** How much longer than alone a build may take beside one that goes over a limit. */
const SLOWDOWN_BOUND = 3;
const work = tempDir("runner-limits-");
let callback: CallbackServer;
let runner: RunnerServer;
let repo: TestRepo;

beforeAll(async () => {
  callback = await startCallbackServer();
  repo = createTestRepo(work.dir);
  repo.commit({ "README.md": "limits\n" });
  runner = await startRunnerServer({
    token: TOKEN,
    callbackUrl: callback.url,
    allowFileRepos: true,
    sandbox: await testSandbox(path.join(work.dir, "builds"), LIMITS),
    maxConcurrent: 4,
    logFlushIntervalMs: 50,
    killGraceMs: 500,
  });
});

afterAll(async () => {
  await runner?.close();
  await callback?.close();
  work.remove();
});

/** Starts a build and resolves once it stopped, with its log and how long it took from start to stop. */
async function build(buildCommand: string, overrides: Partial<StartBuildRequest> = {}) {
  const request = buildRequest({ repo_url: repo.url, build_command: buildCommand, ...overrides });
  callback.allow(request.build_uuid, request.callback_token);
  const started = Date.now();
  const response = await fetch(`${runner.url}/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(request),
  });
  expect(response.status).toBe(202);
  const stopped = await callback.waitForStopped(request.build_uuid, 60_000);
  return { stopped, seconds: (Date.now() - started) / 1000, lines: callback.lines(request.build_uuid) };
}

/** A fixed amount of CPU work (about half a second of one core here). */
const WORK =
  "node -e 'let x = 0; for (let i = 0; i < 4e8; i++) x = (x + i) % 1000003; console.log(\"work\", x)'";

describe("a build over one of its limits", () => {
  let alone = 0;
  it("a build of fixed work, alone, for the bound", async () => {
    const result = await build(WORK);
    expect(result.stopped.outcome).toBe("success");
    alone = result.seconds;
  });

  it.each([
    [
      "a fork bomb",
      "f() { f | f & }; f; sleep 30",
      `Build stopped: it reached its limit of ${LIMITS.pids} processes and threads (a new one was refused)`,
    ],
    [
      "a memory hog",
      "node -e 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'",
      `Build stopped: it went over its memory limit of ${LIMITS.memoryMb} MiB (a process was killed for lack of memory)`,
    ],
    [
      "a disk filler",
      "head -c 400M /dev/zero > big.bin; sleep 30",
      `Build stopped: it filled its disk limit of ${LIMITS.diskMb} MiB`,
    ],
  ])(
    "%s ends failed (resource_limit) naming the limit; a build beside it is not slowed past the bound",
    async (_name, attack, line) => {
      const [bad, good] = await Promise.all([build(attack), build(WORK)]);
      expect(bad.stopped).toMatchObject({ outcome: "failed", failure_class: "resource_limit" });
      expect(bad.lines).toContain(line);
      expect(good.stopped.outcome).toBe("success");
      expect(good.seconds).toBeLessThan(alone * SLOWDOWN_BOUND + 2);
    },
  );

  it("a build past its CPU time ends failed (resource_limit) naming the limit", async () => {
    const { stopped, lines } = await build("node -e 'for (;;) {}'");
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "resource_limit" });
    expect(
      lines.some((l) => /^Build stopped: it used [\d.]+ s of CPU time, over its limit of 3 s$/.test(l)),
    ).toBe(true);
  });

  it("the limits are per build: the next build starts with none of the last one's usage", async () => {
    const { stopped } = await build("echo fine");
    expect(stopped.outcome).toBe("success");
  });
});
