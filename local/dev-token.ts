import { createHmac } from "node:crypto";

/** Account of the development token when none is named. */
export const DEFAULT_DEV_ACCOUNT = "local-dev-account";

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** An HS256 JWT with `sub` = the account, as the builds platform's REST API takes it. */
export function signDevToken(
  secret: string,
  account: string = DEFAULT_DEV_ACCOUNT,
  options: { expiresInSeconds?: number; now?: number } = {},
): string {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = base64url(
    JSON.stringify({ sub: account, iat: now, exp: now + (options.expiresInSeconds ?? 24 * 3600) }),
  );
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** The REST API's token secret in a local plan: the `API_JWT_SECRET` secret of the Worker that has one. */
export function apiJwtSecretOf(
  workers: { name: string; bindings: Record<string, string> }[],
): string | undefined {
  return workers.find((w) => w.bindings.API_JWT_SECRET)?.bindings.API_JWT_SECRET;
}
