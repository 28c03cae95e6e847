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
  /** Read-only system: `/usr` and its neighbours (`/etc` is made of `ETC_ENTRIES`). */
  system: readonly SystemEntry[];
  /** Files laid over the system's (`/etc/passwd`, `/etc/resolv.conf`, ...), read-only. */
  etcFiles: readonly { source: string; target: string }[];
  /** The build's workspace and, per step, whatever that step alone needs. */
  binds: readonly Bind[];
  /** Where the command learns nothing: host name inside the sandbox. @default "build" */
  hostname?: string;
  /** File descriptor numbers of the bwrap process: its info, the hold until the cgroup is joined, the step. */
  infoFd: number;
  blockFd: number;
  stepFd: number;
  /** Where bwrap reads the seccomp filter from, when there is one. */
  seccompFd?: number;
}

/**
 * What a build sees of the host's `/etc`: what programs need to run, resolve names, speak TLS and find
 * the alternatives `/usr/bin` links into; not the rest (service units, `environment`, the runner's own
 * configuration), which may hold the host's secrets. Missing ones are skipped.
 */
export const ETC_ENTRIES = [
  "alternatives",
  "bash.bashrc",
  "ca-certificates",
  "ca-certificates.conf",
  "debian_version",
  "gai.conf",
  "host.conf",
  "inputrc",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "mime.types",
  "nsswitch.conf",
  "os-release",
  "profile",
  "protocols",
  "services",
  "shells",
  "ssl",
  "timezone",
] as const;

/** Where the step's script (its environment and command) appears in the sandbox. */
export const STEP_SCRIPT = "/run/build-step";

/** Where the tools run from inside the sandbox: the system's own copies, bound read-only. */
export const SETPRIV = "/usr/bin/setpriv";
export const SHELL = "/bin/sh";

/**
 * bwrap's options (passed through `--args <fd>`, so that host paths never show in a process list), its
 * command line after `--`, and the step's script, which bwrap lays at `/run/build-step` from a descriptor:
 * the build's variables and command never appear on a command line, where any user of the host could read
 * them in `/proc`. The options: new PID, IPC, UTS and cgroup namespaces (the network
 * namespace is the build's own, entered before bwrap runs), an empty root holding only the read-only system,
 * the workspace and the step's binds, a fresh `/proc` and a minimal `/dev`; then `setpriv` drops to the
 * build's uid and gid with no capabilities and no way back (`no_new_privs`), and `env -i` sets the build's
 * environment only after that switch.
 */
export function bwrapArgs(command: SandboxedCommand): {
  options: string[];
  command: string[];
  script: string;
} {
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
  args.push("--perms", "0755", "--dir", "/etc");
  for (const entry of ETC_ENTRIES) args.push("--ro-bind-try", `/etc/${entry}`, `/etc/${entry}`);
  for (const file of command.etcFiles) args.push("--ro-bind", file.source, file.target);
  args.push("--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", "/run");
  args.push("--perms", "0444", "--ro-bind-data", String(command.stepFd), STEP_SCRIPT);
  // Folders bwrap would make on its own for a bind's target are root's alone (0700): the build could not
  // reach what is bound there.
  const made = new Set(["/", ...command.system.map((entry) => entry.path), "/etc", "/proc", "/dev", "/run"]);
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
  if (command.seccompFd !== undefined) args.push("--seccomp", String(command.seccompFd));
  args.push("--chdir", command.cwd, "--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
  // The build's variables are set by the step's script after the switch to the build's user: given to
  // bwrap, they would reach setpriv, which still runs as root (LD_PRELOAD and the like).
  const tail = [
    SETPRIV,
    `--reuid=${command.uid}`,
    `--regid=${command.gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
    SHELL,
    STEP_SCRIPT,
  ];
  return { options: args, command: tail, script: stepScript(command.env, command.argv) };
}

/** A shell word that is `text` and nothing else. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The step's script: export each variable, then replace the shell with the command. Pure. */
export function stepScript(env: Record<string, string>, argv: readonly string[]): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    }
    if (value.includes("\0")) throw new Error(`environment variable ${name} contains a NUL byte`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  if (argv.length === 0 || argv[0] === "") throw new Error("a sandboxed command needs a program");
  lines.push(`exec ${argv.map(shellQuote).join(" ")}`);
  return `${lines.join("\n")}\n`;
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
