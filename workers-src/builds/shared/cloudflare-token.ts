/**
 * API tokens of the local Cloudflare API stand-in: one per account, derived from the stand-in's secret,
 * so that the platform can hand each build a token for its own account only, and the stand-in can check
 * a token against the account in the request's path without a table of tokens. Web Crypto only: runs in
 * workerd (the Build Management Worker) and in Node (the stand-in).
 */
const PREFIX = "cfl_";

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The stand-in's token for `accountId`: `cfl_` and the base64url HMAC-SHA256 of the account id. */
export async function cloudflareApiToken(secret: string, accountId: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(accountId));
  return PREFIX + base64url(new Uint8Array(mac));
}

/** Whether `token` is the stand-in's token for `accountId` (compared in constant time). */
export async function verifyCloudflareApiToken(
  secret: string,
  accountId: string,
  token: string,
): Promise<boolean> {
  const expected = await cloudflareApiToken(secret, accountId);
  if (token.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ token.charCodeAt(i);
  return diff === 0;
}
