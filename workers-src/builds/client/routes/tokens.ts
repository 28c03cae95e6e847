/**
 * API tokens: long-lived bearer tokens of an account, each `read` or `write`. The token is answered once,
 * by the request that created it; only its SHA-256 is stored. Revoking keeps the row (refused from then on).
 * Creating and revoking need `write` (the auth middleware checks the method), and no token creates a token
 * of a wider scope than its own.
 */
import { Hono } from "hono";
import type { Db } from "../../shared/db";
import { apiTokenDigest, forbidden, newApiToken, scopeCovers } from "../auth";
import type { AppEnv } from "../env";
import { ConflictError, NotFoundError, ok } from "../envelope";
import { ensureAccount } from "../records";
import { accountOf, body, db, params, query } from "../request";
import { type ApiTokenScope, apiTokenParamSchema, createApiTokenSchema, emptyQuerySchema } from "../schemas";

/** Live tokens per account: more would be a list nobody can audit. */
export const MAX_API_TOKENS_PER_ACCOUNT = 50;

export const tokenRoutes = new Hono<AppEnv>();

interface ApiTokenRow {
  id: string;
  name: string;
  scope: ApiTokenScope;
  created_at: Date;
  last_used_at: Date | null;
}

const TOKEN_COLUMNS = "id, name, scope, created_at, last_used_at";

/** A token as the API shows it: never the token, never its hash. */
function tokenJson(row: ApiTokenRow) {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at === null ? null : row.last_used_at.toISOString(),
  };
}

tokenRoutes.post("/api/tokens", async (c) => {
  const input = await body(c, createApiTokenSchema);
  const held = c.get("scope");
  if (!scopeCovers(held, input.scope)) {
    return forbidden(
      c,
      `this token's scope is ${held}; it cannot create a token of scope ${input.scope}`,
      input.scope,
    );
  }
  const accountId = accountOf(c);
  const token = newApiToken();
  const digest = await apiTokenDigest(token);
  const row = await db(c, (db) =>
    db.transaction(async (tx) => {
      await ensureAccount(tx, accountId);
      await lockAccount(tx, accountId);
      const [{ count }] = (await tx.query<{ count: number }>(
        "SELECT count(*)::int AS count FROM api_tokens WHERE account_id = $1 AND revoked_at IS NULL",
        [accountId],
      )) as [{ count: number }];
      if (count >= MAX_API_TOKENS_PER_ACCOUNT) {
        throw new ConflictError(
          `this account already has ${count} API tokens, the most allowed; revoke one first`,
        );
      }
      const rows = await tx.query<ApiTokenRow>(
        `INSERT INTO api_tokens (account_id, name, scope, token_sha256) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, name) WHERE revoked_at IS NULL DO NOTHING RETURNING ${TOKEN_COLUMNS}`,
        [accountId, input.name, input.scope, digest],
      );
      if (rows[0] === undefined)
        throw new ConflictError(`an API token named ${input.name} already exists in this account`);
      return rows[0];
    }),
  );
  const { last_used_at: _, ...created } = tokenJson(row);
  return c.json(ok({ ...created, token }), 201);
});

tokenRoutes.get("/api/tokens", async (c) => {
  query(c, emptyQuerySchema);
  const rows = await db(c, (db) =>
    db.query<ApiTokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE account_id = $1 AND revoked_at IS NULL
       ORDER BY created_at, id`,
      [accountOf(c)],
    ),
  );
  return c.json(
    ok(rows.map(tokenJson), { count: rows.length, per_page: MAX_API_TOKENS_PER_ACCOUNT, cursor: null }),
  );
});

tokenRoutes.delete("/api/tokens/:id", async (c) => {
  const { id } = params(c, apiTokenParamSchema);
  query(c, emptyQuerySchema);
  const rows = await db(c, (db) =>
    db.query<ApiTokenRow & { revoked_at: Date }>(
      `UPDATE api_tokens SET revoked_at = now() WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL
       RETURNING ${TOKEN_COLUMNS}, revoked_at`,
      [accountOf(c), id],
    ),
  );
  const row = rows[0];
  if (row === undefined) throw new NotFoundError(`API token ${id}`);
  return c.json(ok({ ...tokenJson(row), revoked_at: row.revoked_at.toISOString() }));
});

/** Serialises an account's token creations, so that the count above holds. */
async function lockAccount(tx: Db, accountId: string): Promise<void> {
  await tx.query("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE", [accountId]);
}
