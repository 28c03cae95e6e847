import { DurableObject } from "cloudflare:workers";
import {
  type DurableStore,
  durableStore,
  HttpError,
  KvWriter,
  kvStore,
  type ObjectCall,
  router,
  toObject,
  unchanged,
} from "workers-platform/framework";
import * as z from "zod";

// The framework's KV writer is one of this Worker's Durable Object classes (bound as KV_WRITER).
export { KvWriter };

export interface Env {
  NOTES: KVNamespace;
  DB: D1Database;
  COUNTERS: DurableObjectNamespace<Counter>;
  KV_WRITER: DurableObjectNamespace<KvWriter>;
}

interface Note {
  text: string;
  tags: string[];
}

/** A counter per name, in the object's own storage. */
export class Counter extends DurableObject<Env> {
  private readonly store: DurableStore<number>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = durableStore<number>(ctx.storage);
  }

  async increment(call: ObjectCall<{ name: string }>): Promise<{ name: string; count: number }> {
    const count = (await this.store.update("count", (n) => (n ?? 0) + 1)) as number;
    return { name: call.params.name, count };
  }
}

const notes = (env: Env) =>
  kvStore<Note>(env.NOTES, { prefix: "note/", writer: { namespace: env.KV_WRITER, binding: "NOTES" } });

const app = router<Env>();

app.put(
  "/notes/:id",
  { body: z.object({ text: z.string().min(1), tags: z.array(z.string()).default([]) }) },
  async (ctx) => {
    await notes(ctx.env).put(ctx.params.id, ctx.body);
    return { id: ctx.params.id, ...ctx.body };
  },
);

// Read through the writer, so a read sees every write acknowledged before it; `get` is the cheaper read
// from KV itself, which sees a write once the writer has flushed it (within a second or so).
app.get("/notes/:id", async (ctx) => {
  const note = await notes(ctx.env).getConsistent(ctx.params.id);
  if (note === undefined) throw new HttpError(404, `no note ${ctx.params.id}`);
  return { id: ctx.params.id, ...note };
});

// A read-modify-write of one note: with the writer, concurrent tag additions to a note are all kept.
app.post("/notes/:id/tags", { body: z.object({ tag: z.string().min(1) }) }, async (ctx) => {
  const note = await notes(ctx.env).update(ctx.params.id, (current) =>
    current === undefined ? unchanged : { ...current, tags: [...current.tags, ctx.body.tag] },
  );
  if (note === undefined) throw new HttpError(404, `no note ${ctx.params.id}`);
  return { id: ctx.params.id, ...note };
});

app.post("/notes/:id/comments", { body: z.object({ text: z.string().min(1) }) }, async (ctx) => {
  const row = await ctx.env.DB.prepare("INSERT INTO comments (note, text) VALUES (?, ?) RETURNING id")
    .bind(ctx.params.id, ctx.body.text)
    .first<{ id: number }>();
  return new Response(JSON.stringify({ id: row?.id, note: ctx.params.id, text: ctx.body.text }), {
    status: 201,
    headers: { "content-type": "application/json" },
  });
});

app.get("/notes/:id/comments", async (ctx) => {
  const { results } = await ctx.env.DB.prepare("SELECT id, text FROM comments WHERE note = ? ORDER BY id")
    .bind(ctx.params.id)
    .all<{ id: number; text: string }>();
  return { note: ctx.params.id, comments: results };
});

app.post(
  "/counters/:name",
  toObject((env: Env) => env.COUNTERS, { by: "name", param: "name" }, "increment"),
);

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
