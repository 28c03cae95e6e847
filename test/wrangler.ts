/**
 * The real wrangler, for the tests that deploy through the Cloudflare API stand-in: the version a Worker
 * project of the fixtures pins (the demo's, `local/demo-hello-worker`), installed once from the npm registry
 * through an npm cache kept in `node_modules/.cache` (so a test run fetches it at most once, and a later
 * run on the same checkout not at all), and a copy of that project to deploy.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { packageRoot } from "../components/package-root";
import { acquireDirLock } from "../local/dir-lock";

export const WRANGLER_PROJECT = path.join(packageRoot(), "local", "demo-hello-worker");
const CACHE_ROOT = () => path.join(packageRoot(), "node_modules", ".cache", "workers-platform");
/** npm's download cache holding wrangler and its dependencies. */
export const wranglerNpmCache = () => path.join(CACHE_ROOT(), "wrangler-npm-cache");
const INSTALLED = () => path.join(CACHE_ROOT(), "wrangler-project");

/**
 * A folder with the fixture project's dependencies installed (`npm ci` of its lockfile), made once; the
 * path of its `node_modules`.
 */
export async function installedWranglerModules(): Promise<string> {
  const modules = path.join(INSTALLED(), "node_modules");
  if (existsSync(path.join(modules, ".bin", "wrangler"))) return modules;
  const release = await acquireDirLock(path.join(CACHE_ROOT(), "wrangler.lock"), 300_000);
  try {
    if (existsSync(path.join(modules, ".bin", "wrangler"))) return modules;
    rmSync(INSTALLED(), { recursive: true, force: true });
    cpSync(WRANGLER_PROJECT, INSTALLED(), { recursive: true });
    execFileSync(
      "npm",
      ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--cache", wranglerNpmCache()],
      {
        cwd: INSTALLED(),
        stdio: "pipe",
        timeout: 240_000,
      },
    );
    return modules;
  } finally {
    release();
  }
}

/** A temporary copy of the fixture project with the installed `node_modules` linked in; removed by `remove`. */
export async function wranglerProject(): Promise<{ dir: string; remove(): void }> {
  const modules = await installedWranglerModules();
  const dir = mkdtempSync(path.join(tmpdir(), "wrangler-project-"));
  cpSync(WRANGLER_PROJECT, dir, { recursive: true });
  symlinkSync(modules, path.join(dir, "node_modules"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Environment that points wrangler at the stand-in, quiet and offline, writing its output file. */
export function wranglerEnv(options: {
  apiUrl: string;
  accountId: string;
  token: string;
  outputFile?: string;
}): NodeJS.ProcessEnv {
  const { CLOUDFLARE_API_TOKEN: _t, CLOUDFLARE_ACCOUNT_ID: _a, ...rest } = process.env;
  return {
    ...rest,
    CLOUDFLARE_API_BASE_URL: options.apiUrl,
    CLOUDFLARE_ACCOUNT_ID: options.accountId,
    CLOUDFLARE_API_TOKEN: options.token,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    WRANGLER_HIDE_BANNER: "true",
    CI: "true",
    ...(options.outputFile ? { WRANGLER_OUTPUT_FILE_PATH: options.outputFile } : {}),
  };
}
