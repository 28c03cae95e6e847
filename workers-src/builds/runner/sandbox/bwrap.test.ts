import { describe, expect, it } from "vitest";
import {
  bwrapArgs,
  encodeArgs,
  type SandboxedCommand,
  SETPRIV,
  SHELL,
  STEP_SCRIPT,
  shellQuote,
  stepScript,
} from "./bwrap";

const base: SandboxedCommand = {
  argv: ["/bin/bash", "-c", "npm run build"],
  cwd: "/build/repo",
  env: { PATH: "/usr/bin:/bin", SECRET: "s3cret" },
  uid: 200_001,
  gid: 200_001,
  system: [
    { path: "/usr", kind: "dir" },
    { path: "/bin", kind: "symlink", target: "usr/bin" },
  ],
  etcFiles: [{ source: "/job/etc/passwd", target: "/etc/passwd" }],
  binds: [{ source: "/job/fs", target: "/build", writable: true }],
  infoFd: 4,
  blockFd: 5,
  stepFd: 6,
};

/** Pairs `--flag value` of an argument list, as `flag value`. */
function pairs(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1] as string] : []));
}

describe("bwrapArgs", () => {
  it("unshares every namespace but the network (the build's own is entered before), and dies with its parent", () => {
    const { options } = bwrapArgs(base);
    expect(options.slice(0, 12)).toEqual([
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      "--hostname",
      "build",
      "--die-with-parent",
      "--new-session",
      "--info-fd",
      "4",
      "--block-fd",
      "5",
    ]);
    expect(options).not.toContain("--share-net");
  });

  it("binds the system read-only, keeps links as links, takes only listed files of /etc, and binds the workspace writable", () => {
    const { options } = bwrapArgs(base);
    const joined = options.join(" ");
    expect(joined).toContain("--ro-bind /usr /usr");
    expect(joined).toContain("--symlink usr/bin /bin");
    expect(joined).toContain("--perms 0755 --dir /etc --ro-bind-try /etc/alternatives /etc/alternatives");
    expect(joined).toContain("--ro-bind-try /etc/ssl /etc/ssl");
    expect(joined).toContain(
      "--ro-bind-try /etc/timezone /etc/timezone --ro-bind /job/etc/passwd /etc/passwd",
    );
    expect(joined).toContain("--proc /proc --dev /dev");
    expect(joined).toContain("--bind /job/fs /build");
    // Nothing of the host is bound but what is listed: no /etc as a whole, /home, /root, host /tmp, /var.
    expect(pairs(options, "--ro-bind")).toEqual(["/usr", "/job/etc/passwd"]);
    expect(pairs(options, "--bind")).toEqual(["/job/fs"]);
    expect(pairs(options, "--ro-bind-try").every((source) => source.startsWith("/etc/"))).toBe(true);
    expect(pairs(options, "--ro-bind-try")).not.toContain("/etc/environment");
  });

  it("makes a bind's missing parent folders world-readable rather than root's alone", () => {
    const { options } = bwrapArgs({
      ...base,
      binds: [
        { source: "/job/out/cache.tar.gz", target: "/run/build-out/cache.tar.gz", writable: true },
        { source: "/srv/repo.git", target: "/run/repo.git", writable: false, optional: true },
      ],
    });
    expect(options.join(" ")).toContain(
      "--perms 0755 --dir /run/build-out --bind /job/out/cache.tar.gz /run/build-out/cache.tar.gz --ro-bind-try /srv/repo.git /run/repo.git",
    );
  });

  it("drops to the build's uid with no capabilities, then runs the step's script, which alone holds the variables", () => {
    const { options, command, script } = bwrapArgs(base);
    expect(options.slice(-6)).toEqual([
      "--chdir",
      "/build/repo",
      "--clearenv",
      "--setenv",
      "PATH",
      "/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    expect(options.join(" ")).toContain("--perms 0444 --ro-bind-data 6 /run/build-step");
    expect(pairs(options, "--setenv")).toEqual(["PATH"]);
    expect(command).toEqual([
      SETPRIV,
      "--reuid=200001",
      "--regid=200001",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      SHELL,
      STEP_SCRIPT,
    ]);
    // Neither the variables nor the command are on any command line.
    expect([...options, ...command].join(" ")).not.toContain("s3cret");
    expect([...options, ...command].join(" ")).not.toContain("npm run build");
    expect(script).toBe(
      "export PATH='/usr/bin:/bin'\nexport SECRET='s3cret'\nexec '/bin/bash' '-c' 'npm run build'\n",
    );
  });

  it("loads the system call filter from its descriptor when there is one", () => {
    expect(bwrapArgs(base).options).not.toContain("--seccomp");
    expect(bwrapArgs({ ...base, seccompFd: 7 }).options.join(" ")).toContain(
      "--seccomp 7 --chdir /build/repo",
    );
  });

  it.each([
    ["a variable name with =", { env: { "A=B": "x" } }, /invalid environment variable name "A=B"/],
    ["an empty variable name", { env: { "": "x" } }, /invalid environment variable name ""/],
    ["a variable name starting with a digit", { env: { "1A": "x" } }, /invalid environment variable name/],
    ["a value with a NUL", { env: { A: "x\0y" } }, /A contains a NUL byte/],
    ["no program", { argv: [] }, /needs a program/],
  ])("refuses %s", (_name, change, message) => {
    expect(() => bwrapArgs({ ...base, ...change })).toThrow(message);
  });
});

describe("stepScript", () => {
  it.each([
    ["plain", "abc"],
    ["quotes", `it's "quoted"`],
    ["shell syntax", "$(touch /tmp/x); `id`; $HOME && ; | > <"],
    ["newlines", "line one\nline two"],
    ["empty", ""],
  ])("a value with %s comes through exactly", async (_name, value) => {
    const { execFileSync } = await import("node:child_process");
    const script = stepScript({ V: value }, ["/usr/bin/printenv", "V"]);
    expect(execFileSync("/bin/sh", ["-c", script], { env: {}, encoding: "utf8" })).toBe(`${value}\n`);
    expect(shellQuote(value).startsWith("'")).toBe(true);
  });
});

describe("encodeArgs", () => {
  it("ends every argument with a NUL, and refuses one that contains a NUL", () => {
    expect(encodeArgs(["--a", "b c"]).toString()).toBe("--a\0b c\0");
    expect(() => encodeArgs(["a\0b"])).toThrow(/NUL/);
  });
});
