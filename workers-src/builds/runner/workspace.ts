import { existsSync, realpathSync, statSync } from "node:fs";
import path from "node:path";

/** The folders of one build, all inside its work folder so that removing that one folder cleans up. */
export interface Workspace {
  /** `<workRoot>/<build_uuid>` */
  workDir: string;
  /** The checkout. */
  repoDir: string;
  /** Package-manager caches, outside the checkout (see `cache.ts`). */
  cacheDir: string;
  homeDir: string;
  tmpDir: string;
}

export function workspaceFor(workRoot: string, buildUuid: string): Workspace {
  const workDir = path.join(workRoot, buildUuid);
  return {
    workDir,
    repoDir: path.join(workDir, "repo"),
    cacheDir: path.join(workDir, ".build-cache"),
    homeDir: path.join(workDir, "home"),
    tmpDir: path.join(workDir, "tmp"),
  };
}

/** The PATH of a build in a sandbox: the system's own folders. */
export const SYSTEM_BUILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The system's CA bundle (Debian's path), which Node does not read unless told to. */
const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The environment every process of a build starts from: nothing of the runner's own beyond `path`. Node
 * (npm, and every build tool on it) is pointed at the system's CA bundle, which git and curl read anyway,
 * so that a registry behind a CA the host trusts is trusted by builds too.
 */
export function baseEnv(workspace: Workspace, path: string): Record<string, string> {
  return {
    ...(existsSync(SYSTEM_CA_BUNDLE) ? { NODE_EXTRA_CA_CERTS: SYSTEM_CA_BUNDLE } : {}),
    PATH: path,
    HOME: workspace.homeDir,
    TMPDIR: workspace.tmpDir,
    LANG: "C.UTF-8",
  };
}

/** `"/app/"` → `"app"`; `""` is the repository's root. */
export function normalizeRoot(root: string): string {
  return root.replace(/^\/+|\/+$/g, "");
}

/**
 * The folder inside the checkout that the commands run in, or why there is none: missing, not a folder,
 * or leading out of the checkout (checked on real paths, so neither `..` nor a symbolic link gets out).
 */
export function resolveRootDirectory(repoDir: string, root: string): { dir: string } | { problem: string } {
  const name = normalizeRoot(root);
  const dir = path.resolve(repoDir, name);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    return { problem: `Root directory "${name}" does not exist` };
  const relative = path.relative(realpathSync(repoDir), realpathSync(dir));
  if (relative.startsWith("..") || path.isAbsolute(relative)) {
    return { problem: `Root directory "${name}" is outside the repository` };
  }
  return { dir };
}

export function hasNpmLockfile(dir: string): boolean {
  return existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "package-lock.json"));
}
