import type { ProcessResult } from "./process";

/** A repository that cannot be cloned; the build fails with failure class `clone`. */
export class CloneError extends Error {
  override name = "CloneError";
}

/**
 * Why the runner refuses to clone `url`, or undefined when it may. Only `https://` is allowed, plus
 * `file:///` on a runner started with `allowFileRepos` (the local stack): every other transport (http,
 * ssh, git, scp-like `git@host:path`, local paths, `ext::` and other remote helpers) is refused, since
 * some of them run commands or reach the runner's own files and credentials.
 */
export function repoUrlProblem(url: string, allowFileRepos: boolean): string | undefined {
  // Whitespace and control characters have no place in a URL and could confuse git's own parsing.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\s\u0000-\u001f\u007f]/.test(url))
    return "the repository URL contains whitespace or control characters";
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (url.startsWith("https://") && parsed?.protocol === "https:" && parsed.hostname !== "") return undefined;
  if (url.startsWith("file:///") && parsed?.protocol === "file:") {
    return allowFileRepos
      ? undefined
      : "file:// repositories are only allowed on a runner started with allowFileRepos (the local stack); use an https:// URL";
  }
  return `only https:// repository URLs are allowed${allowFileRepos ? " (and file:///)" : ""}; got ${JSON.stringify(redactUrl(url))}`;
}

/** `url` without the user name and password it may carry. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//");
  }
}

/** Credentials inside a repository URL (`https://user:token@host/...`), to be masked in logs like secrets. */
export function urlCredentials(url: string): string[] {
  try {
    const parsed = new URL(url);
    // A token given as the user name alone (`https://<token>@github.com/...`) is a secret too.
    const raw = parsed.password || parsed.username;
    return [...new Set([raw, safeDecode(raw)])].filter((value) => value !== "");
  } catch {
    return [];
  }
}

/**
 * `url` without its credentials, and the git settings (as `GIT_CONFIG_*` variables) that send them as an
 * `Authorization` header to that origin only: the token never appears on a command line, where any user
 * of the host could read it in `/proc`. Pure.
 */
export function credentialsAsHeader(url: string): { url: string; env: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, env: {} };
  }
  if ((!parsed.username && !parsed.password) || parsed.protocol !== "https:") return { url, env: {} };
  const basic = Buffer.from(`${safeDecode(parsed.username)}:${safeDecode(parsed.password)}`).toString(
    "base64",
  );
  parsed.username = "";
  parsed.password = "";
  return {
    url: parsed.toString(),
    env: {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: `http.${parsed.origin}/.extraHeader`,
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    },
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface CloneOptions {
  repoUrl: string;
  /** Where git fetches from when that differs from `repoUrl` (a local repository bound into the sandbox). */
  fetchUrl?: string;
  /** Full or abbreviated commit to check out; null: the head of `branch`. */
  commitHash: string | null;
  branch: string;
  /** An empty folder that becomes the checkout. */
  dir: string;
  allowFileRepos: boolean;
  /** Environment for git (no build variables: they are not git's business). */
  env: Record<string, string>;
  /** Runs a command with its output going to the build log; honours cancellation. */
  exec: (argv: string[], cwd: string, env: Record<string, string>) => Promise<ProcessResult>;
  /** Runs a command and collects its output (`git rev-parse`), where `exec` runs. */
  collect: (
    argv: string[],
    cwd: string,
    env: Record<string, string>,
  ) => Promise<ProcessResult & { stdout: string[] }>;
  log: (line: string) => void;
}

/** Clones the repository at the wanted commit with real git; resolves with the full commit sha. */
export async function cloneRepo(options: CloneOptions): Promise<string> {
  const problem = repoUrlProblem(options.repoUrl, options.allowFileRepos);
  if (problem) throw new CloneError(`Refusing to clone: ${problem}`);
  const { dir, commitHash, repoUrl } = options;
  const credentials = credentialsAsHeader(options.fetchUrl ?? repoUrl);
  const source = credentials.url;
  const env = {
    ...options.env,
    ...credentials.env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    // Enforced by git itself for every transport it is asked to use, including redirects and submodules.
    GIT_ALLOW_PROTOCOL: options.allowFileRepos ? "https:file" : "https",
  };
  const git = (...args: string[]) => [
    "git",
    ...(options.allowFileRepos ? ["-c", "protocol.file.allow=always"] : []),
    "-c",
    "advice.detachedHead=false",
    ...args,
  ];
  const run = async (args: string[], what: string) => {
    const result = await options.exec(git(...args), dir, env);
    if (result.code !== 0) throw new CloneError(`${what} failed (${describeExit(result)})`);
  };

  options.log(
    `Cloning ${redactUrl(repoUrl)} at ${commitHash ? `commit ${commitHash}` : `the head of branch ${options.branch}`}`,
  );
  await run(["init", "-q", "--initial-branch=build"], "git init");
  let target = "FETCH_HEAD";
  if (commitHash === null) {
    await run(
      ["fetch", "--depth", "1", "--no-tags", "--", source, `refs/heads/${options.branch}`],
      `Fetching branch ${options.branch}`,
    );
  } else {
    // Servers hand out a single commit by its full sha (protocol v2, or allowReachableSHA1InWant); an
    // abbreviated sha, or a server that refuses, needs the branches' history to find the commit in.
    const fullSha = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(commitHash);
    const shallow = fullSha
      ? await options.exec(git("fetch", "--depth", "1", "--no-tags", "--", source, commitHash), dir, env)
      : undefined;
    if (shallow?.code !== 0) {
      if (shallow)
        options.log(`Fetching commit ${commitHash} alone failed; fetching the repository's branches`);
      await run(["fetch", "--no-tags", "--", source, "+refs/heads/*:refs/remotes/origin/*"], "git fetch");
      const resolved = await options.collect(
        git("rev-parse", "--verify", "--quiet", `${commitHash}^{commit}`),
        dir,
        env,
      );
      const sha = resolved.stdout[0];
      if (resolved.code !== 0 || !sha) {
        throw new CloneError(`Commit ${commitHash} is not in the repository (not found on any branch)`);
      }
      target = sha;
    }
  }
  await run(["checkout", "-q", "--detach", target], "git checkout");
  const head = await options.collect(git("rev-parse", "HEAD"), dir, env);
  const sha = head.stdout[0];
  if (head.code !== 0 || !sha) throw new CloneError("git rev-parse HEAD failed after checkout");
  if (commitHash && !sha.startsWith(commitHash)) {
    throw new CloneError(`Checked out ${sha}, which is not the requested commit ${commitHash}`);
  }
  options.log(`Checked out commit ${sha}`);
  return sha;
}

export function describeExit(result: ProcessResult): string {
  return result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
}
