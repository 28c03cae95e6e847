/** Helpers for end-to-end tests that run builds on the local target: create, start, wait, read the log. */
import { expect } from "vitest";
import { client } from "./http";

export interface Build {
  build_uuid: string;
  status: string;
  build_outcome: string | null;
  failure_class: string | null;
  commit_hash: string | null;
  initializing_at: string | null;
  running_at: string | null;
  stopped_at: string | null;
}

/** The REST API as one account sees it. */
export function buildsApi(apiUrl: string, token: string) {
  const { call } = client(apiUrl);
  let serial = 0;

  async function waitForBuild(
    uuid: string,
    until: (b: Build) => boolean,
    timeoutMs = 30_000,
  ): Promise<Build> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await call<Build>("GET", `/api/builds/${uuid}`, { token });
      if (until(res.json.result)) return res.json.result;
      if (Date.now() > deadline) throw new Error(`build ${uuid} still ${JSON.stringify(res.json.result)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const api = {
    call,
    /** A Worker (named `<prefix>-<n>`) with one trigger; answers its name and the trigger. */
    async workerWithTrigger(prefix: string, trigger: Record<string, unknown>) {
      const name = `${prefix}-${++serial}`;
      const worker = await call("POST", "/api/workers", { token, body: { name } });
      expect(worker.status, worker.text).toBe(201);
      const created = await call<{ id: string; webhook_secret: string }>(
        "POST",
        `/api/workers/${name}/triggers`,
        { token, body: { production_branch: "main", deploy_command: "echo deployed", ...trigger } },
      );
      expect(created.status, created.text).toBe(201);
      return { name, trigger: created.json.result };
    },
    async startBuild(triggerId: string, body: Record<string, unknown> = {}): Promise<string> {
      const res = await call<Build>("POST", `/api/triggers/${triggerId}/builds`, { token, body });
      expect(res.status, res.text).toBe(201);
      return res.json.result.build_uuid;
    },
    waitForBuild,
    stopped: (uuid: string, timeoutMs?: number) =>
      waitForBuild(uuid, (b) => b.status === "stopped", timeoutMs),
    /** Every entry of a build's log (`ts` in ms, `line`), once the log is complete. */
    async logEntries(uuid: string): Promise<{ ts: number; line: string }[]> {
      const entries: { ts: number; line: string }[] = [];
      let cursor = "";
      for (;;) {
        const res = await call<{ lines: { ts: number; line: string }[]; cursor: string; done: boolean }>(
          "GET",
          `/api/builds/${uuid}/logs?${cursor ? `cursor=${cursor}&` : ""}limit=500`,
          { token },
        );
        expect(res.status, res.text).toBe(200);
        entries.push(...res.json.result.lines);
        cursor = res.json.result.cursor;
        if (res.json.result.done && res.json.result.lines.length === 0) return entries;
        if (res.json.result.lines.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Every line of a build's log, once the log is complete. */
    async allLogLines(uuid: string): Promise<string[]> {
      return (await api.logEntries(uuid)).map((entry) => entry.line);
    },
    /** The log as far as it goes now. */
    async logSoFar(uuid: string): Promise<string[]> {
      const res = await call<{ lines: { line: string }[] }>("GET", `/api/builds/${uuid}/logs?limit=1000`, {
        token,
      });
      return res.status === 200
        ? res.json.result.lines.map((l) => l.line)
        : [`HTTP ${res.status}: ${res.text}`];
    },
  };
  return api;
}
