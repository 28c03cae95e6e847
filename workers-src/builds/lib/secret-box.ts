/**
 * Build secrets at rest: AES-256-GCM with a random 96-bit IV per value, and associated data binding each
 * sealed value to where it is stored, so a value copied to another row or variable does not open.
 *
 * Sealed form: `v1.<base64url IV>.<base64url ciphertext and 128-bit tag>`, unpadded.
 */

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Imports the build variables key: 32 bytes as base64, standard or URL alphabet, padding optional. */
export async function importSecretKey(material: string): Promise<CryptoKey> {
  const bytes = decodeBase64(material.trim().replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/"));
  if (bytes === null) {
    throw new Error("build variables key must be 32 bytes of base64 (got characters that are not base64)");
  }
  if (bytes.length !== KEY_BYTES) {
    throw new Error(`build variables key must be 32 bytes of base64 (got ${bytes.length} bytes)`);
  }
  return crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

/**
 * Encrypts `plaintext`, bound to `aad` (for example the trigger id and variable name): opening needs the
 * same `aad`.
 */
export async function sealSecret(key: CryptoKey, plaintext: string, aad: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(aad), tagLength: TAG_BYTES * 8 },
    key,
    encoder.encode(plaintext),
  );
  return `${VERSION}.${encodeBase64Url(iv)}.${encodeBase64Url(new Uint8Array(sealed))}`;
}

/** Decrypts a value from {@link sealSecret}; throws when it is malformed, tampered with, or the key or `aad` differ. */
export async function openSecret(key: CryptoKey, sealed: string, aad: string): Promise<string> {
  const parts = sealed.split(".");
  const [version, ivText, dataText] = parts;
  if (parts.length !== 3 || version !== VERSION) {
    throw new Error(`sealed secret is malformed: expected ${VERSION}.<iv>.<ciphertext>`);
  }
  const iv = decodeBase64Url(ivText!);
  const data = decodeBase64Url(dataText!);
  if (iv?.length !== IV_BYTES)
    throw new Error(`sealed secret is malformed: the IV must be ${IV_BYTES} bytes of base64url`);
  if (data === null || data.length < TAG_BYTES) {
    throw new Error("sealed secret is malformed: the ciphertext must be base64url and hold at least the tag");
  }
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(aad), tagLength: TAG_BYTES * 8 },
      key,
      data,
    );
  } catch {
    throw new Error("sealed secret does not open: wrong key, sealed for another variable, or tampered with");
  }
  return decoder.decode(plain);
}

function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Only the canonical encoding is accepted: otherwise the spare bits of the last character would let
// several strings stand for one sealed value.
function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = decodeBase64(text.replace(/-/g, "+").replace(/_/g, "/"));
  return bytes !== null && encodeBase64Url(bytes) === text ? bytes : null;
}

/** Decodes unpadded standard base64; null when it is not base64. */
function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const keys = new Map<string, Promise<CryptoKey>>();

/** `importSecretKey`, once per isolate for each key material (`BUILD_VARIABLES_KEY`). */
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
