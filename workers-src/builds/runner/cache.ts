import { type Dirent, lstatSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { CallbackClient } from "./callback";
import { errorMessage } from "./callback";
import { describeExit } from "./git";
import type { ProcessResult } from "./process";
import type { Handover, StepAccess } from "./sandbox";

/** A larger archive is not uploaded: it would cost more to move than it saves. */
export const MAX_CACHE_ARCHIVE_BYTES = 512 * 1024 * 1024;

/**
 * Environment that points every common package manager's download cache into `cacheDir`, so that one
 * folder holds all there is to save and restore; npm takes what its cache holds without asking the
 * registry whether it is still fresh (a lockfile pins the versions anyway).
 */
export function cacheEnv(cacheDir: string): Record<string, string> {
  return {
    npm_config_cache: path.join(cacheDir, "npm"),
    npm_config_prefer_offline: "true",
    YARN_CACHE_FOLDER: path.join(cacheDir, "yarn"),
    PNPM_STORE_DIR: path.join(cacheDir, "pnpm-store"),
    BUN_INSTALL_CACHE_DIR: path.join(cacheDir, "bun"),
  };
}

export interface CacheContext {
  client: Pick<CallbackClient, "downloadCache" | "uploadCache">;
  /** The folder {@link cacheEnv} points into, as the build's processes see it. */
  cacheDir: string;
  /** The folder as the runner sees it. */
  hostCacheDir: string;
  /** The archive to restore from, as the runner and the build see it. */
  input: () => Handover;
  /** The archive to save to. */
  output: () => Handover;
  /** Runs `tar` where the build runs (killable along with the build). */
  exec: (argv: string[], cwd: string, access: StepAccess) => Promise<ProcessResult>;
  log: (line: string) => void;
  /** Largest archive saved. @default MAX_CACHE_ARCHIVE_BYTES */
  maxArchiveBytes?: number;
  /** Stops a transfer when the build is cancelled or times out. */
  signal?: AbortSignal;
}

/** Fills `cacheDir` from the build cache, if there is one. Never throws: a cache is only an optimisation. */
export async function restoreCache(context: CacheContext): Promise<void> {
  const archive = context.input();
  try {
    if (!(await context.client.downloadCache(archive.hostFile, context.signal))) {
      context.log("No build cache yet; building without one");
      return;
    }
    const size = statSync(archive.hostFile).size;
    const result = await context.exec(
      ["tar", "-xzf", archive.sandboxFile, "--no-same-owner", "-C", context.cacheDir],
      context.cacheDir,
      archive.access,
    );
    if (result.code !== 0) throw new Error(`tar -xzf failed (${describeExit(result)})`);
    context.log(`Restored the build cache (${formatBytes(size)})`);
  } catch (error) {
    context.log(`Warning: could not restore the build cache, building without it: ${errorMessage(error)}`);
  } finally {
    rmSync(archive.hostFile, { force: true });
  }
}

/** Uploads `cacheDir` as the build cache, unless it is empty. Never throws. */
export async function saveCache(context: CacheContext): Promise<void> {
  let archive: Handover | undefined;
  const maxBytes = context.maxArchiveBytes ?? MAX_CACHE_ARCHIVE_BYTES;
  try {
    if (!hasFiles(context.hostCacheDir)) {
      context.log("The build cache is empty; nothing to save");
      return;
    }
    archive = context.output();
    // The archive is written outside the build's disk: the kernel stops it at the size limit (SIGXFSZ).
    const result = await context.exec(
      [
        "prlimit",
        `--fsize=${maxBytes + 1}`,
        "--",
        "tar",
        "-czf",
        archive.sandboxFile,
        "-C",
        context.cacheDir,
        ".",
      ],
      context.cacheDir,
      archive.access,
    );
    if (result.code !== 0) {
      throw new Error(
        `tar -czf failed (${describeExit(result)}); an archive over ${formatBytes(maxBytes)} is not saved`,
      );
    }
    // What the build wrote is read as the runner: it must be the plain file it was given, not a link.
    const stat = lstatSync(archive.hostFile);
    if (!stat.isFile()) throw new Error("the archive is not a regular file");
    const size = stat.size;
    if (size > maxBytes) {
      context.log(
        `Warning: the build cache is ${formatBytes(size)}, over the ${formatBytes(maxBytes)} limit; not saved`,
      );
      return;
    }
    await context.client.uploadCache(archive.hostFile, context.signal);
    context.log(`Saved the build cache (${formatBytes(size)})`);
  } catch (error) {
    context.log(`Warning: could not save the build cache: ${errorMessage(error)}`);
  } finally {
    if (archive) rmSync(archive.hostFile, { force: true });
  }
}

/**
 * Whether the build left anything in its cache folder. The folder is the build's: links are not followed
 * (an entry that is not a folder counts as content), and the walk stops after `budget` entries, counting a
 * tree that large as content, so a folder of endless empty folders cannot hold the runner up.
 */
export function hasFiles(dir: string, budget = { entries: 10_000 }): boolean {
  let entries: Dirent[];
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (--budget.entries < 0) return true;
    if (!entry.isDirectory()) return true;
    if (hasFiles(path.join(dir, entry.name), budget)) return true;
  }
  return false;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
