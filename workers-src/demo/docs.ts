import * as z from "zod";
import { HttpError, type Router } from "../framework/router/router";
import { chainAt, type KvStore, kvStore } from "../framework/storage";
import type { FrameworkAppEnv } from "./env";

/** A document: any JSON object. */
export type Doc = Record<string, unknown>;

/** Every document is kept in DEMO_KV under this prefix, so the namespace can hold other things too. */
export const DOCS_PREFIX = "docs/";

const docsOf = (env: FrameworkAppEnv): KvStore<Doc> => kvStore<Doc>(env.DEMO_KV, { prefix: DOCS_PREFIX });

const NewDoc = z.record(z.string(), z.json());
const Edit = z.object({ value: z.json() });
const ListQuery = z.object({
  prefix: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).optional(),
});

/**
 * The path inside a document, from one URL segment: property names joined by ".", as a property chain
 * writes them (`profile.name`, `tags.0`). One segment, because a route matches a fixed number of segments.
 */
export function parsePath(path: string): string[] {
  const segments = path.split(".");
  if (segments.some((segment) => segment === "")) {
    throw new HttpError(
      400,
      `path "${path}" has an empty name: join property names with ".", e.g. profile.name or tags.0`,
    );
  }
  return segments;
}

async function mustExist(docs: KvStore<Doc>, id: string): Promise<Doc> {
  const doc = await docs.get(id);
  if (doc === undefined) throw new HttpError(404, `document ${id} does not exist`);
  return doc;
}

/** A write below a primitive (e.g. `name.first` when `name` is a string) is a conflict with the document. */
async function write(edit: () => Promise<void>): Promise<void> {
  try {
    await edit();
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith("chain:"))
      throw new HttpError(409, error.message);
    throw error;
  }
}

/** Documents in KV: created with a generated id, read and edited whole or at depth, listed by id prefix. */
export function docRoutes(app: Router<FrameworkAppEnv>): void {
  app.post("/docs", { body: NewDoc }, async (ctx) => {
    const id = await docsOf(ctx.env).add(ctx.body);
    return Response.json({ id }, { status: 201, headers: { location: `/docs/${id}` } });
  });

  // Ids sort by creation time, so pages come oldest first and an id prefix selects a span of time.
  app.get("/docs", { query: ListQuery }, async (ctx) => {
    const { prefix, limit, cursor } = ctx.query;
    const page = await docsOf(ctx.env).list({
      limit,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    return {
      docs: page.entries.map(([id, doc]) => ({ id, doc })),
      ...(page.cursor !== undefined ? { cursor: page.cursor } : {}),
      complete: page.complete,
    };
  });

  app.get("/docs/:id", (ctx) => mustExist(docsOf(ctx.env), ctx.params.id));

  app.delete("/docs/:id", async (ctx) => {
    const docs = docsOf(ctx.env);
    await mustExist(docs, ctx.params.id);
    await docs.delete(ctx.params.id);
  });

  app.get("/docs/:id/at/:path", async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    const value = await chainAt(docs, ctx.params.id, ...path).get();
    if (value !== undefined) return Response.json(value);
    await mustExist(docs, ctx.params.id);
    throw new HttpError(404, `document ${ctx.params.id} has nothing at ${path.join(".")}`);
  });

  app.put("/docs/:id/at/:path", { body: Edit }, async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    await mustExist(docs, ctx.params.id);
    await write(() => chainAt(docs, ctx.params.id, ...path).set(ctx.body.value));
    return { id: ctx.params.id, path: path.join("."), value: ctx.body.value };
  });

  app.delete("/docs/:id/at/:path", async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    await mustExist(docs, ctx.params.id);
    await chainAt(docs, ctx.params.id, ...path).delete();
  });
}
