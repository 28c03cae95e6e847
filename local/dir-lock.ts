import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { processAlive } from "./target/services/state";

/**
 * Waits until this process holds `lock` (a folder: creating it is atomic), taking it over when the
 * process that held it is gone; answers the function that releases it. Throws after `timeoutMs`.
 */
export async function acquireDirLock(lock: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, "pid"), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch {
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(path.join(lock, "pid"), "utf8"));
      } catch {
        // being written, or being removed
      }
      if (Number.isInteger(holder) && !processAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another process (pid ${holder})`);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
}
