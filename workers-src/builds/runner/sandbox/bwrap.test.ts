import { describe, expect, it } from "vitest";
import { bwrapArgs, ENV, encodeArgs, type SandboxedCommand, SETPRIV } from "./bwrap";

const base: SandboxedCommand = {
  argv: ["/bin/bash", "-c", "npm run build"],
  cwd: "/build/repo",
  env: { PATH: "/usr/bin:/bin", SECRET: "s3cret" },
  uid: 200_001,
  gid: 200_001,
  system: [
    { path: "/usr", kind: "dir" },
    { path: "/bin", kind: "symlink", target: "usr/bin" },
    { path: "/etc", kind: "dir" },
  ],
  etcFiles: [{ source: "/job/etc/passwd", target: "/etc/passwd" }],
  binds: [{ source: "/job/fs", target: "/build", writable: true }],
  infoFd: 4,
  blockFd: 5,
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

  it("binds the system read-only, keeps links as links, lays files over /etc, and binds the workspace writable", () => {
    const { options } = bwrapArgs(base);
    const joined = options.join(" ");
    expect(joined).toContain("--ro-bind /usr /usr");
    expect(joined).toContain("--symlink usr/bin /bin");
    expect(joined).toContain("--ro-bind /etc /etc --ro-bind /job/etc/passwd /etc/passwd");
    expect(joined).toContain("--proc /proc --dev /dev");
    expect(joined).toContain("--bind /job/fs /build");
    // Nothing of the host is bound but what is listed: no /home, /root, /tmp of the host, /var, /run.
    expect(options.filter((a) => a === "--bind" || a === "--ro-bind")).toHaveLength(4);
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
      "--perms 0755 --dir /run --perms 0755 --dir /run/build-out --bind /job/out/cache.tar.gz /run/build-out/cache.tar.gz --ro-bind-try /srv/repo.git /run/repo.git",
    );
  });

  it("drops to the build's uid with no capabilities, and sets the build's variables only after that", () => {
    const { options, command } = bwrapArgs(base);
    expect(options.slice(-6)).toEqual([
      "--chdir",
      "/build/repo",
      "--clearenv",
      "--setenv",
      "PATH",
      "/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    expect(pairs(options, "--setenv")).toEqual(["PATH"]);
    expect(options.join(" ")).not.toContain("s3cret");
    expect(command).toEqual([
      SETPRIV,
      "--reuid=200001",
      "--regid=200001",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      ENV,
      "-i",
      "--",
      "PATH=/usr/bin:/bin",
      "SECRET=s3cret",
      "/bin/bash",
      "-c",
      "npm run build",
    ]);
  });

  it.each([
    ["a variable name with =", { env: { "A=B": "x" } }, /invalid environment variable name/],
    ["an empty variable name", { env: { "": "x" } }, /invalid environment variable name/],
    ["a program name with =", { argv: ["A=B", "x"] }, /invalid program/],
    ["no program", { argv: [] }, /invalid program/],
  ])("refuses %s", (_name, change, message) => {
    expect(() => bwrapArgs({ ...base, ...change })).toThrow(message);
  });
});

describe("encodeArgs", () => {
  it("ends every argument with a NUL, and refuses one that contains a NUL", () => {
    expect(encodeArgs(["--a", "b c"]).toString()).toBe("--a\0b c\0");
    expect(() => encodeArgs(["a\0b"])).toThrow(/NUL/);
  });
});
