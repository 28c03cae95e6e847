/**
 * A control group per build: memory, process count and CPU limits, usage counters, and a way to kill
 * every process of the build at once. Works on cgroup v1 (a hierarchy per controller) and on cgroup v2
 * (one unified hierarchy), found from the runner's own `/proc/self/cgroup` and mount table.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_LIMITS, type LimitBreach, type SandboxLimits } from "./limits";

const V1_CONTROLLERS = ["memory", "pids", "cpu", "cpuacct"] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

export type CgroupLayout =
  | { version: 1; dirs: Record<V1Controller, string> }
  | {
      version: 2;
      /** The runner's own cgroup; builds go under `<dir>/workers-builds`. */
      dir: string;
    };

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function parseMountinfo(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fsType = "", , superOptions = ""] = right.split(" ");
    mounts.push({
      root: unescapeMount(fields[3] ?? ""),
      mountPoint: unescapeMount(fields[4] ?? ""),
      fsType,
      superOptions: superOptions.split(","),
    });
  }
  return mounts;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Where the runner's own cgroups are, or why builds cannot have theirs. Pure: given the two files' text. */
export function findCgroupLayout(
  procSelfCgroup: string,
  mountinfo: string,
): CgroupLayout | { problem: string } {
  const own = new Map<string, string>();
  let unifiedPath: string | undefined;
  for (const line of procSelfCgroup.split("\n")) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers = "", cgroupPath = "/"] = match;
    if (id === "0" && controllers === "") unifiedPath = cgroupPath;
    for (const controller of controllers.split(",")) if (controller) own.set(controller, cgroupPath);
  }
  const mounts = parseMountinfo(mountinfo);
  const v1 = mounts.filter((m) => m.fsType === "cgroup");
  if (v1.some((m) => m.superOptions.includes("memory"))) {
    const dirs = {} as Record<V1Controller, string>;
    for (const controller of V1_CONTROLLERS) {
      const mount = v1.find((m) => m.superOptions.includes(controller));
      const cgroupPath = own.get(controller);
      if (!mount || cgroupPath === undefined) {
        return { problem: `the cgroup v1 controller "${controller}" is not mounted` };
      }
      dirs[controller] = path.join(mount.mountPoint, path.relative(mount.root, cgroupPath));
    }
    return { version: 1, dirs };
  }
  const v2 = mounts.find((m) => m.fsType === "cgroup2");
  if (v2 && unifiedPath !== undefined) {
    return { version: 2, dir: path.join(v2.mountPoint, path.relative(v2.root, unifiedPath)) };
  }
  return { problem: "no cgroup hierarchy with the memory controller is mounted" };
}

/** Reads `key value` lines (memory.events, pids.events, cpu.stat, memory.oom_control). */
export function readKeyed(text: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) values[key] = Number(value);
  }
  return values;
}

/** One build's control group(s): created with its limits, removed once its processes are gone. */
export class BuildCgroup {
  private constructor(
    private readonly version: 1 | 2,
    /** The build's folder per controller (on v2 the same folder for all). */
    private readonly dirOf: Record<V1Controller, string>,
    private readonly limits: SandboxLimits,
  ) {}

  /** The folder under which a runner's builds get their cgroups. */
  static readonly PARENT = "workers-builds";

