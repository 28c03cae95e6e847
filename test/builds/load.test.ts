/**
 * The builds platform under load and under its limits, on the local target: many builds at once streaming
 * their logs, and the scheduler's per-account and global concurrency limits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildsPlatform, startBuildsPlatform } from "../builds-harness";
import { client } from "./http";

interface Build {
  build_uuid: string;
  status: string;
  build_outcome: string | null;
}

async function setUp(platform: BuildsPlatform, account: string, buildCommand: string) {
  const { call } = client(platform.api);
  const token = await platform.token(account);
  const repo = await platform.gitRepo();
  await repo.commit({ "README.md": "load\n" }, "load test");
  const name = `load-${account}`;
  expect((await call("POST", "/api/workers", { token, body: { name } })).status).toBe(201);
  const trigger = await call<{ id: string }>("POST", `/api/workers/${name}/triggers`, {
    token,
    body: {
      repo_url: repo.url,
      production_branch: "main",
      build_command: buildCommand,
      deploy_command: "true",
    },
  });
  expect(trigger.status, trigger.text).toBe(201);
  const start = async () => {
    const res = await call<Build>("POST", `/api/triggers/${trigger.json.result.id}/builds`, {
      token,
      body: {},
    });
    expect(res.status, res.text).toBe(201);
    return res.json.result.build_uuid;
  };
  return { call, token, start };
}

async function waitAllStopped(platform: BuildsPlatform, uuids: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await platform.sql<{ n: string }>(
      "SELECT count(*) AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) AND status = 'stopped'",
      [uuids],
    );
    if (Number(rows[0]?.n) === uuids.length) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0]?.n} of ${uuids.length} builds stopped`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("50 builds at once, each streaming its log", () => {
  let platform: BuildsPlatform;
  beforeAll(async () => {
    platform = await startBuildsPlatform({
      builds: { maxConcurrentPerAccount: 50, maxConcurrentGlobal: 60 },
    });
  }, 120_000);
  afterAll(() => platform?.stop(), 60_000);

  it("stores every line exactly once and in order, and every build ends", async () => {
    const LINES = 300;
    const { call, token, start } = await setUp(
      platform,
      "load",
      `for i in $(seq 1 ${LINES}); do echo "line-$i"; if [ $((i % 100)) = 0 ]; then sleep 0.3; fi; done`,
    );
    const uuids = await Promise.all(Array.from({ length: 50 }, start));
    await waitAllStopped(platform, uuids, 150_000);
    const outcomes = await platform.sql<{ build_outcome: string; failure_class: string | null; n: string }>(
      "SELECT build_outcome, failure_class, count(*) AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) GROUP BY 1, 2",
      [uuids],
    );
    // On a failure, the message carries the log of a build that did not succeed.
    const failedLog = async () => {
      const [failed] = await platform.sql<{ build_uuid: string }>(
        "SELECT build_uuid FROM builds WHERE build_uuid = ANY($1::uuid[]) AND build_outcome <> 'success' LIMIT 1",
        [uuids],
      );
      if (!failed) return "";
      const res = await call<{ lines: { line: string }[] }>(
        "GET",
        `/api/builds/${failed.build_uuid}/logs?limit=1000`,
        {
          token,
        },
      );
      return res.json.result.lines.map((l) => l.line).join("\n");
    };
    expect(outcomes, outcomes.length > 1 ? await failedLog() : "").toEqual([
      { build_outcome: "success", failure_class: null, n: "50" },
    ]);
    const expected = Array.from({ length: LINES }, (_, i) => `line-${i + 1}`);
    await Promise.all(
      uuids.map(async (uuid) => {
        const lines: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await call<{ lines: { line: string }[]; cursor: string; done: boolean }>(
            "GET",
            `/api/builds/${uuid}/logs?limit=1000${cursor ? `&cursor=${cursor}` : ""}`,
            { token },
          );
          lines.push(...page.json.result.lines.map((l) => l.line));
          cursor = page.json.result.cursor;
          if (page.json.result.done) break;
        }
        expect(lines.filter((l) => l.startsWith("line-"))).toEqual(expected);
      }),
    );
  }, 200_000);
});

describe("the scheduler's limits", () => {
  let platform: BuildsPlatform;
  beforeAll(async () => {
    platform = await startBuildsPlatform({ builds: { maxConcurrentPerAccount: 2, maxConcurrentGlobal: 3 } });
  }, 120_000);
  afterAll(() => platform?.stop(), 60_000);

  it("never runs more than 2 builds per account or 3 in all, and another account is not starved", async () => {
    const a = await setUp(platform, "limit-a", "sleep 1");
    const b = await setUp(platform, "limit-b", "sleep 1");
    const aBuilds: string[] = [];
    for (let i = 0; i < 4; i++) aBuilds.push(await a.start());
    const bBuilds = [await b.start(), await b.start()];
    const all = [...aBuilds, ...bBuilds];
    let maxTotal = 0;
    const maxPerAccount = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const rows = await platform.sql<{ account_id: string; n: string }>(
        "SELECT account_id, count(*) AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) AND status IN ('initializing', 'running') GROUP BY 1",
        [all],
      );
      let total = 0;
      for (const r of rows) {
        total += Number(r.n);
        maxPerAccount.set(r.account_id, Math.max(maxPerAccount.get(r.account_id) ?? 0, Number(r.n)));
      }
      maxTotal = Math.max(maxTotal, total);
      const done = await platform.sql<{ n: string }>(
        "SELECT count(*) AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) AND status = 'stopped'",
        [all],
      );
      if (Number(done[0]?.n) === all.length) break;
      if (Date.now() > deadline) throw new Error("builds did not finish");
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(maxTotal).toBe(3);
    expect(maxPerAccount.get("limit-a")).toBe(2);
    expect(maxPerAccount.get("limit-b")).toBeLessThanOrEqual(2);
    const times = await platform.sql<{
      build_uuid: string;
      initializing_at: Date;
      build_outcome: string;
      failure_class: string | null;
    }>(
      "SELECT build_uuid, initializing_at, build_outcome, failure_class FROM builds WHERE build_uuid = ANY($1::uuid[])",
      [all],
    );
    expect(times.map((t) => [t.build_outcome, t.failure_class])).toEqual(all.map(() => ["success", null]));
    const started = new Map(times.map((t) => [t.build_uuid, t.initializing_at.getTime()]));
    // A's third build waits for one of A's slots; B's first takes the global slot A cannot use.
    expect(started.get(bBuilds[0] as string)).toBeLessThan(started.get(aBuilds[2] as string) as number);
  }, 90_000);
});
