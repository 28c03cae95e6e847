import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../lib/digest";
import { type BuddyState, BuildBuddy } from "./buddy";
import { type OutboxRecord, StatusOutbox, type StatusSubject } from "./status-outbox";

const TOKEN = "t".repeat(64);
const STATUS_TOKEN = "glpat-SECRET-status-token";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const LINK = "https://builds.example.com";
/** The outbox's clock runs this far ahead, so that its alarm fires only when a test runs it. */
const AHEAD = 3_600_000;
const clock = () => Date.now() + AHEAD;
let n = 0;

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
}

interface Harness {
  stub: DurableObjectStub<BuildBuddy>;
  uuid: string;
  sent: Sent[];
  logs: string[];
  /** The answers the fake provider gives, in turn; then 201. */
  answers: (number | "network" | Promise<number>)[];
  subject: { value: StatusSubject };
}

/** A BuildBuddy with a running build, fake rows and compute, and a fake provider that records each request. */
async function buddy(state: Partial<BuddyState> = {}): Promise<Harness> {
  const uuid = `00000000-0000-4000-9000-${String(++n).padStart(12, "0")}`;
  const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`status-${uuid}-${Date.now()}`));
  const h: Harness = {
    stub,
    uuid,
    sent: [],
    logs: [],
    answers: [],
    subject: {
      value: {
        provider: "github",
        apiUrl: "https://ghe.example.com/api/v3",
        repoPath: "acme/site",
        sha: SHA,
        token: STATUS_TOKEN,
        context: "Workers Builds: site",
        previewUrl: null,
      },
    },
  };
  const full: BuddyState = {
    buildUuid: uuid,
    accountId: "acct",
    workerId: "worker",
    cacheEnabled: true,
    status: "initializing",
    tokenHash: await sha256Hex(TOKEN),
    startDeadline: Date.now() + 3 * AHEAD,
    runDeadline: Date.now() + 4 * AHEAD,
    ...state,
  };
  await runInDurableObject(stub, async (instance: BuildBuddy, s) => {
    await s.storage.put("state", full);
    instance.compute = { startBuild: async () => ({}), stopBuild: async () => undefined };
    instance.rows = {
      recordCommit: async () => undefined,
      markRunning: async () => undefined,
      markStopped: async () => undefined,
      failInitializing: async () => undefined,
      cancelUnstarted: async () => undefined,
    };
    instance.metrics = { writeDataPoint: () => undefined };
    instance.statusClock = clock;
    instance.statusDeps = {
      lookup: async () => h.subject.value,
      fetch: async (input, init) => {
        h.sent.push({
          url: String(input),
          headers: init?.headers as Record<string, string>,
          body: JSON.parse(String(init?.body)),
        });
        const answer = await (h.answers.shift() ?? 201);
        if (answer === "network") throw new TypeError("fetch failed");
        return new Response(answer === 201 ? "{}" : `{"message":"no"}`, { status: answer });
      },
      log: (level, message, fields) => h.logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    };
  });
  return h;
}

const record = (stub: DurableObjectStub<BuildBuddy>) =>
  runInDurableObject(stub, (_i: BuildBuddy, s) => new StatusOutbox(s.storage).read());

/** Makes the outbox's next send due now (a retry's backoff is otherwise minutes away). */
const dueNow = (stub: DurableObjectStub<BuildBuddy>) =>
  runInDurableObject(stub, async (_i: BuildBuddy, s) => {
    const r = (await s.storage.get<OutboxRecord>("commitStatus"))!;
    await s.storage.put("commitStatus", { ...r, dueAt: clock() });
  });

const states = (h: Harness) => h.sent.map((s) => `${s.body.state}: ${s.body.description}`);