  static create(layout: CgroupLayout, name: string, limits: SandboxLimits): BuildCgroup {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`invalid cgroup name ${JSON.stringify(name)}`);
    const memory = String(limits.memoryMb * 1024 * 1024);
    const quota = String(Math.round(limits.cpus * 100_000));
    const dirOf = BuildCgroup.dirsFor(layout, name);
    for (const dir of Object.values(dirOf)) mkdirSync(dir, { recursive: true });
    const cgroup = new BuildCgroup(layout.version, dirOf, limits);
    try {
      cgroup.applyLimits(memory, quota);
    } catch (error) {
      // Made but not limited: removed at once, so that nothing is left when the build's start fails.
      for (const dir of cgroup.dirs) rmdirSync(dir);
      throw error;
    }
    return cgroup;
  }

  /** The cgroup a build of a runner that died left behind, if there is one (to remove it). */
  static open(layout: CgroupLayout, name: string): BuildCgroup | undefined {
    const dirOf = BuildCgroup.dirsFor(layout, name);
    if (!Object.values(dirOf).some((dir) => existsSync(dir))) return undefined;
    return new BuildCgroup(layout.version, dirOf, { ...DEFAULT_LIMITS });
  }

  private static dirsFor(layout: CgroupLayout, name: string): Record<V1Controller, string> {
    const dirOf = {} as Record<V1Controller, string>;
    for (const controller of V1_CONTROLLERS) {
      const base = layout.version === 1 ? layout.dirs[controller] : layout.dir;
      dirOf[controller] = path.join(base, BuildCgroup.PARENT, name);
    }
    return dirOf;
  }

  private applyLimits(memory: string, quota: string): void {
    const { dirOf, limits } = this;
    if (this.version === 1) {
      this.write("memory", "memory.limit_in_bytes", memory);
      // With swap accounting, memory + swap gets the same limit: swap is no way around it.
      writeOptional(path.join(dirOf.memory, "memory.memsw.limit_in_bytes"), memory);
      this.write("pids", "pids.max", String(limits.pids));
      this.write("cpu", "cpu.cfs_period_us", "100000");
      this.write("cpu", "cpu.cfs_quota_us", quota);
    } else {
      this.write("memory", "memory.max", memory);
      writeOptional(path.join(dirOf.memory, "memory.swap.max"), "0");
      this.write("pids", "pids.max", String(limits.pids));
      this.write("cpu", "cpu.max", `${quota} 100000`);
    }
  }

  private write(controller: V1Controller, file: string, value: string): void {
    writeFileSync(path.join(this.dirOf[controller], file), value);
  }

  private read(controller: V1Controller, file: string): string {
    try {
      return readFileSync(path.join(this.dirOf[controller], file), "utf8");
    } catch {
      return "";
    }
  }

  private get dirs(): string[] {
    return [...new Set(Object.values(this.dirOf))];
  }

  /** Puts a process (before it starts any other) into the build's cgroup(s). */
  /**
   * Moving a process between cgroups can wait for the kernel (an RCU grace period on v1, milliseconds):
   * done off the event loop, so that a runner starting many steps keeps answering.
   */
  async join(pid: number): Promise<void> {
    await Promise.all(this.dirs.map((dir) => writeFile(path.join(dir, "cgroup.procs"), String(pid))));
  }

  /** CPU time used by all the build's processes so far. */
  cpuSeconds(): number {
    if (this.version === 2) return (readKeyed(this.read("cpu", "cpu.stat")).usage_usec ?? 0) / 1e6;
    return Number(this.read("cpuacct", "cpuacct.usage").trim() || 0) / 1e9;
  }

  /** The first limit the build went over, if any. */
  breach(): LimitBreach | undefined {
    const oomKills = readKeyed(
      this.read("memory", this.version === 2 ? "memory.events" : "memory.oom_control"),
    ).oom_kill;
    if ((oomKills ?? 0) > 0) {
      return {
        limit: "memoryMb",
        message: `it went over its memory limit of ${this.limits.memoryMb} MiB (a process was killed for lack of memory)`,
      };
    }
    if ((readKeyed(this.read("pids", "pids.events")).max ?? 0) > 0) {
      return {
        limit: "pids",
        message: `it reached its limit of ${this.limits.pids} processes and threads (a new one was refused)`,
      };
    }
    const cpu = this.cpuSeconds();
    if (cpu > this.limits.cpuSeconds) {
      return {
        limit: "cpuSeconds",
        message: `it used ${cpu.toFixed(1)} s of CPU time, over its limit of ${this.limits.cpuSeconds} s`,
      };
    }
    return undefined;
  }

  /** Ids of the processes in the build's cgroup. */
  pids(): number[] {
    return this.read("memory", "cgroup.procs")
      .split("\n")
      .filter((line) => /^\d+$/.test(line))
      .map(Number);
  }

  /** Sends `signal` to every process of the build; true while any was there to signal. */
  signalAll(signal: NodeJS.Signals | 0): boolean {
    if (signal === "SIGKILL" && this.version === 2)
      writeOptional(path.join(this.dirOf.memory, "cgroup.kill"), "1");
    let any = false;
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
        any = true;
      } catch {
        // gone already
      }
    }
    return any;
  }

  /** Kills whatever is left and removes the cgroup(s). Resolves once they are gone (or throws after ~5 s). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      this.signalAll("SIGKILL");
      let left = 0;
      for (const dir of this.dirs) {
        try {
          await rmdir(dir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") left++;
        }
      }
      if (left === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`could not remove the build's cgroup ${this.dirs.join(", ")}: processes are still in it`);
  }
}

/** Writes a control file that not every kernel has; false when it is missing. */
function writeOptional(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EINVAL" || code === "EOPNOTSUPP") return false;
    throw error;
  }
}

/**
 * On cgroup v2 the runner's own cgroup cannot both hold processes and hand controllers to children: the
 * runner moves itself into a `runner` leaf and enables memory, pids and cpu for its subtree (and for the
 * builds' parent). On v1 nothing is needed.
 */
export function prepareCgroupParent(layout: CgroupLayout): void {
  if (layout.version === 1) {
    for (const controller of V1_CONTROLLERS)
      mkdirSync(path.join(layout.dirs[controller], BuildCgroup.PARENT), { recursive: true });
    return;
  }
  const procs = readFileSync(path.join(layout.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
  if (procs.length > 0) {
    const leaf = path.join(layout.dir, "runner");
    mkdirSync(leaf, { recursive: true });
    for (const pid of procs) writeOptional(path.join(leaf, "cgroup.procs"), pid);
  }
  writeFileSync(path.join(layout.dir, "cgroup.subtree_control"), "+memory +pids +cpu");
  const parent = path.join(layout.dir, BuildCgroup.PARENT);
  mkdirSync(parent, { recursive: true });
  writeFileSync(path.join(parent, "cgroup.subtree_control"), "+memory +pids +cpu");
}
