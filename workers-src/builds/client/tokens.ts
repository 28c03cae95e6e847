/**
 * Random credentials the Client Worker hands out (webhook secrets, deploy hook URLs) and the sealing key
 * of the secrets it stores.
 */
import { importSecretKey } from "../lib/secret-box";

const keys = new Map<string, Promise<CryptoKey>>();

/** The AES key of `BUILD_VARIABLES_KEY`, imported once per isolate. */
export function sealingKey(material: string): Promise<CryptoKey> {
  let key = keys.get(material);
  if (key === undefined) {
    key = importSecretKey(material);
    // A bad key must fail every request that needs it, not be remembered as a rejected promise forever.
    key.catch(() => keys.delete(material));
    keys.set(material, key);
  }
  return key;
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A webhook secret: 32 random bytes as hex, the form GitHub and GitLab settings accept as typed. */
export function newWebhookSecret(): string {
  return toHex(randomBytes(32));
}

/** A deploy hook secret: 32 random bytes as base64url (43 characters), safe in a URL path. */
export function newDeployHookSecret(): string {
  return toBase64Url(randomBytes(32));
}

export const DEPLOY_HOOK_SECRET = /^[A-Za-z0-9_-]{43}$/;

export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}
