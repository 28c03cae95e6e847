import * as z from "zod";
import { HttpError, type Router } from "../framework/router/router";
import {
  chainAt,
  type KvStore,
  kvStore,
  type Store,
  unchanged,
  VersionConflictError,
} from "../framework/storage";
import type { FrameworkAppEnv } from "./env";

/** A document: any JSON object. */
export type Doc = Record<string, unknown>;

/** Every document is kept in DEMO_KV under this prefix, so the namespace can hold other things too. */
export const DOCS_PREFIX = "docs/";

/**
 * The documents, written through the framework's KV writer: every write of one document (and so every
 * chained write, a read-modify-write of the whole document) waits its turn in the document's writer
 * object, so concurrent edits of different paths all land. KV holds a copy a moment behind.
 */
const docsOf = (env: FrameworkAppEnv): KvStore<Doc> =>
  kvStore<Doc>(env.DEMO_KV, {
    prefix: DOCS_PREFIX,
    writer: { namespace: env.KV_WRITER, binding: "DEMO_KV" },
  });

const NewDoc = z.record(z.string(), z.json());
const Edit = z.object({ value: z.json() });
/**
 * `consistent=1` (the default) reads a document through its writer: the last acknowledged write, for one
 * call to the writer object. `consistent=0` reads KV's copy: no object call, but a moment behind a write.
 */
const ReadQuery = z.object({ consistent: z.enum(["0", "1"]).default("1") });
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

const missing = (id: string) => new HttpError(404, `document ${id} does not exist`);

/** `"<version>"` (an ETag), as `If-Match` names the version a write expects. */
const etag = (version: number) => `"${version}"`;

/** The version an `If-Match` header asks for: `"<n>"`, or none for no header or `*`. */
function ifMatchVersion(header: string | null): number | undefined {
  if (header === null || header.trim() === "*") return undefined;
  const match = /^\s*"(\d+)"\s*$/.exec(header);
  if (!match) throw new HttpError(400, `If-Match must be a version as an ETag, e.g. "3" (got ${header})`);
  return Number(match[1]);
}

/**
 * The documents as one edit sees them: `update` (which every chained write goes through) leaves a missing
 * document alone and reports it, instead of creating it, and checks `ifVersion`, both in the document's
 * turn at its writer (no check-then-write race); a chain error (a write below a string) is kept and
 * rethrown here rather than carried across the writer's calls.
 */
function editOf(docs: KvStore<Doc>, id: string, ifVersion: number | undefined) {
  let found = true;
  let chainError: unknown;
  const store: Store<Doc> = {
    ...docs,
    update: (key, fn) =>
      docs.update(
        key,
        (current) => {
          if (current === undefined) {
            found = false;
            return unchanged;
          }
          try {
            return fn(current);
          } catch (error) {
            chainError = error;
            return unchanged;
          }
        },
        ifVersion === undefined ? {} : { ifVersion },
      ),
  };
  /** Runs the edit; answers 404 for a missing document and 409 for a write below a primitive. */
  async function run(edit: (store: Store<Doc>) => Promise<void>): Promise<void> {
    await edit(store);
    if (!found) throw missing(id);
    // A write below a primitive (e.g. `name.first` when `name` is a string) conflicts with the document.
    if (chainError instanceof TypeError && chainError.message.startsWith("chain:"))
      throw new HttpError(409, chainError.message);
    if (chainError !== undefined) throw chainError;
  }
  return { run };
}

/** A write refused because the document moved on from the version its `If-Match` named. */
const versionConflict = (id: string, { expected, current }: VersionConflictError) =>
  Response.json(
    {
      error: `document ${id} is at version ${current}, not ${expected}: read it again and retry`,
      currentVersion: current,
    },
    { status: 409, headers: { etag: etag(current) } },
  );

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

  // The document and, in ETag, its version (the one to name in If-Match).
  app.get("/docs/:id", { query: ReadQuery }, async (ctx) => {
    const { value, version } = await docsOf(ctx.env).getWithVersion(ctx.params.id, {
      consistent: ctx.query.consistent === "1",
    });
    if (value === undefined) throw missing(ctx.params.id);
    return Response.json(value, { headers: { etag: etag(version) } });
  });

  app.delete("/docs/:id", async (ctx) => {
    const docs = docsOf(ctx.env);
    if ((await docs.getConsistent(ctx.params.id)) === undefined) throw missing(ctx.params.id);
    await docs.delete(ctx.params.id);
  });

  app.get("/docs/:id/at/:path", { query: ReadQuery }, async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    const read = ctx.query.consistent === "1" ? { ...docs, get: docs.getConsistent } : docs;
    const value = await chainAt(read, ctx.params.id, ...path).get();
    if (value !== undefined) return Response.json(value);
    if ((await read.get(ctx.params.id)) === undefined) throw missing(ctx.params.id);
    throw new HttpError(404, `document ${ctx.params.id} has nothing at ${path.join(".")}`);
  });

  // With `If-Match: "<version>"`, the write lands only if the document is still at that version (else 409
  // with its current version). The answer's ETag is the document's version after the write.
  app.put("/docs/:id/at/:path", { body: Edit }, async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    const ifVersion = ifMatchVersion(ctx.request.headers.get("if-match"));
    try {
      await editOf(docs, ctx.params.id, ifVersion).run((store) =>
        chainAt(store, ctx.params.id, ...path).set(ctx.body.value),
      );
    } catch (error) {
      if (error instanceof VersionConflictError) return versionConflict(ctx.params.id, error);
      throw error;
    }
    // A conditional write made exactly the next version; otherwise the writer is asked (one more call), and
    // a write that came right after this one may already be counted.
    const version =
      ifVersion !== undefined
        ? ifVersion + 1
        : (await docs.getWithVersion(ctx.params.id, { consistent: true })).version;
    return Response.json(
      { id: ctx.params.id, path: path.join("."), value: ctx.body.value },
      { headers: { etag: etag(version) } },
    );
  });

  app.delete("/docs/:id/at/:path", async (ctx) => {
    const docs = docsOf(ctx.env);
    const path = parsePath(ctx.params.path);
    await editOf(docs, ctx.params.id, undefined).run((store) =>
      chainAt(store, ctx.params.id, ...path).delete(),
    );
  });
}
