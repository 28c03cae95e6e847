import { type Dirent, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { CallbackClient } from "./callback";
import { errorMessage } from "./callback";
import { describeExit } from "./git";
import type { ProcessResult } from "./process";

/** A larger archive is not uploaded: it would cost more to move than it saves. */
export const MAX_CACHE_ARCHIVE_BYTES = 512 * 1024 * 1024;

/**
 * Environment that points every common package manager's download cache into `cacheDir`, so that one
 * folder holds all there is to save and restore.
 */
export function cacheEnv(cacheDir: string): Record<string, string> {
  return {
    npm_config_cache: path.join(cacheDir, "npm"),
    YARN_CACHE_FOLDER: path.join(cacheDir, "yarn"),
    PNPM_STORE_DIR: path.join(cacheDir, "pnpm-store"),
    BUN_INSTALL_CACHE_DIR: path.join(cacheDir, "bun"),
  };
}

export interface CacheContext {
  client: Pick<CallbackClient, "downloadCache" | "uploadCache">;
  /** The folder {@link cacheEnv} points into. */
  cacheDir: string;
  /** A folder for the archive, outside `cacheDir`. */
  scratchDir: string;
  /** Runs `tar` (killable along with the build). */
  exec: (argv: string[], cwd: string) => Promise<ProcessResult>;
  log: (line: string) => void;
  /** Stops a transfer when the build is cancelled or times out. */
  signal?: AbortSignal;
}

/** Fills `cacheDir` from the build cache, if there is one. Never throws: a cache is only an optimisation. */
export async function restoreCache(context: CacheContext): Promise<void> {
  const archive = path.join(context.scratchDir, "cache-restore.tar.gz");
  try {
    mkdirSync(context.cacheDir, { recursive: true });
    if (!(await context.client.downloadCache(archive, context.signal))) {
      context.log("No build cache yet; building without one");
      return;
    }
    const size = statSync(archive).size;
    const result = await context.exec(
      ["tar", "-xzf", archive, "--no-same-owner", "-C", context.cacheDir],
      context.scratchDir,
    );
    if (result.code !== 0) throw new Error(`tar -xzf failed (${describeExit(result)})`);
    context.log(`Restored the build cache (${formatBytes(size)})`);
  } catch (error) {
    context.log(`Warning: could not restore the build cache, building without it: ${errorMessage(error)}`);
  } finally {
    rmSync(archive, { force: true });
  }
}

/** Uploads `cacheDir` as the build cache, unless it is empty. Never throws. */
export async function saveCache(context: CacheContext): Promise<void> {
  const archive = path.join(context.scratchDir, "cache-save.tar.gz");
  try {
    if (!hasFiles(context.cacheDir)) {
      context.log("The build cache is empty; nothing to save");
      return;
    }
    const result = await context.exec(
      ["tar", "-czf", archive, "-C", context.cacheDir, "."],
      context.scratchDir,
    );
    if (result.code !== 0) throw new Error(`tar -czf failed (${describeExit(result)})`);
    const size = statSync(archive).size;
    if (size > MAX_CACHE_ARCHIVE_BYTES) {
      context.log(
        `Warning: the build cache is ${formatBytes(size)}, over the ${formatBytes(MAX_CACHE_ARCHIVE_BYTES)} limit; not saved`,
      );
      return;
    }
    await context.client.uploadCache(archive, context.signal);
    context.log(`Saved the build cache (${formatBytes(size)})`);
  } catch (error) {
    context.log(`Warning: could not save the build cache: ${errorMessage(error)}`);
  } finally {
    rmSync(archive, { force: true });
  }
}

function hasFiles(dir: string): boolean {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((entry) => (entry.isDirectory() ? hasFiles(path.join(dir, entry.name)) : true));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
