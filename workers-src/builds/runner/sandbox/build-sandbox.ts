/**
 * Where one build's processes run. `BuildSandbox` is the interface the build uses; `IsolatedBuild` is the
 * real one (namespaces, own uid, cgroup, disk and network), `HostBuild` the unisolated one a single-tenant
 * host may choose.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type Launcher, processGroupLauncher } from "../process";
import type { Workspace } from "../workspace";
import { workspaceFor } from "../workspace";
import type { ApiForward } from "./api-forward";
import { type Bind, bwrapArgs, encodeArgs, type SystemEntry } from "./bwrap";
import type { BuildCgroup } from "./cgroup";
import { diskAvailable, removeDisk } from "./disk";
import { SYSTEM_PATH } from "./host-tools";
import type { LimitBreach } from "./limits";
import type { BuildNetwork } from "./network";

/** What one step of a build needs beyond the workspace. */
export interface StepAccess {
  binds?: Bind[];
}

/** A file handed between the runner and the build (the build cache's archive). */
export interface Handover {
  /** Where the runner reads or writes it. */
  hostFile: string;
  /** Where the build's process sees it. */
  sandboxFile: string;
  /** What the step that uses it must bind. */
  access: StepAccess;
}

export interface RepoAccess {
  /** The URL the clone fetches from. */
  url: string;
  access: StepAccess;
  /** More environment for git. */
  env: Record<string, string>;
}

export interface BuildSandbox {
  /** The workspace as the build's processes see it. */
  readonly workspace: Workspace;
  /** A path of the workspace as the runner sees it, for checks it makes before running anything there. */
  hostPath(sandboxPath: string): string;
  /** What the sandbox is, for the build's log. */
  readonly description: string;
  /** How a process of this build is started; `access` adds what that one step needs. */
  launcher(access?: StepAccess): Launcher;
  /** How the clone reaches the repository. */
  repoAccess(repoUrl: string): RepoAccess;
  /** The archive the cache is restored from (the runner writes it, the build reads it). */
  cacheInput(): Handover;
  /** The archive the cache is saved to (the build writes it, the runner reads it). */
  cacheOutput(): Handover;
  /** The first limit the build went over, if any. */
  breach(): LimitBreach | undefined;
  /** Kills what is left and removes everything the build had. */
  dispose(): Promise<void>;
}

/** Builds run as the runner, in folders under its work root: only for a single-tenant host. */
export class HostBuild implements BuildSandbox {
  readonly workspace: Workspace;
  readonly description = "none: the runner was started with --insecure-no-sandbox";

  constructor(workRoot: string, buildUuid: string) {
    this.workspace = workspaceFor(workRoot, buildUuid);
    rmSync(this.workspace.workDir, { recursive: true, force: true });
    for (const dir of [
      this.workspace.repoDir,
      this.workspace.cacheDir,
      this.workspace.homeDir,
      this.workspace.tmpDir,
    ])
      mkdirSync(dir, { recursive: true });
  }

  hostPath(sandboxPath: string): string {
    return sandboxPath;
  }

  launcher(): Launcher {
    return processGroupLauncher;
  }

  repoAccess(repoUrl: string): RepoAccess {
    return { url: repoUrl, access: {}, env: {} };
  }

  cacheInput(): Handover {
    const file = path.join(this.workspace.workDir, "cache-restore.tar.gz");
    return { hostFile: file, sandboxFile: file, access: {} };
  }

  cacheOutput(): Handover {
    const file = path.join(this.workspace.workDir, "cache-save.tar.gz");
    return { hostFile: file, sandboxFile: file, access: {} };
  }

  breach(): undefined {
    return undefined;
  }

