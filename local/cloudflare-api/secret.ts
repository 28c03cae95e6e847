/**
 * The stand-in's token secret, `<root>/token-secret`: 32 random bytes in hex, readable by its owner only,
 * made once (the first of several processes to make it wins), so that the tokens derived from it keep
 * working across restarts, as an API token does.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export const tokenSecretFile = (root: string) => path.join(root, "token-secret");

/** The secret, made first when there is none. */
export function tokenSecret(root: string): string {
  const file = tokenSecretFile(root);
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(root, { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return readFileSync(file, "utf8").trim();
}
