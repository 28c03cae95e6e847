/**
 * Bearer authentication of the `/api/*` routes, and the scope every route needs.
 *
 * Two kinds of bearer value are accepted:
 * - an HS256 JWT signed with `API_JWT_SECRET` (`exp` required, `nbf` honoured, `sub` the account id),
 *   verified without touching the database, with scope `write`;
 * - an API token (`wpb_` + 32 random bytes as base64url) the account created with `POST /api/tokens`,
 *   looked up in PostgreSQL by its SHA-256 (the only form in which it is stored), refused when unknown or
 *   revoked, with the scope it was created with.
 *
 * Reads (GET, HEAD) need scope `read`; every other method needs `write` (403 otherwise).
 */
import type { Context, MiddlewareHandler } from "hono";
import { verify } from "hono/jwt";
import { matchedRoutes } from "hono/route";
import { sha256Hex } from "../lib/digest";
import { type Db, withDb } from "../shared/db";
import {
  ACCESS_JWT_HEADER,
  type AccessConfig,
  AccessError,
  type AccessFetcher,
  type AccessKeys,
  createAccessKeys,
  validateAccessConfig,
  verifyAccessJwt,
} from "./access";
import type { AppEnv, ClientEnv } from "./env";
import { AuthError, failure } from "./envelope";
import { logger } from "./logger";
import type { ApiTokenScope } from "./schemas";
import { toBase64Url } from "./tokens";

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BEARER = /^Bearer[ \t]+([A-Za-z0-9_.=-]+)[ \t]*$/i;

/** What every API token starts with, so that it is recognisable (secret scanners, logs, a user's eye). */
export const API_TOKEN_PREFIX = "wpb_";
/** An API token: the prefix and 32 bytes as base64url without padding (43 characters). */
export const API_TOKEN = /^wpb_[A-Za-z0-9_-]{43}$/;

/** A new API token: 32 random bytes. Shown once; only its {@link apiTokenDigest} is stored. */
export function newApiToken(): string {
  return `${API_TOKEN_PREFIX}${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** What the database holds of a token and looks it up by: the SHA-256 of the whole token, in hex. */
export function apiTokenDigest(token: string): Promise<string> {
  return sha256Hex(token);
}

/** Error code of a request refused for its token's scope (403). */
export const SCOPE_ERROR_CODE = 1008;

/** `last_used_at` is written at most this often per token. */
export const LAST_USED_RESOLUTION_SECONDS = 60;

/** Who a request is: the account every query is scoped to, and what its token may do. */
export interface Principal {
  accountId: string;
  scope: ApiTokenScope;
  /** The API token's id; null for a JWT. */
  tokenId: string | null;
}

/** An API token's row, as the lookup answers it. */
export interface ApiTokenRecord {
  id: string;
  account_id: string;
  scope: ApiTokenScope;
  revoked: boolean;
}

/** Looks a token up by its digest; undefined when no token has it. */
export type ApiTokenLookup = (digest: string) => Promise<ApiTokenRecord | undefined>;

/** Verifies a JWT and answers its account id; throws {@link AuthError} for any token it does not accept. */
export async function authenticate(header: string | undefined, secret: string): Promise<string> {
  if (secret === "") throw new Error("API_JWT_SECRET is empty: refusing to verify tokens with an empty key");
  return verifyJwt(bearerValue(header), secret);
}

function bearerValue(header: string | undefined): string {
  if (header === undefined)
    throw new AuthError("missing Authorization header: send Authorization: Bearer <token>");
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw new AuthError("Authorization header is not a Bearer token");
  return token;
}

async function verifyJwt(token: string, secret: string): Promise<string> {
  let payload: Awaited<ReturnType<typeof verify>>;
  try {
    payload = await verify(token, secret, { alg: "HS256", exp: true, nbf: true });
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    if (name === "JwtTokenExpired") throw new AuthError("token expired");
    if (name === "JwtTokenNotBefore") throw new AuthError("token not yet valid (nbf)");
    throw new AuthError("invalid token");
  }
  if (typeof payload.exp !== "number") throw new AuthError("token has no exp claim");
  if (typeof payload.sub !== "string" || !ACCOUNT_ID.test(payload.sub)) {
    throw new AuthError("token sub must be an account id: 1 to 64 letters, digits, _ or -");
  }
  return payload.sub;
}

/**
 * Who sent `header`: a JWT (scope `write`, no lookup) or an API token (one `lookup` by digest). Throws
 * {@link AuthError} for anything it does not accept.
 */
export async function authenticateBearer(
  header: string | undefined,
  secret: string,
  lookup: ApiTokenLookup,
): Promise<Principal> {
  if (secret === "") throw new Error("API_JWT_SECRET is empty: refusing to verify tokens with an empty key");
  const token = bearerValue(header);
  if (!token.startsWith(API_TOKEN_PREFIX)) {
    return { accountId: await verifyJwt(token, secret), scope: "write", tokenId: null };
  }
  if (!API_TOKEN.test(token)) {
    throw new AuthError(`malformed API token: expected ${API_TOKEN_PREFIX} and 43 base64url characters`);
  }
  const record = await lookup(await apiTokenDigest(token));
  if (record === undefined) throw new AuthError("unknown API token");
  if (record.revoked) throw new AuthError("API token revoked");
  return { accountId: record.account_id, scope: record.scope, tokenId: record.id };
}

/**
 * The lookup of {@link authenticateBearer} against PostgreSQL: one statement that reads the token by its
 * digest and, when it is live and its `last_used_at` is older than a minute (or unset), stamps it now.
 */
export async function findApiToken(db: Db, digest: string): Promise<ApiTokenRecord | undefined> {
  const rows = await db.query<ApiTokenRecord>(
    `WITH token AS (
       SELECT id, account_id, scope, revoked_at, last_used_at FROM api_tokens WHERE token_sha256 = $1
     ), touched AS (
       UPDATE api_tokens t SET last_used_at = now() FROM token
        WHERE t.id = token.id AND token.revoked_at IS NULL
          AND (token.last_used_at IS NULL OR token.last_used_at < now() - make_interval(secs => $2))
       RETURNING t.id
     )
     SELECT id, account_id, scope, revoked_at IS NOT NULL AS revoked FROM token`,
    [digest, LAST_USED_RESOLUTION_SECONDS],
  );
  return rows[0];
}

/** The scope a method needs: GET and HEAD read (the log stream too), everything else writes. */
export function requiredScope(method: string): ApiTokenScope {
  const m = method.toUpperCase();
  return m === "GET" || m === "HEAD" ? "read" : "write";
}

const SCOPE_RANK: Record<ApiTokenScope, number> = { read: 0, write: 1 };

/** Whether a token of scope `held` may do what scope `needed` allows. */
export function scopeCovers(held: ApiTokenScope, needed: ApiTokenScope): boolean {
  return SCOPE_RANK[held] >= SCOPE_RANK[needed];
}

/** Why a token of `scope` may not call `method route`, or null when it may. */
export function scopeProblem(scope: ApiTokenScope, method: string, route: string): string | null {
  const needed = requiredScope(method);
  if (scopeCovers(scope, needed)) return null;
  return `this token's scope is ${scope}; ${method.toUpperCase()} ${route} needs ${needed}`;
}