  async dispose(): Promise<void> {
    rmSync(this.workspace.workDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** The folder every build sees its workspace in. */
export const SANDBOX_ROOT = "/build";
const CACHE_IN = "/run/build-in/cache.tar.gz";
const CACHE_OUT = "/run/build-out/cache.tar.gz";
const REPO_MOUNT = "/run/repo.git";
const GITCONFIG = "/run/gitconfig";

export interface IsolatedBuildParts {
  buildUuid: string;
  /** `<work root>/<build uuid>`: the runner's own folder for the build (root only). */
  jobDir: string;
  uid: number;
  gid: number;
  system: readonly SystemEntry[];
  cgroup: BuildCgroup;
  network: BuildNetwork;
  /** Where the workspace's disk is mounted on the host. */
  diskMount: string;
  diskImage: string;
  diskMb: number;
  /** The system call filter every process of the build runs under (none on other architectures). */
  seccomp: Buffer | undefined;
  bwrap: string;
  nsenter: string;
  setpriv: string;
  /** The host's loopback port the build reaches (the Cloudflare API stand-in's), when it has one. */
  apiForward?: ApiForward;
  /** Called once everything is removed, to give the uid back. */
  release: () => void;
}

/** A build in its own namespaces, as its own unprivileged user, inside its own cgroup, disk and network. */
export class IsolatedBuild implements BuildSandbox {
  readonly workspace = workspaceFor(path.dirname(SANDBOX_ROOT), path.basename(SANDBOX_ROOT));
  readonly description: string;
  private readonly etcFiles: { source: string; target: string }[];
  /** Each step's first process in its sandbox: its PID namespace's init, whose death ends the namespace. */
  private readonly inits = new WeakMap<ChildProcess, number>();
  private disposed = false;

  constructor(private readonly parts: IsolatedBuildParts) {
    const { jobDir, uid, gid } = parts;
    this.description = `namespaces (pid, mount, network, ipc, uts), uid ${uid}, ${parts.diskMb} MiB disk, ${parts.seccomp ? "system call filter" : `no system call filter on ${process.arch}`}${parts.apiForward ? `, the Cloudflare API at 127.0.0.1:${parts.apiForward.port}` : ""}`;
    const etc = path.join(jobDir, "etc");
    mkdirSync(etc, { mode: 0o755 });
    const files: Record<string, string> = {
      passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nbuild:x:${uid}:${gid}:build:${this.workspace.homeDir}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      group: `root:x:0:\nbuild:x:${gid}:\nnogroup:x:65534:\n`,
      hosts: "127.0.0.1\tlocalhost build\n::1\tlocalhost build\n",
      "resolv.conf": "nameserver 10.0.2.3\n",
    };
    this.etcFiles = Object.entries(files).map(([name, content]) => {
      const source = path.join(etc, name);
      writeFileSync(source, content, { mode: 0o644 });
      return { source, target: `/etc/${name}` };
    });
    // Made by the runner on the build's fresh disk, before any of the build's processes runs.
    const ws = this.workspace;
    for (const dir of [ws.repoDir, ws.cacheDir, ws.homeDir, ws.tmpDir]) {
      const hostDir = this.hostPath(dir);
      mkdirSync(hostDir, { recursive: true, mode: 0o700 });
      chownSync(hostDir, uid, gid);
    }
  }

  hostPath(sandboxPath: string): string {
    const relative = path.relative(SANDBOX_ROOT, sandboxPath);
    if (relative.startsWith("..") || path.isAbsolute(relative)) {
      throw new Error(`${sandboxPath} is not in the build's workspace`);
    }
    return path.join(this.parts.diskMount, relative);
  }

  launcher(access: StepAccess = {}): Launcher {
    const { parts } = this;
    const binds: Bind[] = [
      { source: parts.diskMount, target: SANDBOX_ROOT, writable: true },
      { source: path.join(parts.diskMount, "tmp"), target: "/tmp", writable: true },
      ...(access.binds ?? []),
    ];
    return {
      spawn: (argv, cwd, env) => {
        const { options, command, script } = bwrapArgs({
          argv,
          cwd,
          env,
          uid: parts.uid,
          gid: parts.gid,
          system: parts.system,
          etcFiles: this.etcFiles,
          binds,
          infoFd: 4,
          blockFd: 5,
          stepFd: 6,
          seccompFd: parts.seccomp ? 7 : undefined,
        });
        // setpriv ties bwrap's life to the runner's: if the runner dies, the sandbox dies with it.
        const child = spawn(
          parts.setpriv,
          [
            "--pdeathsig=SIGKILL",
            "--",
            parts.nsenter,
            `--net=${parts.network.path}`,
            parts.bwrap,
            "--args",
            "3",
            "--",
            ...command,
          ],
          {
            env: { PATH: SYSTEM_PATH },
            stdio: [
              "ignore",
              "pipe",
              "pipe",
              "pipe",
              "pipe",
              "pipe",
              "pipe",
              parts.seccomp ? "pipe" : "ignore",
            ],
          },
        );
        const stdio = child.stdio as unknown as (Readable | Writable | null)[];
        // bwrap closes these descriptors when it is done with them; that is no error of the build's.
        for (const stream of stdio.slice(3)) stream?.on("error", () => undefined);
        (stdio[3] as Writable).end(encodeArgs(options));
        (stdio[6] as Writable).end(script);
        if (parts.seccomp) (stdio[7] as Writable).end(parts.seccomp);
        this.admit(child).catch((error: Error) => {
          child.kill("SIGKILL");
          child.emit("error", new Error(`the sandbox could not start: ${error.message}`));
        });
        return child;
      },
      signal: (child, signal) => {
        const init = this.inits.get(child);
        const outside = child.exitCode === null && child.signalCode === null;
        // Killing the namespace's init takes every process in it at once, however fast they fork.
        if (signal === "SIGKILL" && init !== undefined) killQuietly(init, "SIGKILL");
        const inside = parts.cgroup.signalAll(signal);
        // Before the step is in its cgroup (bwrap still holds it), ending bwrap ends it.
        if (outside && signal !== 0 && (init === undefined || signal === "SIGKILL")) child.kill(signal);
        return inside || outside;
      },
    };
  }

  /** Puts the sandbox's first process into the build's cgroup while bwrap holds it, then lets it go on. */
  private async admit(child: ChildProcess): Promise<void> {
    const stdio = child.stdio as unknown as (Readable | Writable | null)[];
    const info = stdio[4] as Readable;
    const block = stdio[5] as Writable;
    let text = "";
    const pid = await new Promise<number>((resolve, reject) => {
      const onExit = () => reject(new Error("bwrap exited before the sandbox started"));
      child.once("exit", onExit);
      child.once("error", reject);
      info.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
        if (match) {
          child.off("exit", onExit);
          resolve(Number(match[1]));
        }
      });
    });
    // bwrap may still write to it: reading on (and dropping) keeps it from a broken pipe.
    info.removeAllListeners("data");
    info.resume();
    await this.parts.cgroup.join(pid);
    this.inits.set(child, pid);
    block.end("1");
  }

  repoAccess(repoUrl: string): RepoAccess {
    if (!repoUrl.startsWith("file:///")) return { url: repoUrl, access: {}, env: {} };
    const gitconfig = path.join(this.parts.jobDir, "gitconfig");
    // The local repository belongs to another user; git checks that before serving it.
    writeFileSync(gitconfig, "[safe]\n\tdirectory = *\n", { mode: 0o644 });
    return {
      url: `file://${REPO_MOUNT}`,
      access: {
        binds: [
          // A repository that does not exist is for git to report, as it would be on any runner.
          { source: fileURLToPath(repoUrl), target: REPO_MOUNT, writable: false, optional: true },
          { source: gitconfig, target: GITCONFIG, writable: false },
        ],
      },
      env: { GIT_CONFIG_GLOBAL: GITCONFIG },
    };
  }

  cacheInput(): Handover {
    const dir = path.join(this.parts.jobDir, "in");
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const hostFile = path.join(dir, "cache.tar.gz");
    return {
      hostFile,
      sandboxFile: CACHE_IN,
      access: { binds: [{ source: hostFile, target: CACHE_IN, writable: false }] },
    };
  }

  cacheOutput(): Handover {
    // The file sits in a folder only root may change, so the build can write into it but never swap it for
    // a link to another of the host's files.
    const dir = path.join(this.parts.jobDir, "out");
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const hostFile = path.join(dir, "cache.tar.gz");
    writeFileSync(hostFile, "", { mode: 0o600 });
    chownSync(hostFile, this.parts.uid, this.parts.gid);
    return {
      hostFile,
      sandboxFile: CACHE_OUT,
      access: { binds: [{ source: hostFile, target: CACHE_OUT, writable: true }] },
    };
  }

  breach(): LimitBreach | undefined {
    const found = this.parts.cgroup.breach();
    if (found) return found;
    try {
      // Full to the last few blocks: a write has failed or is about to.
      if (diskAvailable(this.parts.diskMount) < 64 * 1024) {
        return { limit: "diskMb", message: `it filled its disk limit of ${this.parts.diskMb} MiB` };
      }
    } catch {
      // unmounted already
    }
    return undefined;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const { parts } = this;
    // Nothing else is removed while a process of the build may be alive: a runner that starts on this work
    // root later removes what is left.
    try {
      await parts.cgroup.remove();
    } catch (error) {
      throw new Error(`could not remove the build's sandbox: ${(error as Error).message}`);
    }
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    // Before the namespace goes: the forwarder is its last process.
    await attempt("Cloudflare API forward", () => parts.apiForward?.close());
    await attempt("network", () => parts.network.close());
    await attempt("disk", () => removeDisk(parts.diskImage, parts.diskMount));
    await attempt("folder", () => rmSync(parts.jobDir, { recursive: true, force: true, maxRetries: 3 }));
    // No process of the build is left: its uid may go to another build.
    parts.release();
    if (problems.length > 0) throw new Error(`could not remove the build's sandbox: ${problems.join("; ")}`);
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}
