/**
 * A bench-only Durable Object: a build's log ingested through the BuildBuddy's own `LogStore`, against the
 * same rows inserted into a plain table of the same SQLite storage. Batches are staged first (untimed), so
 * that each timed call is only storage work; the elapsed time is measured here and by the caller.
 *
 * Node reaches it through this Worker's `fetch` (`POST /<object>/<method>`), which calls the object's RPC
 * methods: calling them through Miniflare's Node proxy instead makes workerd warn about RPC stubs the proxy
 * never disposes as soon as large arguments let the garbage collector run.
 */
import { DurableObject } from "cloudflare:workers";
import { LogStore } from "../../workers-src/builds/management/log-store";
import type { LogLine } from "../../workers-src/builds/shared/protocol";
import type { AppendAnswer, IngestAnswer, ReadAnswer, StagedBatch } from "./log-ingest-api";

interface Env {
  LOGS: DurableObjectNamespace<LogIngestBench>;
}

export class LogIngestBench extends DurableObject<Env> {
  private readonly store: LogStore;
  private staged: StagedBatch[] = [];
  private lastRead: LogLine[][] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new LogStore(ctx.storage);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS raw_lines (n INTEGER PRIMARY KEY, ts INTEGER NOT NULL, line TEXT NOT NULL)",
    );
  }

  /** Keeps `batches` (in arrival order) for the next timed call; answers how many. */
  stage(batches: StagedBatch[]): number {
    this.staged = batches;
    return batches.length;
  }

  /** Appends the staged batches through the LogStore, as the runner's log callbacks do. */
  ingest(): IngestAnswer {
    const start = performance.now();
    let added = 0;
    let duplicates = 0;
    for (const batch of this.staged) {
      const result = this.store.append(batch.seq, batch.lines);
      added += result.added;
      if (result.duplicate) duplicates++;
    }
    return { added, duplicates, ms: performance.now() - start };
  }

  /** Appends one batch through the LogStore: what one runner log callback stores. */
  append(batch: StagedBatch): AppendAnswer {
    const start = performance.now();
    const { added, duplicate } = this.store.append(batch.seq, batch.lines);
    return { added, duplicate, ms: performance.now() - start };
  }

  /** The limit: the staged lines inserted as they are, one transaction per batch, no checks. */
  raw(): IngestAnswer {
    const start = performance.now();
    const sql = this.ctx.storage.sql;
    let n = 0;
    for (const batch of this.staged) {
      this.ctx.storage.transactionSync(() => {
        for (const { ts, line } of batch.lines) {
          sql.exec("INSERT INTO raw_lines (n, ts, line) VALUES (?, ?, ?)", ++n, ts, line);
        }
      });
    }
    return { added: n, duplicates: 0, ms: performance.now() - start };
  }

  /** Reads the whole log back page by page with the LogStore's cursor, as readers of a build's log do. */
  readAll(pageSize: number): ReadAnswer {
    const start = performance.now();
    const pages: LogLine[][] = [];
    for (let after = 0; ; ) {
      const page = this.store.read(after, pageSize);
      if (page.lines.length === 0) break;
      pages.push(page.lines);
      after = page.last;
    }
    return this.read(pages, start);
  }

  /** The same reads of the plain table, with the same keyset query. */
  readRaw(pageSize: number): ReadAnswer {
    const start = performance.now();
    const pages: LogLine[][] = [];
    for (let after = 0; ; ) {
      const rows = this.ctx.storage.sql
        .exec<{ n: number; ts: number; line: string }>(
          "SELECT n, ts, line FROM raw_lines WHERE n > ? ORDER BY n LIMIT ?",
          after,
          pageSize,
        )
        .toArray();
      if (rows.length === 0) break;
      pages.push(rows);
      after = rows.at(-1)!.n;
    }
    return this.read(pages, start);
  }

  private read(pages: LogLine[][], start: number): ReadAnswer {
    const ms = performance.now() - start;
    this.lastRead = pages;
    return { lines: pages.reduce((sum, page) => sum + page.length, 0), pages: pages.length, ms };
  }

  /** Hex SHA-256 of the lines of the last read, in order, as `${ts}\t${line}\n`; untimed. */
  async lastReadSha256(): Promise<string> {
    const text = this.lastRead.map((page) => page.map((l) => `${l.ts}\t${l.line}\n`).join("")).join("");
    this.lastRead = [];
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const [, object, method] = new URL(request.url).pathname.split("/");
    if (!object || request.method !== "POST") return new Response("POST /<object>/<method>", { status: 404 });
    const bench = env.LOGS.get(env.LOGS.idFromName(object));
    const pageSize = Number(new URL(request.url).searchParams.get("page") ?? 1000);
    switch (method) {
      case "stage":
        return Response.json(await bench.stage(await request.json<StagedBatch[]>()));
      case "append":
        return Response.json(await bench.append(await request.json<StagedBatch>()));
      case "ingest":
        return Response.json(await bench.ingest());
      case "raw":
        return Response.json(await bench.raw());
      case "read-all":
        return Response.json(await bench.readAll(pageSize));
      case "read-raw":
        return Response.json(await bench.readRaw(pageSize));
      case "sha256":
        return Response.json(await bench.lastReadSha256());
      default:
        return new Response(`no method ${method}`, { status: 404 });
    }
  },
} satisfies ExportedHandler<Env>;
