/**
 * The runner's sandbox for builds: checks at start that the host can isolate builds, and gives each build
 * its own namespaces, unprivileged uid, cgroup, disk and network (see `build-sandbox.ts`).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { ApiForward } from "./api-forward";
import { type BuildSandbox, HostBuild, IsolatedBuild } from "./build-sandbox";
import type { SystemEntry } from "./bwrap";
import { BuildCgroup, type CgroupLayout, findCgroupLayout, prepareCgroupParent } from "./cgroup";
import { createDisk, removeDisk } from "./disk";
import { findProgram, SANDBOX_PROGRAMS, SYSTEM_PATH } from "./host-tools";
import { checkLimits, describeLimits, type SandboxLimits } from "./limits";
import {
  BuildNetwork,
  hostNetwork,
  installNetworkPolicy,
  netnsName,
  removeNetns,
  removeNetworkPolicy,
  removeNetworkPolicySync,
} from "./network";
import { seccompFilter } from "./seccomp";

export { loopbackPort } from "./api-forward";
export type { BuildSandbox, Handover, StepAccess } from "./build-sandbox";
export { DEFAULT_LIMITS, type LimitBreach, type SandboxLimits } from "./limits";

export interface SandboxOptions {
  /** Holds one folder per build (root only). */
  workRoot: string;
  limits?: Partial<SandboxLimits>;
  /** First of the uids given to builds; each running build has one of its own. @default 200000 */
  uidBase?: number;
  /**
   * How many uids the runner may use: the first runs the builds' network (slirp4netns), the others are
   * given to builds (at least the number of concurrent builds). @default 1000
   */
  uidCount?: number;
  /** Private networks (CIDR) builds may reach; the rest of the private ranges are refused. @default [] */
  allowNetworks?: string[];
}

