import { randomUUID } from "node:crypto";
import path from "node:path";
import { type DeployOutput, MAX_WRANGLER_OUTPUT_BYTES, parseWranglerOutput } from "../shared/deploy-output";
import { createMasker, type Masker } from "../shared/mask";
import { type FailureClass, MAX_LOG_LINE_BYTES, type StartBuildRequest } from "../shared/protocol";
import { cacheEnv, restoreCache, saveCache } from "./cache";
import { type CallbackClient, createCallbackClient, errorMessage, startHeartbeat } from "./callback";
import { CloneError, cloneRepo, describeExit, redactUrl, urlCredentials } from "./git";
import { LogBatcher } from "./log-batcher";
import { type ProcessResult, runCollect, shellArgv, startProcess, truncateUtf8 } from "./process";
import type { RetryOptions } from "./retry";
import type { BuildSandbox, Sandbox, StepAccess } from "./sandbox";
import { baseEnv, hasNpmLockfile, normalizeRoot, resolveRootDirectory, SYSTEM_BUILD_PATH } from "./workspace";

export interface BuildOptions {
  request: StartBuildRequest;
  /** Base URL of the callback API, used when the request carries no `callback_url`. */
  callbackUrl?: string;
  /** Allow `file:///` repositories (the local stack). */
  allowFileRepos: boolean;
  /**
   * A port of the host's loopback (the local Cloudflare API stand-in's) the build reaches at
   * `127.0.0.1:<port>` from its sandbox (see `PrepareOptions`).
   */
  cloudflareApiPort?: number;
  /** Where the build's processes run; the build's part of it is removed at the end. */
  sandbox: Sandbox;
  /** Longest time a log line waits before it is sent. @default 1000 */
  logFlushIntervalMs?: number;
  /** Time a killed process tree gets between SIGTERM and SIGKILL. @default 2000 */
  killGraceMs?: number;
  /** How long failing callbacks are retried. @default a minute for statuses and the cache, 5 minutes for logs */
  callbackRetry?: RetryOptions;
  /** Where problems go that the build cannot report through its callbacks. @default console.error */
  onError?: (message: string) => void;
}

export interface BuildResult {
  outcome: "success" | "failed" | "cancelled" | "terminated";
  failureClass?: FailureClass;
  /** Seq of the last log batch delivered (0: none). */
  lastLogSeq: number;
  /** The commit that was checked out, once the clone succeeded. */
  commitSha?: string;
  /** What the deploy command deployed, as wrangler's output file told. */
  deployed?: DeployOutput;
}

export interface BuildHandle {
  readonly uuid: string;
  /** Settles (never rejects) once the build has reported its outcome and its work folder is gone. */
  readonly done: Promise<BuildResult>;
  /** Kills the build's process tree; the build reports `cancelled`. */
  cancel(): void;
  /** Kills the build's process tree because the runner is going away; the build reports `failed` (`health_check`). */
  abandon(): void;
  /**
   * The platform asked again for this build with a new callback token (it lost the runner's first answer
   * and cannot know this runner took the build): the build reports with that token from now on.
   */
  renewToken(token: string): void;
}

