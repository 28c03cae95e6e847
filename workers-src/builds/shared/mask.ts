/**
 * Secret masking for build logs. Pure (no Node or Workers APIs) so the runner and the Workers that show
 * logs share one implementation.
 */

/** What a secret value is replaced with. */
export const MASK = "***";

/** Masks one log line; built once per build by {@link createMasker}. */
export type Masker = (line: string) => string;

/**
 * The strings to look for in log lines. Logs are masked line by line, so a multi-line secret (a PEM key,
 * say) can only ever show up one line at a time: each of its lines is masked on its own as well.
 */
export function maskTargets(secrets: readonly string[]): string[] {
  const targets = new Set<string>();
  for (const secret of secrets) {
    if (secret === "") continue;
    targets.add(secret);
    if (/[\r\n]/.test(secret)) {
      for (const part of secret.split(/\r?\n|\r/)) {
        if (part !== "") targets.add(part);
      }
    }
  }
  return [...targets];
}

/**
 * Returns a function that replaces every occurrence of every non-empty secret with {@link MASK}.
 * Occurrences that overlap or touch are masked as one run, so no character of any secret survives
 * (with secrets `abcd` and `cdef`, `abcdef` becomes `***`, not `***ef`), which also makes the order of
 * the secrets irrelevant: a longer secret always wins over a shorter one inside it.
 */
export function createMasker(secrets: readonly string[]): Masker {
  const targets = maskTargets(secrets);
  if (targets.length === 0) return (line) => line;
  return (line) => {
    let covered: Uint8Array | undefined;
    for (const target of targets) {
      let from = line.indexOf(target);
      while (from !== -1) {
        covered ??= new Uint8Array(line.length);
        covered.fill(1, from, from + target.length);
        from = line.indexOf(target, from + 1);
      }
    }
    if (!covered) return line;
    let out = "";
    let i = 0;
    while (i < line.length) {
      if (covered[i]) {
        out += MASK;
        while (i < line.length && covered[i]) i++;
      } else {
        const start = i;
        while (i < line.length && !covered[i]) i++;
        out += line.slice(start, i);
      }
    }
    return out;
  };
}

/** Replaces every occurrence of each non-empty secret in `line` with {@link MASK}. */
export function maskSecrets(line: string, secrets: readonly string[]): string {
  return createMasker(secrets)(line);
}
