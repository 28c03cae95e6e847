import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inject } from "vitest";
import { packageRoot } from "../../components/package-root";
import { acquireDirLock } from "../../local/dir-lock";
import { commandOf, descendants } from "../processes";

/** The versions of the peers this repository pins, which a consumer installs beside the package. */
export function pinnedPeers(): Record<string, string> {
  const own = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  };
  return {
    "@pulumi/pulumi": own.devDependencies["@pulumi/pulumi"] as string,
    "@pulumi/cloudflare": own.devDependencies["@pulumi/cloudflare"] as string,
  };
}

/**
 * The tarball of this repository for a package test: the one `npm test` packs once in the background
 * (test/package-global-setup.ts), waited for; else packed here. Its folder is removed by the global
 * setup's teardown, or by `removeAll(path.dirname(tarball))` when packed here (`ownTarball`).
 */
export async function sharedTarball(): Promise<{ tarball: string; ownTarball: boolean }> {
  const dir = inject("packDir");
  if (!dir) return { tarball: await packedInTurn(), ownTarball: true };
  const deadline = Date.now() + 300_000;
  while (!existsSync(path.join(dir, "status"))) {
    if (Date.now() > deadline) throw new Error(`npm pack into ${dir} did not finish in 5 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const status = readFileSync(path.join(dir, "status"), "utf8").trim();
  if (status !== "0") {
    throw new Error(`npm pack failed (${status}):\n${readFileSync(path.join(dir, "pack.err"), "utf8")}`);
  }
  const [packed] = JSON.parse(readFileSync(path.join(dir, "pack.json"), "utf8")) as { filename: string }[];
  if (!packed) throw new Error("npm pack printed no file");
  return { tarball: path.join(dir, packed.filename), ownTarball: false };
}

/**
 * `packPackage`, one test file at a time: each pack rebuilds dist/ in this repository, so package test
 * files run together without `npm test`'s shared pack take turns (a lock folder, freed if its holder died).
 */
async function packedInTurn(): Promise<string> {
  return inPackTurn(packPackage);
}

/** Runs `work` while no other package test file rebuilds dist/ (see `packedInTurn`). */
export async function inPackTurn<T>(work: () => T): Promise<T> {
  const lock = path.join(packageRoot(), "node_modules", ".cache", "wp-pack.lock");
  mkdirSync(path.dirname(lock), { recursive: true });
  const release = await acquireDirLock(lock, 600_000);
  try {
    return work();
  } finally {
    release();
  }
}

/** `npm pack` of this repository (its `prepack` builds dist/) into a new temp folder; the tarball's path. */
export function packPackage(): string {
  const out = mkdtempSync(path.join(tmpdir(), "wp-pack-"));
  const printed = execFileSync("npm", ["pack", "--json", "--pack-destination", out], {
    cwd: packageRoot(),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [packed] = JSON.parse(printed) as { filename: string }[];
  if (!packed) throw new Error(`npm pack printed no file: ${printed}`);
  return path.join(out, packed.filename);
}

/** The files a tarball holds, package-relative. */
export function tarballFiles(tarball: string): string[] {
  return execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ""));
}

/**
 * Installs into `dir` what its package.json lists, with `dependencies` replacing the entries of the same
 * name (the tarball by `file:` among them), from npm's cache when it has the versions, as a user's
 * `npm install` would.
 */
export function npmInstall(dir: string, dependencies: Record<string, string>): Promise<void> {
  const file = path.join(dir, "package.json");
  const manifest = JSON.parse(readFileSync(file, "utf8")) as { dependencies?: Record<string, string> };
  const merged = { ...manifest, dependencies: { ...manifest.dependencies, ...dependencies } };
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`npm install in ${dir} failed (${code}):\n${stderr}`)),
    );
  });
}

/** Runs the installed package's command in `cwd`, as `npx workers-platform` would. */
export function runCommand(
  project: string,
  args: string[],
  cwd: string = project,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(path.join(project, "node_modules", ".bin", "workers-platform"), args, {
    cwd,
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A running `workers-platform start`, its output so far, and a way to stop it and wait for its exit. */
export interface StartedCommand {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `workers-platform start …` in `project` and resolves once it reports ready. */
export async function startCommand(project: string, args: string[]): Promise<StartedCommand> {
  const child = spawn(path.join(project, "node_modules", ".bin", "workers-platform"), ["start", ...args], {
    cwd: project,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  const deadline = Date.now() + 90_000;
  while (!/ready in/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`workers-platform start did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output, stop };
}

/** The command names of the live processes below `root`. */
export function descendantCommands(root: number): string[] {
  return descendants(root)
    .map(commandOf)
    .filter((name): name is string => name !== null);
}

/** Removes folders, ignoring what is already gone. */
export function removeAll(...dirs: (string | undefined)[]): void {
  for (const dir of dirs) if (dir) rmSync(dir, { recursive: true, force: true });
}
