/** Small helpers every route uses: validated input, the account, and a database connection. */
import type { Context } from "hono";
import type * as z from "zod";
import { type Db, withDb } from "../shared/db";
import type { AppEnv } from "./env";
import { JSON_BODY_LIMIT, parseInput, readJsonBody } from "./validation";

type Ctx = Context<AppEnv>;

export function params<S extends z.ZodType>(c: Ctx, schema: S): z.output<S> {
  return parseInput(schema, c.req.param(), "path");
}

export function query<S extends z.ZodType>(c: Ctx, schema: S): z.output<S> {
  return parseInput(schema, c.req.query(), "query");
}

export async function body<S extends z.ZodType>(
  c: Ctx,
  schema: S,
  maxBytes = JSON_BODY_LIMIT,
): Promise<z.output<S>> {
  return parseInput(schema, await readJsonBody(c.req.raw, maxBytes), "body");
}

export function accountOf(c: Ctx): string {
  return c.get("accountId");
}

export function db<T>(c: Ctx, fn: (db: Db) => Promise<T>): Promise<T> {
  return withDb(c.env.HYPERDRIVE, fn);
}

export function allowFileRepos(c: Ctx): boolean {
  return c.env.ALLOW_FILE_REPOS === "true";
}
