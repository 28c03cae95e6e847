import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** The package's name on npm, as its package.json says. */
export const PACKAGE_NAME = "workers-platform";

let root: string | undefined;

/**
 * The folder holding this package's package.json: the repository's root when running from source, the
 * installed folder (`node_modules/workers-platform`) when running the compiled code under `dist/`. The
 * Worker sources the compositions bundle (`workers-src/`) sit there in both. Found on first use, so that
 * importing the components reads no file.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name === PACKAGE_NAME
    ) {
      root = dir;
      return dir;
    }
    if (dir === path.dirname(dir))
      throw new Error(`no package.json named ${PACKAGE_NAME} at or above ${__dirname}`);
  }
}

/** A file of the package's Worker sources (`workers-src/...`), by its path inside that folder. */
export function workerSource(...parts: string[]): string {
  return path.join(packageRoot(), "workers-src", ...parts);
}

/**
 * A module beside the calling one by its name without extension: its TypeScript source when running from
 * source, the compiled `.js` under `dist/` otherwise.
 */
export function siblingModule(dir: string, name: string): string {
  const source = path.join(dir, `${name}.ts`);
  return existsSync(source) ? source : path.join(dir, `${name}.js`);
}

/**
 * The `.cache` folder of the `node_modules` the package's files live in (the consumer's, when installed;
 * this repository's otherwise). The bundle cache puts its own folder there unless
 * `WORKERS_PLATFORM_CACHE_DIR` names another (components/bundle-cache.ts).
 */
export function cacheBase(): string {
  return cacheBaseFor(packageRoot());
}

/** `cacheBase` for a package at `root`: `.cache` in the outermost `node_modules` above it, else its own. */
export function cacheBaseFor(root: string): string {
  const parts = root.split(path.sep);
  const first = parts.indexOf("node_modules");
  return first === -1
    ? path.join(root, "node_modules", ".cache")
    : path.join(parts.slice(0, first + 1).join(path.sep) || path.sep, ".cache");
}
