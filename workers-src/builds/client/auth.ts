/**
 * Bearer JWT authentication of the `/api/*` routes: HS256 only, `exp` required, `nbf` honoured, and `sub`
 * the account id every query is scoped to.
 */
import type { MiddlewareHandler } from "hono";
import { verify } from "hono/jwt";
import type { AppEnv } from "./env";
import { AuthError } from "./envelope";
import { logger } from "./logger";

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BEARER = /^Bearer[ \t]+([A-Za-z0-9_.=-]+)[ \t]*$/i;

/** Verifies a token and answers its account id; throws {@link AuthError} for any token it does not accept. */
export async function authenticate(header: string | undefined, secret: string): Promise<string> {
  if (secret === "") throw new Error("API_JWT_SECRET is empty: refusing to verify tokens with an empty key");
  if (header === undefined)
    throw new AuthError("missing Authorization header: send Authorization: Bearer <token>");
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw new AuthError("Authorization header is not a Bearer token");
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

export const requireAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const accountId = await authenticate(c.req.header("Authorization"), c.env.API_JWT_SECRET);
  c.set("accountId", accountId);
  logger.setTags({ account_id: accountId });
  await next();
};