/** The host cannot isolate builds; the message lists every reason and what to do. */
export class SandboxUnavailable extends Error {
  override name = "SandboxUnavailable";
  constructor(readonly problems: string[]) {
    super(
      `builds cannot be isolated on this host:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        "Fix the above (as root: workers-src/builds/runner/install-sandbox-tools.sh installs the programs), " +
        "or, on a host that only ever runs one tenant's builds, start the runner with --insecure-no-sandbox.",
    );
  }
}

/** What one build's sandbox gets beyond the runner's defaults. */
export interface PrepareOptions {
  /**
   * A port of the host's loopback (the local Cloudflare API stand-in's) that the build reaches at
   * `127.0.0.1:<port>` inside its network namespace; no other port of the host's loopback is reachable.
   * Builds that run on the host reach it anyway.
   */
  cloudflareApiPort?: number;
}

export interface Sandbox {
  readonly isolated: boolean;
  /** One line for the runner's start-up log. */
  readonly description: string;
  readonly limits: SandboxLimits;
  /** Everything one build gets; `dispose` it when the build is over. */
  prepare(buildUuid: string, options?: PrepareOptions): Promise<BuildSandbox>;
  /** Removes what the sandbox set up on the host for all builds (its network filter); no build may run. */
  close(): Promise<void>;
  /** The same, synchronously, for a process that is exiting. */
  closeSync(): void;
}

/** Builds run as the runner does, with no isolation: for a host that only ever runs one tenant's builds. */
export function unisolatedSandbox(workRoot: string): Sandbox {
  return {
    isolated: false,
    description:
      "NOT ISOLATED (--insecure-no-sandbox): builds run as the runner's own user, seeing its processes and files",
    limits: checkLimits({}),
    prepare: async (buildUuid) => new HostBuild(workRoot, buildUuid),
    close: async () => undefined,
    closeSync: () => undefined,
  };
}

/** Sandboxes made at once; more wait their turn. */
const PREPARE_CONCURRENCY = 4;

/** Runs at most `limit` of the functions given to it at once; the others wait, in order. */
export function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    // A finishing call hands its place straight to the next waiting one.
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

const SYSTEM_DIRS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/** How `/usr` and its neighbours look on this host: bound as they are, links kept as links. */
export function systemLayout(root = "/"): SystemEntry[] {
  const entries: SystemEntry[] = [];
  for (const name of SYSTEM_DIRS) {
    const full = path.join(root, name);
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(full);
    } catch {
      continue;
    }
    const entry = `/${name}`;
    if (stat.isSymbolicLink()) entries.push({ path: entry, kind: "symlink", target: readlinkSync(full) });
    else if (stat.isDirectory()) entries.push({ path: entry, kind: "dir" });
  }
  return entries;
}

/** Uids with a live process on this host (from /proc), so a uid in use elsewhere is never handed out. */
async function uidsInUse(): Promise<Set<number>> {
  const used = new Set<number>();
  const pids = (await readdir("/proc")).filter((entry) => /^\d+$/.test(entry));
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        const match = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
        if (match) for (const uid of match.slice(1)) used.add(Number(uid));
      } catch {
        // exited meanwhile
      }
    }),
  );
  return used;
}

/**
 * Picks the first uid of the range, going round from `from`, that no running build of this runner and no
 * process on the host holds. Going round rather than taking the lowest free one leaves a uid unused for as
 * long as the range allows, so that what the kernel keeps per uid (a user keyring) is not handed on at
 * once. Pure.
 */
export function pickUid(
  base: number,
  count: number,
  taken: ReadonlySet<number>,
  inUse: ReadonlySet<number>,
  from = base,
): number {
  for (let i = 0; i < count; i++) {
    const uid = base + ((from - base + i) % count);
    if (!taken.has(uid) && !inUse.has(uid)) return uid;
  }
  throw new Error(`no free build uid in ${base}-${base + count - 1}: raise --uid-count`);
}

/**
 * Checks that this host can isolate builds and returns the sandbox; throws `SandboxUnavailable` listing
 * every reason it cannot. Leftovers of a runner that died (mounts, namespaces, cgroups) are removed.
 */
export async function openSandbox(options: SandboxOptions): Promise<Sandbox> {
  const limits = checkLimits(options.limits ?? {});
  const uidBase = options.uidBase ?? 200_000;
  const uidCount = options.uidCount ?? 1000;
  if (!Number.isInteger(uidBase) || uidBase < 1000 || uidBase + uidCount > 2 ** 31) {
    throw new RangeError(`--uid-base must be an integer of at least 1000 (got ${uidBase})`);
  }
  if (!Number.isInteger(uidCount) || uidCount < 2) {
    throw new RangeError(`--uid-count must be an integer of at least 2 (got ${uidCount})`);
  }
  const problems: string[] = [];
  if (process.platform !== "linux")
    problems.push(`builds are isolated with Linux namespaces; this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    problems.push(
      "the runner must run as root to give each build its own uid, cgroup, disk and network namespace (the builds themselves never run as root)",
    );
  }
  const programs: Record<string, string> = {};
  for (const [program, pkg] of Object.entries(SANDBOX_PROGRAMS)) {
    const found = findProgram(program);
    if (found) programs[program] = found;
    else problems.push(`${program} is missing (Debian package ${pkg})`);
  }
  let layout: CgroupLayout | undefined;
  if (problems.length === 0) {
    const found = findCgroupLayout(
      readFileSync("/proc/self/cgroup", "utf8"),
      readFileSync("/proc/self/mountinfo", "utf8"),
    );
    if ("problem" in found) problems.push(`cgroups: ${found.problem}`);
    else {
      try {
        prepareCgroupParent(found);
        layout = found;
      } catch (error) {
        problems.push(`cgroups are not writable: ${(error as Error).message}`);
      }
    }
    if (!existsSync("/dev/loop-control"))
      problems.push("loop devices are not available (/dev/loop-control is missing)");
    try {
      mkdirSync(options.workRoot, { recursive: true, mode: 0o700 });
      const resolvConf = existsSync("/etc/resolv.conf") ? readFileSync("/etc/resolv.conf", "utf8") : "";
      await installNetworkPolicy(
        { slirpUid: uidBase, ...hostNetwork(resolvConf), allowed: options.allowNetworks ?? [] },
        options.workRoot,
      );
    } catch (error) {
      problems.push(
        `the builds' network filter (nftables) could not be installed: ${(error as Error).message}`,
      );
    }
  }
  // Whatever else is wrong, whether namespaces can be made is said too.
  if (programs.bwrap) {
    try {
      execFileSync(
        programs.bwrap,
        ["--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--", "/bin/true"],
        {
          env: { PATH: SYSTEM_PATH },
          stdio: ["ignore", "ignore", "pipe"],
          timeout: 10_000,
        },
      );
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? "").trim();
      problems.push(`bubblewrap cannot create namespaces here: ${stderr || (error as Error).message}`);
    }
  }
  if (problems.length > 0 || !layout) throw new SandboxUnavailable(problems);

  mkdirSync(options.workRoot, { recursive: true });
  chmodSync(options.workRoot, 0o700);
  await removeLeftovers(options.workRoot, layout);