/** The 403 of a request its token's scope does not cover, in the API's envelope. */
export function forbidden(c: Context<AppEnv>, message: string, needed: ApiTokenScope): Response {
  logger.info(`answered 403: ${message}`);
  c.header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="${needed}"`);
  return c.json(failure([{ code: SCOPE_ERROR_CODE, message }]), 403);
}

/** The Access settings of the Worker's env, validated; undefined when Access is not configured. */
export function accessConfigOf(env: Partial<ClientEnv>): AccessConfig | undefined {
  if (!env.ACCESS_TEAM_DOMAIN) return undefined;
  let accountGroups: Record<string, string> | undefined;
  if (env.ACCESS_ACCOUNT_GROUPS) {
    try {
      accountGroups = JSON.parse(env.ACCESS_ACCOUNT_GROUPS) as Record<string, string>;
    } catch {
      throw new Error("ACCESS_ACCOUNT_GROUPS is not JSON: expected a map of group name to account id");
    }
  }
  return validateAccessConfig({
    teamDomain: env.ACCESS_TEAM_DOMAIN,
    audience: env.ACCESS_AUDIENCE ?? "",
    accountClaim: env.ACCESS_ACCOUNT_CLAIM || "custom.account",
    ...(accountGroups ? { accountGroups } : {}),
  });
}

/** The team domain's keys, one cache per isolate and configuration (they survive between requests). */
const accessKeysCache = new Map<string, AccessKeys>();
function accessKeysFor(config: AccessConfig, fetcher?: AccessFetcher): AccessKeys {
  const key = JSON.stringify(config);
  let keys = accessKeysCache.get(key);
  if (!keys) {
    keys = createAccessKeys(config, fetcher);
    accessKeysCache.set(key, keys);
  }
  return keys;
}

/**
 * Who sent the request: its `Authorization` bearer value when it has one (a JWT or an API token, see
 * {@link authenticateBearer}); otherwise, where Cloudflare Access is configured, the Access token Access
 * put in `Cf-Access-Jwt-Assertion` (a person signed in; scope `write`). Throws {@link AuthError}.
 */
export async function authenticateRequest(
  headers: { authorization?: string; accessAssertion?: string },
  env: Partial<ClientEnv> & { API_JWT_SECRET: string },
  lookup: ApiTokenLookup,
  options: { fetcher?: AccessFetcher; now?: number } = {},
): Promise<Principal> {
  const access = accessConfigOf(env);
  if (headers.authorization !== undefined || !access || headers.accessAssertion === undefined) {
    try {
      return await authenticateBearer(headers.authorization, env.API_JWT_SECRET, lookup);
    } catch (error) {
      if (error instanceof AuthError && headers.authorization === undefined && access) {
        throw new AuthError(
          "not signed in: sign in through Cloudflare Access, or send Authorization: Bearer <token>",
        );
      }
      throw error;
    }
  }
  try {
    const identity = await verifyAccessJwt(
      headers.accessAssertion,
      access,
      accessKeysFor(access, options.fetcher),
      options.now,
    );
    return { accountId: identity.accountId, scope: "write", tokenId: null };
  } catch (error) {
    // The team domain's keys could not be fetched: not the sender's fault, a 500 that says so in the log.
    if (error instanceof AccessError && error.reason !== "keys_unavailable") {
      throw new AuthError(`Cloudflare Access token refused (${error.reason}): ${error.message}`);
    }
    throw error;
  }
}

export const requireAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await authenticateRequest(
    { authorization: c.req.header("Authorization"), accessAssertion: c.req.header(ACCESS_JWT_HEADER) },
    c.env,
    (digest) => withDb(c.env.HYPERDRIVE, (db) => findApiToken(db, digest)),
  );
  c.set("accountId", principal.accountId);
  c.set("scope", principal.scope);
  c.set("apiTokenId", principal.tokenId);
  logger.setTags({ account_id: principal.accountId });
  // The route's pattern (ids stay out of the message); a request no route answers goes on to its 404.
  const route = matchedRoutes(c).find((r) => r.method !== "ALL")?.path;
  if (route !== undefined) {
    const problem = scopeProblem(principal.scope, c.req.method, route);
    if (problem !== null) return forbidden(c, problem, requiredScope(c.req.method));
  }
  await next();
};
