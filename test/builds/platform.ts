/**
 * One builds platform per test file, on the local target, with a scheduler that never wakes by itself:
 * builds stay `queued`, so tests can assert on the queue without racing the runner.
 */
import { afterAll, beforeAll } from "vitest";
import { type BuildsPlatform, startBuildsPlatform } from "../builds-harness";
import { type CallOptions, client } from "./http";

export const TABLES = [
  "accounts",
  "workers",
  "repo_connections",
  "triggers",
  "build_variables",
  "builds",
  "deploy_hooks",
  "rate_limits",
  "webhook_deliveries",
] as const;

export function usePlatform() {
  let platform: BuildsPlatform | undefined;
  let http: ReturnType<typeof client> | undefined;
  beforeAll(async () => {
    platform = await startBuildsPlatform({
      builds: { scheduler: { wakeOnQueue: false, pollIntervalSeconds: 3600 } },
    });
    http = client(platform.api);
  }, 180_000);
  afterAll(async () => {
    await platform?.stop();
  }, 60_000);

  const p = () => {
    if (!platform) throw new Error("the platform has not started");
    return platform;
  };
  let serial = 0;
  const ctx = {
    get platform() {
      return p();
    },
    /** Every response text received so far, for audits. */
    get seen() {
      return http!.seen;
    },
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field and assert their shape
    call: <T = any>(method: string, path: string, options?: CallOptions) =>
      http!.call<T>(method, path, options),
    token: (account: string, options?: { expiresInSeconds?: number; secret?: string }) =>
      p().token(account, options),
    sql: <R = Record<string, unknown>>(query: string, params?: unknown[]) => p().sql<R>(query, params),
    /** A name no other test of the file uses. */
    unique: (prefix: string) => `${prefix}-${++serial}`,
    /** Rows per table, to prove a refused request wrote nothing. */
    async counts(): Promise<Record<(typeof TABLES)[number], number>> {
      const [row] = await p().sql<Record<(typeof TABLES)[number], number>>(
        `SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(", ")}`,
      );
      return row!;
    },
    /** Creates a Worker and a trigger on it; answers both results. */
    async workerWithTrigger(token: string, trigger: Record<string, unknown> = {}) {
      const worker = await ctx.call("POST", "/api/workers", { token, body: { name: ctx.unique("w") } });
      if (worker.status !== 201)
        throw new Error(`creating a Worker answered ${worker.status}: ${worker.text}`);
      const created = await ctx.call("POST", `/api/workers/${worker.json.result.id}/triggers`, {
        token,
        body: {
          repo_url: `https://github.com/acme/${ctx.unique("repo")}`,
          production_branch: "main",
          ...trigger,
        },
      });
      if (created.status !== 201)
        throw new Error(`creating a trigger answered ${created.status}: ${created.text}`);
      return { worker: worker.json.result, trigger: created.json.result };
    },
  };
  return ctx;
}