  const system = systemLayout();
  const seccomp = seccompFilter();
  const taken = new Set<number>();
  // The range's first uid runs the builds' network; builds get the others.
  const buildUids = { base: uidBase + 1, count: uidCount - 1 };
  let nextUid = buildUids.base;
  const cgroupLayout = layout;
  const preparing = limiter(PREPARE_CONCURRENCY);
  const sandbox = {
    isolated: true,
    limits,
    close: () => removeNetworkPolicy(uidBase),
    closeSync: () => removeNetworkPolicySync(uidBase),
    description: `isolated: namespaces, an own uid (${buildUids.base}-${buildUids.base + buildUids.count - 1}), cgroup and network per build; ${describeLimits(limits)}`,
    prepare: (buildUuid: string, prepareOptions: PrepareOptions = {}) =>
      // A burst of builds makes their disks, cgroups and networks a few at a time, and a sandbox that
      // could not be made (a loop device taken meanwhile, a slow slirp4netns) is tried once more.
      preparing(() => sandbox.prepareOnce(buildUuid, prepareOptions)).catch(async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        return preparing(() => sandbox.prepareOnce(buildUuid, prepareOptions));
      }),
    async prepareOnce(buildUuid: string, prepareOptions: PrepareOptions): Promise<BuildSandbox> {
      const inUse = await uidsInUse();
      const uid = pickUid(buildUids.base, buildUids.count, taken, inUse, nextUid);
      taken.add(uid);
      nextUid = uid + 1 < buildUids.base + buildUids.count ? uid + 1 : buildUids.base;
      const jobDir = path.join(options.workRoot, buildUuid);
      const diskMount = path.join(jobDir, "fs");
      const diskImage = path.join(jobDir, "disk.img");
      const undo: (() => Promise<void> | void)[] = [() => rmSync(jobDir, { recursive: true, force: true })];
      try {
        mkdirSync(diskMount, { recursive: true, mode: 0o700 });
        chmodSync(jobDir, 0o700);
        undo.push(() => removeDisk(diskImage, diskMount));
        await createDisk({ image: diskImage, mountPoint: diskMount, sizeMb: limits.diskMb });
        const cgroup = BuildCgroup.create(cgroupLayout, buildUuid, limits);
        undo.push(() => cgroup.remove());
        const network = await BuildNetwork.create(netnsName(buildUuid), uidBase);
        undo.push(() => network.close());
        let apiForward: ApiForward | undefined;
        if (prepareOptions.cloudflareApiPort !== undefined) {
          // Run as the network's uid, like slirp4netns: never a build's.
          const forward = await ApiForward.start({
            port: prepareOptions.cloudflareApiPort,
            netnsPath: network.path,
            dir: path.join(jobDir, "api"),
            uid: uidBase,
            setpriv: programs.setpriv as string,
            nsenter: programs.nsenter as string,
            label: buildUuid,
          });
          undo.push(() => forward.close());
          apiForward = forward;
        }
        return new IsolatedBuild({
          buildUuid,
          jobDir,
          uid,
          gid: uid,
          system,
          cgroup,
          network,
          diskMount,
          diskImage,
          diskMb: limits.diskMb,
          seccomp,
          bwrap: programs.bwrap as string,
          nsenter: programs.nsenter as string,
          setpriv: programs.setpriv as string,
          apiForward,
          release: () => taken.delete(uid),
        });
      } catch (error) {
        for (const step of undo.reverse())
          await Promise.resolve()
            .then(step)
            .catch(() => undefined);
        taken.delete(uid);
        throw error;
      }
    },
  };
  return sandbox;
}

/**
 * Removes what the builds of a runner that was killed left in `workRoot` (mounts, network namespaces,
 * cgroups, folders). The runner does it itself at start; a supervisor may call it once the runner is gone.
 */
export async function removeSandboxLeftovers(workRoot: string): Promise<void> {
  if (!existsSync(workRoot)) return;
  const found = findCgroupLayout(
    readFileSync("/proc/self/cgroup", "utf8"),
    readFileSync("/proc/self/mountinfo", "utf8"),
  );
  await removeLeftovers(workRoot, "problem" in found ? undefined : found);
}

async function removeLeftovers(workRoot: string, layout: CgroupLayout | undefined): Promise<void> {
  for (const name of readdirSync(workRoot)) {
    const jobDir = path.join(workRoot, name);
    await removeDisk(path.join(jobDir, "disk.img"), path.join(jobDir, "fs")).catch(() => undefined);
    await removeNetns(netnsName(name)).catch(() => undefined);
    if (layout && /^[A-Za-z0-9_-]+$/.test(name)) {
      await BuildCgroup.open(layout, name)
        ?.remove()
        .catch(() => undefined);
    }
    rmSync(jobDir, { recursive: true, force: true });
  }
}
