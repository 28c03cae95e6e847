import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Metafile } from "esbuild";
import { version as esbuildVersion } from "esbuild";
import { cacheBase } from "./package-root";

/**
 * esbuild outputs kept on disk between processes, so that a program evaluated again (`npm run synth`,
 * the local target, the tests) does not bundle its Workers again while nothing they are built from
 * changed. One record per build asked for (entry and settings), used only while the build is configured
 * as it was (the source of the module that configures esbuild, esbuild's and Node's versions), every file
 * esbuild read has the content it had (SHA-256), every `package.json`/`tsconfig.json`/`jsconfig.json`
 * that resolution could consult is unchanged (none appeared or went), and every folder that held an input
 * lists the same names (a new file could shadow an import). Anything else is a miss: the build runs as
 * before and its record replaces the old one, so the cache holds one record per build, never more.
 */

/** Bump when the record's shape or the checks change. */
const FORMAT = 1;
const CONFIG_FILES = ["package.json", "tsconfig.json", "jsconfig.json"];

/**
 * Where cached outputs live: `WORKERS_PLATFORM_CACHE_DIR`, or `.cache/workers-platform` in the
 * `node_modules` this package is in (the project's own, when installed). Removing the folder only makes the next evaluation bundle again.
 */
export function cacheRoot(): string {
  return process.env.WORKERS_PLATFORM_CACHE_DIR || path.join(cacheBase(), "workers-platform");
}

/** What a cached build gives back. */
export interface CachedBuild {
  text: string;
  /** The output's export names, as the metafile listed them. */
  exports: string[];
}

/** Which record a build has, and what its configuration must be for the record to be used. */
export interface BuildIdentity {
  file: string;
  fingerprint: string;
}

interface Record_ extends CachedBuild {
  format: number;
  fingerprint: string;
  /** Absolute path → SHA-256 of its content. */
  inputs: Record<string, string>;
  /** Config file that resolution could read → SHA-256 of its content, or null while it does not exist. */
  configs: Record<string, string | null>;
  /** Folder of an input → SHA-256 of its sorted entry names. */
  dirs: Record<string, string>;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

function fileHash(file: string): string | null {
  try {
    return sha256(readFileSync(file));
  } catch {
    return null;
  }
}

function listingHash(dir: string): string | null {
  try {
    return sha256(readdirSync(dir).sort().join("\0"));
  } catch {
    return null;
  }
}

/** A build's record (by what it was asked) and its configuration (the module that asks it, the versions). */
export function buildIdentity(parts: {
  entry: string;
  settings: unknown;
  /** The modules that configure esbuild (its options, its plugins). */
  configuredIn: string[];
}): BuildIdentity {
  const key = sha256(JSON.stringify([path.resolve(parts.entry), parts.settings]));
  return {
    file: path.join(cacheRoot(), "bundles", `${key}.json`),
    fingerprint: sha256(
      JSON.stringify([FORMAT, esbuildVersion, process.version, key, parts.configuredIn.map(fileHash)]),
    ),
  };
}

/** The cached output of a build, when its configuration and every input it was built from are unchanged. */
export function readCachedBuild(build: BuildIdentity): CachedBuild | undefined {
  let record: Record_;
  try {
    record = JSON.parse(readFileSync(build.file, "utf8")) as Record_;
  } catch {
    return undefined;
  }
  if (record.format !== FORMAT || record.fingerprint !== build.fingerprint) return undefined;
  for (const [file, hash] of Object.entries(record.inputs)) if (fileHash(file) !== hash) return undefined;
  for (const [file, hash] of Object.entries(record.configs)) if (fileHash(file) !== hash) return undefined;
  for (const [dir, hash] of Object.entries(record.dirs)) if (listingHash(dir) !== hash) return undefined;
  return { text: record.text, exports: record.exports };
}

/** A tsconfig's `extends` target, when it names a file (a package name is found through node_modules). */
function extendsOf(file: string): string | undefined {
  const named = /"extends"\s*:\s*"([^"]+)"/.exec(readFileSync(file, "utf8"))?.[1];
  if (!named?.startsWith(".")) return undefined;
  const target = path.resolve(path.dirname(file), named);
  return target.endsWith(".json") ? target : `${target}.json`;
}

/**
 * Stores a successful build's output with what it was built from. Written to a temporary file and
 * renamed, so that a process reading at the same time sees a whole record or none. A cache that cannot be
 * written (a read-only tree) is not an error: the next evaluation builds again.
 */
export function writeCachedBuild(
  build: BuildIdentity,
  metafile: Metafile,
  workingDir: string,
  output: CachedBuild,
): void {
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(metafile.inputs)) {
    // A file imported with a suffix (`page.ts?browser`) is read from its path without it.
    const file = path.resolve(workingDir, input.replace(/\?[\w-]+$/, ""));
    const hash = fileHash(file);
    // Modules a plugin made up (`<namespace>:<path>`) are a function of the plugin, in the fingerprint.
    if (hash === null) {
      if (/^[\w-]+:/.test(input)) continue;
      return;
    }
    inputs[file] = hash;
  }
  const dirs: Record<string, string> = {};
  const configs: Record<string, string | null> = {};
  const addConfig = (file: string) => {
    if (file in configs) return;
    configs[file] = fileHash(file);
    const target = configs[file] !== null && file.endsWith("config.json") ? extendsOf(file) : undefined;
    if (target) addConfig(target);
  };
  for (const file of Object.keys(inputs)) {
    const dir = path.dirname(file);
    if (dir in dirs) continue;
    dirs[dir] = listingHash(dir) ?? "";
    for (let d = dir; ; d = path.dirname(d)) {
      for (const name of CONFIG_FILES) addConfig(path.join(d, name));
      if (d === path.dirname(d)) break;
    }
  }
  const record: Record_ = {
    format: FORMAT,
    fingerprint: build.fingerprint,
    inputs,
    configs,
    dirs,
    ...output,
  };
  const file = build.file;
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(temporary, JSON.stringify(record));
    renameSync(temporary, file);
  } catch {
    rmSync(temporary, { force: true });
  }
}