/** A step that failed in a way users are told about, with the failure class they see. */
class StepFailure extends Error {
  constructor(
    readonly failureClass: FailureClass,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown out of the running step once the build is cancelled, timed out or over a limit. */
class Stopped extends Error {}

/** Why the build was stopped from outside its own steps. */
type StopReason =
  | { kind: "cancelled" }
  | { kind: "timeout" }
  /** It went over a limit of its sandbox. */
  | { kind: "limit"; message: string }
  /** The runner is shutting down and its builds' time to finish ran out. */
  | { kind: "shutdown" };

/** How often a running build's resource use is checked against its limits. */
const LIMIT_CHECK_MS = 500;

/** Starts one build; see `shared/protocol.ts` for what it reports and when. */
export function startBuild(options: BuildOptions): BuildHandle {
  const cancel = new AbortController();
  const report =
    options.onError ??
    ((message: string) => console.error(`runner: build ${options.request.build_uuid}: ${message}`));
  const token = { current: options.request.callback_token, client: undefined as CallbackClient | undefined };
  const done = runBuild(options, cancel.signal, report, (client) => {
    token.client = client;
    client.setToken(token.current);
  }).catch((error): BuildResult => {
    report(`unexpected error: ${errorMessage(error)}`);
    return { outcome: "failed", failureClass: "internal", lastLogSeq: 0 };
  });
  return {
    uuid: options.request.build_uuid,
    done,
    cancel: () => cancel.abort({ kind: "cancelled" } satisfies StopReason),
    abandon: () => cancel.abort({ kind: "shutdown" } satisfies StopReason),
    renewToken(next) {
      token.current = next;
      token.client?.setToken(next);
    },
  };
}

async function runBuild(
  options: BuildOptions,
  cancelSignal: AbortSignal,
  report: (message: string) => void,
  onClient: (client: CallbackClient) => void,
): Promise<BuildResult> {
  const { request } = options;
  const baseUrl = request.callback_url ?? options.callbackUrl;
  if (!baseUrl) {
    report("no callback URL: the request has none and the runner was started without one; build not run");
    return { outcome: "failed", failureClass: "internal", lastLogSeq: 0 };
  }
  const client = createCallbackClient({
    baseUrl,
    buildUuid: request.build_uuid,
    token: request.callback_token,
    retry: options.callbackRetry,
  });
  onClient(client);
  const run = new BuildRun(options, client, report);
  try {
    await client.postStatus({ status: "running" });
  } catch (error) {
    report(`could not report status running, so the build was not run: ${errorMessage(error)}`);
    return run.finish({ outcome: "failed", failureClass: "internal" });
  }
  const heartbeat = startHeartbeat(client, request.heartbeat_seconds, report);
  const onCancel = () => run.stop(cancelSignal.reason as StopReason);
  cancelSignal.addEventListener("abort", onCancel);
  const timer = setTimeout(() => run.stop({ kind: "timeout" }), request.timeout_seconds * 1000);
  if (cancelSignal.aborted) onCancel();
  let result: Omit<BuildResult, "lastLogSeq">;
  try {
    result = await run.execute();
  } finally {
    clearTimeout(timer);
    cancelSignal.removeEventListener("abort", onCancel);
    await heartbeat.stop();
  }
  return run.finish(result);
}

/** One build's state: its folders, its log, and the process currently running for it. */
class BuildRun {
  private readonly request: StartBuildRequest;
  private readonly stopController = new AbortController();
  private readonly batcher: LogBatcher;
  private readonly mask: Masker;
  private readonly maxRawLineBytes: number;
  private box: BuildSandbox | undefined;
  private limitWatch: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private commitSha: string | undefined;
  /** What the deploy step's wrangler output file told, once it ran. */
  private deployed: DeployOutput | undefined;

  constructor(
    private readonly options: BuildOptions,
    private readonly client: CallbackClient,
    private readonly report: (message: string) => void,
  ) {
    this.request = options.request;
    const secrets = [
      ...this.request.secret_names.flatMap((name) => this.request.env[name] ?? []),
      ...urlCredentials(this.request.repo_url),
    ];
    this.mask = createMasker(secrets);
    // Lines are cut only after masking, so a secret straddling the cut is still masked whole.
    this.maxRawLineBytes = MAX_LOG_LINE_BYTES + Math.max(0, ...secrets.map((s) => Buffer.byteLength(s)));
    this.batcher = new LogBatcher({
      send: (batch) => client.postLogs(batch),
      flushIntervalMs: options.logFlushIntervalMs,
      retry: options.callbackRetry && { deadlineMs: 5 * 60_000, ...options.callbackRetry },
      onGiveUp: (error, batch) =>
        report(`log batch ${batch.seq} could not be delivered; log ends here: ${errorMessage(error)}`),
    });
  }

  private get sandbox(): BuildSandbox {
    if (!this.box) throw new Error("the build's sandbox is not prepared yet");
    return this.box;
  }

  private get baseEnv(): Record<string, string> {
    const isolated = this.options.sandbox.isolated;
    return baseEnv(
      this.sandbox.workspace,
      isolated ? SYSTEM_BUILD_PATH : (process.env.PATH ?? SYSTEM_BUILD_PATH),
    );
  }

  readonly log = (line: string): void => {
    this.batcher.push(truncateUtf8(this.mask(line), MAX_LOG_LINE_BYTES));
  };

  stop(reason: StopReason): void {
    if (this.stopController.signal.aborted) return;
    const lines: Record<StopReason["kind"], string> = {
      cancelled: "Build cancelled; stopping",
      timeout: `Build exceeded its time limit of ${this.request.timeout_seconds} s; stopping`,
      limit: `Build stopped: ${reason.kind === "limit" ? reason.message : ""}`,
      shutdown: "The runner is shutting down and this build did not finish in time; stopping",
    };
    this.log(lines[reason.kind]);
    this.stopController.abort(reason);
  }

  /** Stops the build once it is over one of its sandbox's limits; true when it is. */
  private checkLimits(): boolean {
    const breach = this.box?.breach();
    if (breach) this.stop({ kind: "limit", message: breach.message });
    return breach !== undefined;
  }

  private get stopReason(): StopReason | undefined {
    const signal = this.stopController.signal;
    return signal.aborted ? (signal.reason as StopReason) : undefined;
  }

  /** Runs every step; resolves with the outcome, which `finish` then reports. */
  async execute(): Promise<Omit<BuildResult, "lastLogSeq">> {
    try {
      return await this.runSteps();
    } finally {
      // Before anything that may wait on the callback API: the sandbox (mounts, namespaces, uid) goes now.
      await this.releaseSandbox();
    }
  }

  private async releaseSandbox(): Promise<void> {
    clearInterval(this.limitWatch);
    await this.box
      ?.dispose()
      .catch((error) => this.report(`could not remove the build's sandbox: ${errorMessage(error)}`));
  }

  private async runSteps(): Promise<Omit<BuildResult, "lastLogSeq">> {
    try {
      await this.steps();
      this.log(`Build succeeded in ${((Date.now() - this.startedAt) / 1000).toFixed(1)} s`);
      return { outcome: "success", commitSha: this.commitSha };
    } catch (error) {
      // A step that failed because the build went over a limit (a process killed for memory) fails as that.
      if (!this.stopReason) this.checkLimits();
      const reason = this.stopReason;
      const commitSha = this.commitSha;
      switch (reason?.kind) {
        case "cancelled":
          return { outcome: "cancelled", commitSha };
        case "timeout":
          return { outcome: "terminated", failureClass: "timeout", commitSha };
        case "limit":
          return { outcome: "failed", failureClass: "resource_limit", commitSha };
        case "shutdown":
          return { outcome: "failed", failureClass: "health_check", commitSha };
      }
      if (error instanceof StepFailure) {
        this.log(`Build failed (${error.failureClass}): ${error.message}`);
        return { outcome: "failed", failureClass: error.failureClass, commitSha: this.commitSha };
      }
      this.log(`Build failed: internal error in the runner: ${errorMessage(error)}`);
      return { outcome: "failed", failureClass: "internal", commitSha: this.commitSha };
    }
  }

  /** Removes the sandbox, delivers the log, reports `stopped`. */
  async finish(result: Omit<BuildResult, "lastLogSeq">): Promise<BuildResult> {
    await this.releaseSandbox();
    const lastLogSeq = await this.batcher.close();
    const deployed = this.deployed;
    try {
      await this.client.postStatus({
        status: "stopped",
        outcome: result.outcome,
        ...(result.failureClass ? { failure_class: result.failureClass } : {}),
        last_log_seq: lastLogSeq,
        ...(deployed?.deploymentUrl ? { deployment_url: deployed.deploymentUrl } : {}),
        ...(deployed?.previewUrl ? { preview_url: deployed.previewUrl } : {}),
      });
    } catch (error) {
      this.report(`could not report status stopped (${result.outcome}): ${errorMessage(error)}`);
    }
    return { ...result, lastLogSeq, ...(deployed ? { deployed } : {}) };
  }

  private async steps(): Promise<void> {
    const request = this.request;
    this.log(`Build ${request.build_uuid}`);
    this.log(`Repository: ${redactUrl(request.repo_url)}`);
    this.log(`Branch: ${request.branch}`);
    this.log(`Commit: ${request.commit_hash ?? "head of the branch"}`);
    this.log(`Root directory: /${normalizeRoot(request.root_directory)}`);
    this.log(`Build cache: ${request.cache_enabled ? "enabled" : "disabled"}`);

    try {
      this.box = await this.options.sandbox.prepare(request.build_uuid, {
        cloudflareApiPort: this.options.cloudflareApiPort,
      });
    } catch (error) {
      throw new StepFailure(
        "initialization",
        `the build's sandbox could not be prepared: ${errorMessage(error)}`,
      );
    }
    this.log(`Sandbox: ${this.sandbox.description}`);
    this.limitWatch = setInterval(() => this.checkLimits(), LIMIT_CHECK_MS);
    const { repoDir, cacheDir } = this.sandbox.workspace;

    const repo = this.sandbox.repoAccess(request.repo_url);
    try {
      this.commitSha = await cloneRepo({
        repoUrl: request.repo_url,
        fetchUrl: repo.url,
        commitHash: request.commit_hash,
        branch: request.branch,
        dir: repoDir,
        allowFileRepos: this.options.allowFileRepos,
        env: { ...this.baseEnv, ...repo.env },
        exec: (argv, cwd, env) => this.exec(argv, cwd, env, repo.access),
        collect: (argv, cwd, env) =>
          runCollect(argv, { cwd, env, launcher: this.sandbox.launcher(repo.access) }),
        log: this.log,
      });
    } catch (error) {
      throw error instanceof CloneError ? new StepFailure("clone", error.message) : error;
    }
    // The build's record learns its commit now (a build of a branch did not know it); the next heartbeat
    // is the retry, so a failure here does not stop the build.
    await this.client
      .postStatus({ status: "running", commit_hash: this.commitSha }, { once: true })
      .catch((error) => this.report(`could not report the commit: ${errorMessage(error)}`));
    const hostRepoDir = this.sandbox.hostPath(repoDir);
    const root = resolveRootDirectory(hostRepoDir, request.root_directory);
    if ("problem" in root) {
      throw new StepFailure(
        "clone",
        `${root.problem} at commit ${this.commitSha}; check the project's root directory setting`,
      );
    }
    const rootDir = path.join(repoDir, path.relative(hostRepoDir, root.dir));

    const cacheContext = {
      client: this.client,
      cacheDir,
      hostCacheDir: this.sandbox.hostPath(cacheDir),
      input: () => this.sandbox.cacheInput(),
      output: () => this.sandbox.cacheOutput(),
      exec: (argv: string[], cwd: string, access: StepAccess) => this.exec(argv, cwd, this.baseEnv, access),
      log: this.log,
      signal: this.stopController.signal,
    };
    if (request.cache_enabled) await restoreCache(cacheContext);

    const env = {
      ...this.baseEnv,
      ...cacheEnv(cacheDir),
      ...request.env,
      CI: "true",
      WORKERS_CI: "1",
      WORKERS_CI_BUILD_UUID: request.build_uuid,
      WORKERS_CI_COMMIT_SHA: this.commitSha,
      WORKERS_CI_BRANCH: request.branch,
    };
    const buildCommand = request.build_command?.trim() ? request.build_command : null;
    if (buildCommand === null && hasNpmLockfile(root.dir)) {
      this.log("No build command; package-lock.json found, so dependencies are installed with npm ci");
      await this.runCommand("install", "npm ci", rootDir, env);
    }
    if (buildCommand !== null) await this.runCommand("build_command", buildCommand, rootDir, env);
    if (request.deploy_command.trim()) await this.deploy(request.deploy_command, rootDir, env);
    else this.log("No deploy command; nothing to deploy");

    if (request.cache_enabled) await saveCache(cacheContext);
  }

  /**
   * Runs the deploy command (a production deploy or a non-production version upload: the platform picked
   * which) with wrangler told to write its output file to a fresh file in the build's own temporary folder,
   * and to stay quiet and offline (unless the build's variables say otherwise); then reads what it deployed
   * from that file, also after a failed command (it may have deployed before failing).
   */
  private async deploy(command: string, cwd: string, env: Record<string, string>): Promise<void> {
    const outputFile = path.join(this.sandbox.workspace.tmpDir, `wrangler-output-${randomUUID()}.ndjson`);
    const deployEnv = {
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      WRANGLER_HIDE_BANNER: "true",
      ...env,
      WRANGLER_OUTPUT_FILE_PATH: outputFile,
    };
    try {
      await this.runCommand("deploy_command", command, cwd, deployEnv);
    } finally {
      if (!this.stopReason) await this.readDeployOutput(outputFile, cwd);
    }
  }

  /**
   * Reads at most `MAX_WRANGLER_OUTPUT_BYTES` of wrangler's output file inside the sandbox, as the build's
   * own user (so a file the build swapped for a link reads nothing the build could not), and keeps the URLs.
   */
  private async readDeployOutput(outputFile: string, cwd: string): Promise<void> {
    try {
      const result = await runCollect(["head", "-c", String(MAX_WRANGLER_OUTPUT_BYTES), "--", outputFile], {
        cwd,
        env: this.baseEnv,
        launcher: this.sandbox.launcher(),
        maxLineBytes: MAX_WRANGLER_OUTPUT_BYTES,
      });
      if (result.code !== 0) return; // no file: the command ran no wrangler that wrote one
      const deployed = parseWranglerOutput(result.stdout.join("\n"));
      if (deployed.deploymentUrl) {
        const version = deployed.versionId ? ` (version ${deployed.versionId})` : "";
        this.log(`Deployed to ${deployed.deploymentUrl}${version}`);
      }
      if (deployed.previewUrl) this.log(`Preview: ${deployed.previewUrl}`);
      if (deployed.deploymentUrl || deployed.previewUrl) this.deployed = deployed;
    } catch (error) {
      this.log(`Could not read wrangler's output file: ${errorMessage(error)}`);
    }
  }

  private async runCommand(
    failureClass: FailureClass,
    command: string,
    cwd: string,
    env: Record<string, string>,
  ): Promise<void> {
    this.log(`$ ${command}`);
    let result: ProcessResult;
    try {
      result = await this.exec(shellArgv(command), cwd, env);
    } catch (error) {
      if (error instanceof Stopped) throw error;
      throw new StepFailure(failureClass, `\`${command}\` could not be started: ${errorMessage(error)}`);
    }
    if (result.code !== 0)
      throw new StepFailure(failureClass, `\`${command}\` failed (${describeExit(result)})`);
  }

  /**
   * Runs a process in the build's sandbox, its output going to the build log; it is killed when the build
   * stops. `access` adds what this step alone needs (the repository for the clone, an archive for tar).
   */
  private async exec(
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    access: StepAccess = {},
  ): Promise<ProcessResult> {
    const signal = this.stopController.signal;
    if (signal.aborted) throw new Stopped();
    const child = startProcess({
      argv,
      cwd,
      env,
      onLine: this.log,
      maxLineBytes: this.maxRawLineBytes,
      killGraceMs: this.options.killGraceMs,
      launcher: this.sandbox.launcher(access),
    });
    const kill = () => child.kill();
    signal.addEventListener("abort", kill);
    try {
      const result = await child.done;
      if (signal.aborted || this.checkLimits()) throw new Stopped();
      return result;
    } finally {
      signal.removeEventListener("abort", kill);
    }
  }
}
