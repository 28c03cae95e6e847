import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildCgroup, findCgroupLayout, readKeyed } from "./cgroup";
import { checkLimits } from "./limits";

const V1_MOUNTS = [
  "30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
  "33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
  "35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");
const V1_SELF = "8:pids:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n";

describe("findCgroupLayout", () => {
  const cases: { name: string; self: string; mounts: string; expected: unknown }[] = [
    {
      name: "cgroup v1, one hierarchy per controller, the runner in a memory sub-group",
      self: V1_SELF,
      mounts: V1_MOUNTS,
      expected: {
        version: 1,
        dirs: {
          memory: "/sys/fs/cgroup/memory/process_api/abc",
          pids: "/sys/fs/cgroup/pids",
          cpu: "/sys/fs/cgroup/cpu",
          cpuacct: "/sys/fs/cgroup/cpuacct",
        },
      },
    },
    {
      name: "cgroup v1 with cpu and cpuacct mounted together",
      self: "5:cpu,cpuacct:/runner\n4:memory:/runner\n3:pids:/runner\n",
      mounts: [
        "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
        "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
        "34 30 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
      ].join("\n"),
      expected: {
        version: 1,
        dirs: {
          memory: "/sys/fs/cgroup/memory/runner",
          pids: "/sys/fs/cgroup/pids/runner",
          cpu: "/sys/fs/cgroup/cpu,cpuacct/runner",
          cpuacct: "/sys/fs/cgroup/cpu,cpuacct/runner",
        },
      },
    },
    {
      name: "cgroup v2 (a container's own cgroup namespace: the mount's root is the runner's cgroup)",
      self: "0::/\n",
      mounts: "40 30 0:40 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
      expected: { version: 2, dir: "/sys/fs/cgroup" },
    },
    {
      name: "cgroup v2 on a host, under a systemd service",
      self: "0::/system.slice/runner.service\n",
      mounts: "40 30 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
      expected: { version: 2, dir: "/sys/fs/cgroup/system.slice/runner.service" },
    },
    {
      name: "v1 without the pids controller",
      self: "4:memory:/\n1:cpu:/\n2:cpuacct:/\n",
      mounts: V1_MOUNTS.split("\n")
        .filter((l) => !l.includes("pids"))
        .join("\n"),
      expected: { problem: 'the cgroup v1 controller "pids" is not mounted' },
    },
    {
      name: "no cgroup file system at all",
      self: "",
      mounts: "22 1 0:21 / /proc rw - proc proc rw",
      expected: { problem: "no cgroup hierarchy with the memory controller is mounted" },
    },
  ];
  it.each(cases)("$name", ({ self, mounts, expected }) => {
    expect(findCgroupLayout(self, mounts)).toEqual(expected);
  });
});

describe("readKeyed", () => {
  it("reads the counters of memory.oom_control, pids.events and cpu.stat", () => {
    expect(readKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")).toEqual({
      oom_kill_disable: 0,
      under_oom: 0,
      oom_kill: 2,
    });
    expect(readKeyed("max 17")).toEqual({ max: 17 });
    expect(readKeyed("usage_usec 1500000\nuser_usec 1\nnot a number x")).toEqual({
      usage_usec: 1_500_000,
      user_usec: 1,
    });
  });
});

describe("BuildCgroup on cgroup v2 (the control files as folders and files, as cgroupfs shows them)", () => {
  const root = mkdtempSync(path.join(tmpdir(), "cgroup-v2-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const limits = checkLimits({ memoryMb: 512, pids: 100, cpus: 1.5, cpuSeconds: 10 });

  it("writes the limits into the build's cgroup and reads its counters", () => {
    const cgroup = BuildCgroup.create({ version: 2, dir: root }, "build-1", limits);
    const dir = path.join(root, "workers-builds", "build-1");
    const read = (file: string) => readFileSync(path.join(dir, file), "utf8");
    expect([read("memory.max"), read("memory.swap.max"), read("pids.max"), read("cpu.max")]).toEqual([
      String(512 * 1024 * 1024),
      "0",
      "100",
      "150000 100000",
    ]);
    expect(cgroup.breach()).toBeUndefined();
    writeFileSync(path.join(dir, "cpu.stat"), "usage_usec 12500000\n");
    expect(cgroup.breach()).toEqual({
      limit: "cpuSeconds",
      message: "it used 12.5 s of CPU time, over its limit of 10 s",
    });
    writeFileSync(path.join(dir, "pids.events"), "max 3\n");
    expect(cgroup.breach()?.limit).toBe("pids");
    writeFileSync(path.join(dir, "memory.events"), "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
    expect(cgroup.breach()).toEqual({
      limit: "memoryMb",
      message: "it went over its memory limit of 512 MiB (a process was killed for lack of memory)",
    });
  });

  it("refuses a name that could leave the builds' folder", () => {
    mkdirSync(path.join(root, "x"), { recursive: true });
    expect(() => BuildCgroup.create({ version: 2, dir: root }, "../x", limits)).toThrow(
      /invalid cgroup name/,
    );
  });
});