describe("BuildBuddy commit statuses", () => {
  it("sends queued, running and the outcome in order, each once, from its alarm", async () => {
    const h = await buddy();
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    expect((await h.stub.inspect()).alarm).toBeLessThanOrEqual(clock());
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(await h.stub.runnerStatus(TOKEN, { status: "running" })).toEqual({ status: 200, accepted: true });
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    await h.stub.runnerStatus(TOKEN, { status: "stopped", outcome: "success", last_log_seq: 0 });
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(h.sent).toEqual([
      {
        url: `https://ghe.example.com/api/v3/repos/acme/site/statuses/${SHA}`,
        headers: {
          Authorization: `Bearer ${STATUS_TOKEN}`,
          Accept: "application/vnd.github+json",
          "X-GitHub-Api-Version": "2022-11-28",
          "User-Agent": "workers-builds",
          "Content-Type": "application/json",
        },
        body: {
          state: "pending",
          target_url: `${LINK}/api/builds/${h.uuid}`,
          description: "Build queued",
          context: "Workers Builds: site",
        },
      },
      expect.objectContaining({
        body: expect.objectContaining({ state: "pending", description: "Build running" }),
      }),
      expect.objectContaining({
        body: expect.objectContaining({ state: "success", description: "Build succeeded" }),
      }),
    ]);
    // Nothing left to send: the alarm left is the build's own (the log's grace period).
    expect((await record(h.stub))?.dueAt).toBeUndefined();
    await runDurableObjectAlarm(h.stub);
    expect(h.sent).toHaveLength(3);
  });

  it("a late queued never follows running or an outcome, but its link is kept", async () => {
    const h = await buddy({ status: "running" });
    await h.stub.runnerStatus(TOKEN, {
      status: "stopped",
      outcome: "failed",
      failure_class: "build_command",
      last_log_seq: 0,
    });
    // The build was not reporting yet (no enable): the stop alone records nothing.
    expect(await record(h.stub)).toBeUndefined();

    const g = await buddy({ status: "running" });
    await g.stub.reportStatus(g.uuid, { state: "stopped", outcome: "skipped" }, LINK);
    await g.stub.reportStatus(g.uuid, { state: "queued" }, LINK);
    await runDurableObjectAlarm(g.stub);
    expect(states(g)).toEqual(["error: Build skipped: a newer commit of the branch was pushed"]);
  });

  it("only the newest report is sent when several arrive before the alarm", async () => {
    const h = await buddy();
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await h.stub.runnerStatus(TOKEN, { status: "running" });
    await h.stub.cancel(h.uuid);
    await runDurableObjectAlarm(h.stub);
    expect(states(h)).toEqual(["error: Build cancelled"]);
    expect(h.sent[0]!.body.target_url).toBe(`${LINK}/api/builds/${h.uuid}`);
  });

  it("a report arriving while the previous one is in flight goes after it, never beside it", async () => {
    const h = await buddy();
    let answer!: (status: number) => void;
    h.answers.push(new Promise<number>((resolve) => (answer = resolve)));
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    const first = runDurableObjectAlarm(h.stub);
    while (h.sent.length === 0) await new Promise((r) => setTimeout(r, 5));
    await h.stub.runnerStatus(TOKEN, { status: "running" });
    await h.stub.runnerStatus(TOKEN, { status: "stopped", outcome: "success", last_log_seq: 0 });
    // The in-flight send holds its claim: the new report waits for it.
    expect(h.sent).toHaveLength(1);
    answer(201);
    await first;
    const after = await record(h.stub);
    expect(after).toMatchObject({ doneSeq: 1, seq: 3 });
    expect(after!.dueAt).toBeLessThanOrEqual(clock());
    await runDurableObjectAlarm(h.stub);
    expect(states(h)).toEqual(["pending: Build queued", "success: Build succeeded"]);
  });

  it("retries a failed send with backoff (5xx, 429, network), then sends the newest", async () => {
    const h = await buddy();
    h.answers.push(502, "network", 429);
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    // The retry is due its backoff after the failed send, which happened while the alarm ran: between
    // the clock before it and after it (a loaded machine can take a second over the send).
    const delays: boolean[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = clock();
      await runDurableObjectAlarm(h.stub);
      const after = clock();
      const r = (await record(h.stub))!;
      expect(r.attempts).toBe(attempt);
      const backoff = 2 ** attempt * 1000;
      delays.push(r.dueAt! - after <= backoff && backoff <= r.dueAt! - before);
      // The alarm is set for the retry.
      expect((await h.stub.inspect()).alarm).toBe(r.dueAt);
      await dueNow(h.stub);
    }
    expect(delays).toEqual([true, true, true]); // 2 s, 4 s, 8 s
    await runDurableObjectAlarm(h.stub);
    expect(await record(h.stub)).toMatchObject({ attempts: 3, doneSeq: 1, seq: 1 });
    expect(states(h)).toEqual(Array(4).fill("pending: Build queued"));
    expect(h.logs.some((l) => l.includes("answered 502; trying again"))).toBe(true);
  });

  it("gives a report up after 8 attempts, and a refused one (401) at once; a newer report still goes", async () => {
    const h = await buddy();
    h.answers.push(...Array(8).fill(500));
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    for (let i = 0; i < 8; i++) {
      await runDurableObjectAlarm(h.stub);
      if (i < 7) await dueNow(h.stub);
    }
    expect(await record(h.stub)).toMatchObject({ doneSeq: 1, dueAt: undefined });
    expect(h.logs.some((l) => l.includes("given up after 8 attempts"))).toBe(true);

    h.answers.push(401);
    await h.stub.runnerStatus(TOKEN, { status: "running" });
    await runDurableObjectAlarm(h.stub);
    expect(await record(h.stub)).toMatchObject({ doneSeq: 2, attempts: 0, dueAt: undefined });
    expect(h.logs.some((l) => l.includes("refused with 401"))).toBe(true);
    await h.stub.runnerStatus(TOKEN, { status: "stopped", outcome: "success", last_log_seq: 0 });
    await runDurableObjectAlarm(h.stub);
    expect(states(h).at(-1)).toBe("success: Build succeeded");
    // The token is in the requests' headers only, never in a log line.
    expect(h.logs.join("\n")).not.toContain(STATUS_TOKEN);
  });

  it("a build of a branch waits for its commit, which a later running report brings", async () => {
    const h = await buddy();
    h.subject.value = { ...h.subject.value!, sha: null };
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await runDurableObjectAlarm(h.stub);
    // The runner reports running before it has cloned: still no commit.
    await h.stub.runnerStatus(TOKEN, { status: "running" });
    await runDurableObjectAlarm(h.stub);
    expect(h.sent).toEqual([]);
    expect((await record(h.stub))?.dueAt).toBeUndefined();
    // Its next heartbeat names the commit: the waiting report goes.
    h.subject.value = { ...h.subject.value!, sha: SHA };
    await h.stub.runnerStatus(TOKEN, { status: "running", commit_hash: SHA });
    expect((await record(h.stub))?.dueAt).toBeDefined();
    await runDurableObjectAlarm(h.stub);
    expect(states(h)).toEqual(["pending: Build running"]);
  });

  it("a build that ends without a commit (the clone failed) sends nothing", async () => {
    const h = await buddy({ status: "running" });
    h.subject.value = { ...h.subject.value!, sha: null };
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await h.stub.runnerStatus(TOKEN, {
      status: "stopped",
      outcome: "failed",
      failure_class: "clone",
      last_log_seq: 0,
    });
    await runDurableObjectAlarm(h.stub);
    expect(h.sent).toEqual([]);
    expect(await record(h.stub)).toMatchObject({ doneSeq: 2, dueAt: undefined });
  });

  it("sends nothing when the connection has no token (any more), and says so without a token", async () => {
    const h = await buddy();
    h.subject.value = null;
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await runDurableObjectAlarm(h.stub);
    expect(h.sent).toEqual([]);
    expect(await record(h.stub)).toMatchObject({ doneSeq: 1 });
    expect(h.logs.some((l) => l.includes("has no status token"))).toBe(true);
  });

  it("GitLab: running, then failed, with the encoded project path and PRIVATE-TOKEN", async () => {
    const h = await buddy();
    h.subject.value = {
      ...h.subject.value!,
      provider: "gitlab",
      apiUrl: "https://gitlab.example.com/api/v4",
      repoPath: "group/sub/site",
    };
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await h.stub.runnerStatus(TOKEN, { status: "running" });
    await runDurableObjectAlarm(h.stub);
    await h.stub.runnerStatus(TOKEN, {
      status: "stopped",
      outcome: "failed",
      failure_class: "deploy_command",
      last_log_seq: 0,
    });
    await runDurableObjectAlarm(h.stub);
    expect(h.sent.map((s) => s.url)).toEqual(
      Array(2).fill(`https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fsite/statuses/${SHA}`),
    );
    expect(h.sent[1]).toEqual({
      url: expect.any(String),
      headers: {
        "PRIVATE-TOKEN": STATUS_TOKEN,
        "User-Agent": "workers-builds",
        "Content-Type": "application/json",
      },
      body: {
        state: "failed",
        name: "Workers Builds: site",
        target_url: `${LINK}/api/builds/${h.uuid}`,
        description: "Build failed: the deploy command failed",
      },
    });
    expect(states(h)).toEqual(["running: Build running", "failed: Build failed: the deploy command failed"]);
  });

  it("keeps an unsent report across an eviction: a new instance's alarm sends it", async () => {
    const h = await buddy();
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await runInDurableObject(h.stub, async (instance: BuildBuddy, state) => {
      const fresh = new BuildBuddy(state, env);
      fresh.statusDeps = instance.statusDeps;
      fresh.statusClock = clock;
      fresh.rows = instance.rows;
      await fresh.alarm();
    });
    expect(states(h)).toEqual(["pending: Build queued"]);
    expect(await record(h.stub)).toMatchObject({ doneSeq: 1, seq: 1 });
  });

  it("the build's own deadlines keep their alarm beside the outbox's", async () => {
    const runDeadline = Date.now() + 2 * AHEAD;
    const h = await buddy({ status: "running", runDeadline });
    await runInDurableObject(h.stub, (_i: BuildBuddy, s) =>
      s.storage.put("lastSeen", Date.now() + 4 * AHEAD),
    );
    h.answers.push(500);
    await h.stub.reportStatus(h.uuid, { state: "queued" }, LINK);
    await runDurableObjectAlarm(h.stub);
    const retry = (await record(h.stub))!.dueAt!;
    expect((await h.stub.inspect()).alarm).toBe(retry);
    // Sent: the alarm goes back to the run deadline.
    await dueNow(h.stub);
    await runDurableObjectAlarm(h.stub);
    expect((await h.stub.inspect()).alarm).toBe(runDeadline);
    expect((await h.stub.inspect()).state?.status).toBe("running");
  });
});
