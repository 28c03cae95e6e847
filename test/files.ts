import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Folders made by the writers of `tempFolders`, until `removeTempFolders`. */
const made: string[] = [];

/**
 * A writer of migration folders: `folder(files)` writes `files` (name → content) into a new temp folder
 * named `<prefix>XXXXXX`, `folder(files, dir)` into `dir`; a `null` content deletes that file. Returns the
 * folder. Call `removeTempFolders` in `afterAll`.
 */
export function tempFolders(prefix: string) {
  return (files: Record<string, string | null>, dir?: string): string => {
    const target = dir ?? mkdtempSync(path.join(tmpdir(), prefix));
    if (!made.includes(target)) made.push(target);
    for (const [name, content] of Object.entries(files)) {
      if (content === null) rmSync(path.join(target, name));
      else writeFileSync(path.join(target, name), content);
    }
    return target;
  };
}

/** Removes every folder the writers of `tempFolders` made or wrote into. */
export function removeTempFolders(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
