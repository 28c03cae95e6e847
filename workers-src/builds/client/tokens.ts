/**
 * Random credentials the Client Worker hands out (webhook secrets, deploy hook URLs).
 */
import { randomHex } from "../lib/digest";

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A webhook secret: 32 random bytes as hex, the form GitHub and GitLab settings accept as typed. */
export function newWebhookSecret(): string {
  return randomHex(32);
}

/** A deploy hook secret: 32 random bytes as base64url (43 characters), safe in a URL path. */
export function newDeployHookSecret(): string {
  return toBase64Url(randomBytes(32));
}

export const DEPLOY_HOOK_SECRET = /^[A-Za-z0-9_-]{43}$/;
