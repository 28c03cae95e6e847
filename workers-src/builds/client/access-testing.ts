/**
 * Test helpers for Cloudflare Access tokens: RSA key pairs as a team domain publishes them, and tokens
 * signed with them. For tests only, in workerd and in Node (the end-to-end tests' key server): so the
 * types name no global of one runtime's lib alone (Node's has no `CryptoKey` or `JsonWebKey`).
 */
/** A Web Crypto key, as the runtime's `crypto.subtle` takes it. */
type SubtleKey = Parameters<typeof crypto.subtle.sign>[1];

/** The public half of an RSA key as a JWK (the fields a team domain publishes). */
export interface TestJwk {
  kty?: string;
  n?: string;
  e?: string;
  alg?: string;
  [field: string]: unknown;
}

export interface TestKey {
  kid: string;
  privateKey: SubtleKey;
  publicJwk: TestJwk;
  spki: ArrayBuffer;
}

export async function newKey(kid: string): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  )) as { privateKey: SubtleKey; publicKey: SubtleKey };
  const publicJwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as TestJwk;
  const spki = (await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer;
  return { kid, privateKey: pair.privateKey, publicJwk, spki };
}

export function b64url(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64json(value: unknown): string {
  return b64url(new TextEncoder().encode(JSON.stringify(value)));
}

/** A token signed RS256 with `key`. */
export async function sign(
  key: TestKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = `${b64json({ alg: "RS256", kid: key.kid, typ: "JWT", ...header })}.${b64json(payload)}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(signature)}`;
}
