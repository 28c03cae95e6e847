// Crockford's base32: no I, L, O or U, and its order is the order of the values it writes.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_DIGITS = 10;
const RANDOM_DIGITS = 16;

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A 26-character id that sorts by creation time: 10 digits of milliseconds since the epoch, then 16 random
 * digits. Ids made in the same isolate are strictly increasing: Workers freeze `Date.now()` while code runs,
 * so many ids share a millisecond, and those count up from the first one's random part.
 */
export function sortableId(now: number = Date.now()): string {
  let time = Math.max(Math.floor(now), lastTime);
  let random = time === lastTime ? increment(lastRandom) : undefined;
  if (!random) {
    if (time === lastTime) time++;
    random = Array.from(crypto.getRandomValues(new Uint8Array(RANDOM_DIGITS)), (byte) => byte & 31);
  }
  lastTime = time;
  lastRandom = random;
  const digits: string[] = [];
  for (let i = 0, t = time; i < TIME_DIGITS; i++, t = Math.floor(t / 32)) digits.unshift(ALPHABET[t % 32]!);
  return digits.join("") + random.map((digit) => ALPHABET[digit]).join("");
}

function increment(digits: number[]): number[] | undefined {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]!++;
      return next;
    }
    next[i] = 0;
  }
  return undefined;
}
