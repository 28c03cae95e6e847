import { createHmac } from "node:crypto";
import type { LocalServicePlan } from "../components/local-service-types";

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

/** The key of development tokens in a local plan: that of the Worker that declared a `dev-token` service. */
export function devTokenSecretOf(services: LocalServicePlan[]): string | undefined {
  return devTokenServiceOf(services)?.secret;
}

/** The Worker whose REST API takes development tokens, and their key. */
export function devTokenServiceOf(
  services: LocalServicePlan[],
): { scriptName: string; secret: string } | undefined {
  const found = services.find((s) => s.kind === "dev-token");
  return found?.kind === "dev-token" ? { scriptName: found.scriptName, secret: found.secret } : undefined;
}
