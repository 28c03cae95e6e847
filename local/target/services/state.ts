import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { TargetService } from "./context";

/** Whether a process with this id runs (one owned by another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** State folders this process runs a target on (its own pid in a lock file says nothing). */
const held = new Set<string>();

/** One target per state folder: a second start while one runs says so instead of fighting over ports and data. */
function takeLock(stateDir: string): () => void {
  const file = path.join(stateDir, "target.lock");
  const pid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : Number.NaN;
  const otherProcess = Number.isInteger(pid) && pid !== process.pid && processAlive(pid);
  if (held.has(stateDir) || otherProcess) {
    const owner = otherProcess ? pid : process.pid;
    throw new Error(
      `the local target is already running (pid ${owner}, state in ${stateDir}); stop it first`,
    );
  }
  writeFileSync(file, `${process.pid}\n`);
  held.add(stateDir);
  return () => {
    if (held.delete(stateDir)) rmSync(file, { force: true });
  };
}

/**
 * Miniflare's own signal hook may end the process before an asynchronous stop runs: whatever happens,
 * the services that were started are signalled at exit (PostgreSQL and the build runners are told to shut
 * down, and finish on their own; the lock is released).
 */
export function exitSignal(signalStop: () => void): TargetService {
  return {
    name: "exit signal",
    start: async () => {
      const onExit = () => signalStop();
      process.once("exit", onExit);
      return { stop: () => void process.off("exit", onExit) };
    },
  };
}

/** The state folder, locked for this target; emptied first on `reset`. */
export const stateFolder: TargetService = {
  name: "state folder",
  start: async ({ stateDir, options, log }) => {
    mkdirSync(stateDir, { recursive: true });
    const releaseLock = takeLock(stateDir);
    if (options.reset) {
      try {
        for (const item of ["postgres", "miniflare", "cloudflare", "graph.json"]) {
          rmSync(path.join(stateDir, item), { recursive: true, force: true });
        }
      } catch (err) {
        releaseLock();
        throw err;
      }
      log("reset: local data removed");
    }
    return { stop: releaseLock, signalStop: releaseLock };
  },
};
