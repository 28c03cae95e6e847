/** The host programs the sandbox needs, and a way to run them that says what failed. */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** Program → the Debian package that has it (what a missing one is installed from). */
export const SANDBOX_PROGRAMS: Record<string, string> = {
  bwrap: "bubblewrap",
  slirp4netns: "slirp4netns",
  setpriv: "util-linux",
  nsenter: "util-linux",
  mount: "mount",
  umount: "mount",
  ip: "iproute2",
  "mkfs.ext4": "e2fsprogs",
  nft: "nftables",
};

/** Where the sandbox looks for its programs: the system's folders, not the caller's PATH. */
export const SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** The full path of `program` in the system's folders, or undefined. */
export function findProgram(program: string): string | undefined {
  for (const dir of SYSTEM_PATH.split(":")) {
    const file = path.join(dir, program);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a host program to its end; rejects with its stderr when it fails. */
export function run(program: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      { env: { PATH: SYSTEM_PATH, LANG: "C" }, timeout: timeoutMs, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = String(stderr || error.message)
            .trim()
            .split("\n")
            .slice(-3)
            .join("; ");
          reject(new Error(`${program} ${args.join(" ")} failed: ${detail}`));
        } else resolve(String(stdout));
      },
    );
  });
}

/** The script that installs the sandbox's programs from Debian's packages (as root, where missing). */
export const INSTALL_SCRIPT = path.join(__dirname, "..", "install-sandbox-tools.sh");

/** The sandbox's programs that this host lacks. */
export function missingPrograms(): string[] {
  return Object.keys(SANDBOX_PROGRAMS).filter((program) => findProgram(program) === undefined);
}

/**
 * Installs the sandbox's programs where any is missing (see `install-sandbox-tools.sh`); a no-op when all
 * are there. Rejects with what is still missing when it could not install them.
 */
export async function ensureSandboxPrograms(log: (line: string) => void): Promise<void> {
  const missing = missingPrograms();
  if (missing.length === 0) return;
  log(`build sandbox: installing ${missing.join(", ")} from Debian's packages`);
  await run("/bin/sh", [INSTALL_SCRIPT], 600_000).catch((error: Error) => log(error.message));
  const still = missingPrograms();
  if (still.length > 0) {
    throw new Error(
      `build sandbox: ${still.join(", ")} still missing; as root run ${INSTALL_SCRIPT} (or apt-get install ${[...new Set(still.map((p) => SANDBOX_PROGRAMS[p]))].join(" ")})`,
    );
  }
}
