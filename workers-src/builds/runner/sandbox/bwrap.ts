/**
 * The bubblewrap command line for one process of a build. Pure: what exists on the host is looked up once
 * (`SystemLayout`) and passed in, so that the whole policy reads, and is tested, as data.
 */

/** How a top-level system path appears in the sandbox: bound read-only, or the same symbolic link. */
export type SystemEntry = { path: string; kind: "dir" } | { path: string; kind: "symlink"; target: string };

export interface Bind {
  source: string;
  target: string;
  writable: boolean;
  /** A missing source is skipped rather than an error (what then fails says why in its own words). */
  optional?: boolean;
}

export interface SandboxedCommand {
  argv: readonly string[];
  /** Working folder, as the sandbox sees it. */
  cwd: string;
  /** The whole environment of the command (applied after the user switch, so it cannot affect the switch). */
  env: Record<string, string>;
  uid: number;
  gid: number;
  /** Read-only system: `/usr` and its neighbours, `/etc`. */
  system: readonly SystemEntry[];
  /** Files laid over the system's (`/etc/passwd`, `/etc/resolv.conf`, ...), read-only. */
  etcFiles: readonly { source: string; target: string }[];
  /** The build's workspace and, per step, whatever that step alone needs. */
  binds: readonly Bind[];
  /** Where the command learns nothing: host name inside the sandbox. @default "build" */
  hostname?: string;
  /** File descriptor numbers of the bwrap process (see `SandboxProcess`). */
  infoFd: number;
  blockFd: number;
}

/** Where the tools run from inside the sandbox: the system's own copies, bound read-only. */
export const SETPRIV = "/usr/bin/setpriv";
export const ENV = "/usr/bin/env";

/**
 * bwrap's options (passed through `--args <fd>`, so that host paths never show in a process list) and its
 * command line after `--`. The options: new PID, IPC, UTS and cgroup namespaces (the network
 * namespace is the build's own, entered before bwrap runs), an empty root holding only the read-only system,
 * the workspace and the step's binds, a fresh `/proc` and a minimal `/dev`; then `setpriv` drops to the
 * build's uid and gid with no capabilities and no way back (`no_new_privs`), and `env -i` sets the build's
 * environment only after that switch.
 */
export function bwrapArgs(command: SandboxedCommand): { options: string[]; command: string[] } {
  const args = [
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    command.hostname ?? "build",
    "--die-with-parent",
    "--new-session",
    "--info-fd",
    String(command.infoFd),
    "--block-fd",
    String(command.blockFd),
  ];
  for (const entry of command.system) {
    if (entry.kind === "dir") args.push("--ro-bind", entry.path, entry.path);
    else args.push("--symlink", entry.target, entry.path);
  }
  for (const file of command.etcFiles) args.push("--ro-bind", file.source, file.target);
  args.push("--proc", "/proc", "--dev", "/dev");
  // Folders bwrap would make on its own for a bind's target are root's alone (0700): the build could not
  // reach what is bound there.
  const made = new Set(["/", ...command.system.map((entry) => entry.path), "/proc", "/dev"]);
  for (const bind of command.binds) {
    for (const dir of ancestors(bind.target)) {
      if (made.has(dir)) continue;
      args.push("--perms", "0755", "--dir", dir);
      made.add(dir);
    }
    const kind = bind.writable ? "--bind" : "--ro-bind";
    args.push(bind.optional ? `${kind}-try` : kind, bind.source, bind.target);
    made.add(bind.target);
  }
  args.push("--chdir", command.cwd, "--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
  // The build's variables are set by `env` after the switch to the build's user: given to bwrap, they would
  // reach setpriv, which still runs as root (LD_PRELOAD and the like).
  const tail = [
    SETPRIV,
    `--reuid=${command.uid}`,
    `--regid=${command.gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
    ENV,
    "-i",
    "--",
  ];
  for (const [name, value] of Object.entries(command.env)) {
    if (name === "" || name.includes("="))
      throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    tail.push(`${name}=${value}`);
  }
  // `env` would take a program name with `=` for one more variable.
  const [program] = command.argv;
  if (!program || program.includes("=")) throw new Error(`invalid program ${JSON.stringify(program)}`);
  tail.push(...command.argv);
  return { options: args, command: tail };
}

/** `/a/b/c` → `/a`, `/a/b`. */
function ancestors(target: string): string[] {
  const parts = target.split("/").filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}

/** `--args` takes NUL-terminated arguments, so no argument may contain a NUL itself. */
export function encodeArgs(args: readonly string[]): Buffer {
  for (const arg of args) if (arg.includes("\0")) throw new Error("a sandbox argument contains a NUL byte");
  return Buffer.from(args.map((arg) => `${arg}\0`).join(""), "utf8");
}
