/**
 * workerd tied to the life of the process that starts it. Miniflare spawns workerd as a plain child: when
 * the target's process is killed outright (SIGKILL, an OOM kill, a crashed test runner), workerd lives on
 * as an orphan holding its ports. Pointing Miniflare at a launcher that runs workerd under
 * `setpriv --pdeathsig` makes the kernel send workerd SIGTERM the moment its parent dies.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"];
const LAUNCHER_PREFIX = "workers-platform-workerd-";

/** The workerd binary Miniflare would run: `MINIFLARE_WORKERD_PATH` when set, else the `workerd` package's. */
function workerdBinary(): string {
  const fromEnv = process.env.MINIFLARE_WORKERD_PATH;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const requireFromMiniflare = createRequire(require.resolve("miniflare"));
  return requireFromMiniflare("workerd").default as string;
}

/** A launcher script for `binary`: setpriv, then exec workerd with Miniflare's arguments. */
export function launcherScript(setpriv: string, binary: string): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return `#!/bin/sh\nexec ${quote(setpriv)} --pdeathsig SIGTERM -- ${quote(binary)} "$@"\n`;
}

let tethered: string | undefined;

/**
 * Makes the Miniflare instances this process starts from now on run workerd through the launcher, and
 * answers the launcher's path; null where setpriv is missing (workerd then runs as Miniflare starts it).
 * The launcher lives in the OS temporary directory, named by its content, so every target shares one.
 */
export function tetherWorkerd(): string | null {
  if (process.platform !== "linux") return null;
  const setpriv = SETPRIV.find((p) => existsSync(p));
  if (setpriv === undefined) return null;
  const current = process.env.MINIFLARE_WORKERD_PATH;
  if (current !== undefined && current === tethered) return tethered;
  // Inherited from a parent process that tethered its own workerd: already a launcher.
  if (current !== undefined && path.basename(current).startsWith(LAUNCHER_PREFIX) && existsSync(current)) {
    tethered = current;
    return current;
  }
  const script = launcherScript(setpriv, workerdBinary());
  const file = path.join(
    os.tmpdir(),
    `${LAUNCHER_PREFIX}${createHash("sha256").update(script).digest("hex").slice(0, 16)}.sh`,
  );
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, script);
    chmodSync(partial, 0o755);
    renameSync(partial, file);
  }
  process.env.MINIFLARE_WORKERD_PATH = file;
  tethered = file;
  return file;
}
