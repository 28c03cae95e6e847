/**
 * Build logs: pages on request, and a live server-sent event stream from the first line to the end.
 * Logs live in the build's Durable Object, reached through the management Worker; ownership is checked
 * in Postgres first.
 */
import { Hono } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { withDb } from "../../shared/db";
import type { AppEnv, ClientEnv } from "../env";
import { ok } from "../envelope";
import { errorFields, logger } from "../logger";
import { type BuildRow, findBuild } from "../records";
import { accountOf, db, params, query } from "../request";
import { buildParamSchema, logCursorSchema, logStreamQuerySchema, logsQuerySchema } from "../schemas";
import { parseInput } from "../validation";

export const logRoutes = new Hono<AppEnv>();

/** A stopped build that never reached `initializing` has no logs, and no Durable Object to ask. */
export function neverStarted(build: Pick<BuildRow, "status" | "initializing_at">): boolean {
  return build.status === "stopped" && build.initializing_at === null;
}

/** One long poll of the stream; the management Worker caps it at 30 s. */
export const STREAM_WAIT_MS = 20_000;
/**
 * While the build is queued it has no Durable Object that could end the wait when the build is cancelled
 * or superseded, so the stream looks at Postgres this often instead.
 */
export const QUEUED_WAIT_MS = 3_000;
export const STREAM_PAGE_LINES = 1000;
/** Pause after an empty page that came back early, so nothing can spin. */
const EMPTY_PAGE_PAUSE_MS = 1000;

logRoutes.get("/api/builds/:uuid/logs", async (c) => {
  const { uuid } = params(c, buildParamSchema);
  const q = query(c, logsQuerySchema);
  const build = await db(c, (db) => findBuild(db, accountOf(c), uuid));
  if (neverStarted(build)) return c.json(ok({ lines: [], cursor: q.cursor ?? "0", done: true }));
  const page = await c.env.MANAGEMENT.readLogs(uuid, q.cursor ?? null, { limit: q.limit ?? 1000 });
  return c.json(
    ok({ lines: page.lines.map((l) => ({ ts: l.ts, line: l.line })), cursor: page.cursor, done: page.done }),
  );
});

logRoutes.get("/api/builds/:uuid/logs/stream", async (c) => {
  const { uuid } = params(c, buildParamSchema);
  const q = query(c, logStreamQuerySchema);
  const lastEventId = c.req.header("Last-Event-ID");
  const resumeFrom =
    lastEventId === undefined || lastEventId === ""
      ? (q.cursor ?? null)
      : parseInput(logCursorSchema, lastEventId, "Last-Event-ID");
  const accountId = accountOf(c);
  const build = await db(c, (db) => findBuild(db, accountId, uuid));

  // Errors are caught here, not by streamSSE's onError: Hono would append the error's message to the stream.
  return streamSSE(c, async (stream) => {
    try {
      await streamLogs(c.env, stream, { accountId, uuid, cursor: resumeFrom, build });
    } catch (err) {
      logger.withFields({ error: errorFields(err) }).error("build log stream failed");
      if (!stream.aborted)
        await stream.writeSSE({ event: "error", data: JSON.stringify({ message: "internal error" }) });
    }
  });
});

async function streamLogs(
  env: ClientEnv,
  stream: SSEStreamingApi,
  at: { accountId: string; uuid: string; cursor: string | null; build: BuildRow },
): Promise<void> {
  const { accountId, uuid } = at;
  const readBuild = () => withDb(env.HYPERDRIVE, (db) => findBuild(db, accountId, uuid));
  let cursor = at.cursor;
  let build = at.build;
  let finished = neverStarted(build);
  while (!finished && !stream.aborted) {
    const started = Date.now();
    const waitMs = build.status === "queued" ? QUEUED_WAIT_MS : STREAM_WAIT_MS;
    const page = await env.MANAGEMENT.readLogs(uuid, cursor, { limit: STREAM_PAGE_LINES, waitMs });
    if (stream.aborted) return;
    cursor = page.cursor;
    await sendPage(stream, page.lines, page.cursor);
    finished = page.done;
    if (!finished && page.lines.length === 0) {
      await stream.write(": keepalive\n\n");
      // A build cancelled while queued never gets logs nor a Durable Object that could say it is done.
      build = await readBuild();
      finished = neverStarted(build);
      if (!finished && Date.now() - started < EMPTY_PAGE_PAUSE_MS) await stream.sleep(EMPTY_PAGE_PAUSE_MS);
    }
  }
  if (stream.aborted) return;
  const final = await readBuild();
  await stream.writeSSE({
    event: "done",
    data: JSON.stringify({
      status: final.status,
      build_outcome: final.build_outcome,
      failure_class: final.failure_class,
    }),
  });
}

async function sendPage(stream: SSEStreamingApi, lines: { ts: number; line: string }[], cursor: string) {
  for (let i = 0; i < lines.length; i++) {
    const { ts, line } = lines[i]!;
    // One id per page, on its last line: a client that reconnects resumes after it.
    await stream.writeSSE({
      event: "log",
      data: JSON.stringify({ ts, line }),
      id: i === lines.length - 1 ? cursor : undefined,
    });
  }
}
