/** Hashes, random tokens and comparisons shared by the Workers (Web Crypto only). */

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of a text's UTF-8 bytes, or of bytes as they are, in hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

// Runs over the whole expected value whatever the input, so timing tells nothing about the contents.
export function constantTimeEqual(expected: Uint8Array, actual: Uint8Array): boolean {
  let diff = expected.length ^ actual.length;
  for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ (actual[i] ?? 0);
  return diff === 0;
}

const encoder = new TextEncoder();

/** `constantTimeEqual` over two strings' UTF-8 bytes. */
export function constantTimeEqualText(expected: string, actual: string): boolean {
  return constantTimeEqual(encoder.encode(expected), encoder.encode(actual));
}
