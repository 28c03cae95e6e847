import { DurableObject } from "cloudflare:workers";
import type { StatusReport } from "../lib/commit-status";
import { constantTimeEqualText, randomHex, sha256Hex } from "../lib/digest";
import type { CancelResult, LogPage, ReadLogsOptions } from "../shared/management-api";
import { buildDataPoint, type StoppedBuild } from "../shared/metrics";
import {
  type BuildOutcome,
  type FailureClass,
  type LogBatch,
  logBatchSchema,
  type StartBuildRequest,
  type StatusCallback,
  statusCallbackSchema,
} from "../shared/protocol";
import {
  ALARM_RETRY_MS,
  type BuddyState,
  type CacheGrant,
  type CallbackResult,
  type Deadlines,
  type DeployedUrls,
  deadlines,
  dueAction,
  LOG_GRACE_MS,
  nextAlarm,
  parseCursor,
  START_RETRY_MS,
  STOPPED_LOG_GRACE_MS,
  statusEffect,
  tombstone,
} from "./buddy-state";
import { type BuildRows, buildRows } from "./build-rows";
import { type ComputeBackend, ComputeError, computeBackend } from "./compute";
import { buildFinished, logFor, type ManagementEnv, numberVar } from "./env";
import { cloudflareApiAccess, loadBuild, startRequest } from "./load-build";
import { LogStore } from "./log-store";
import { type OutboxDeps, StatusOutbox } from "./status-outbox";
import { statusSubject } from "./status-subject";
import { Wakeup } from "./wakeup";

export type { BuddyState, CacheGrant, CallbackResult } from "./buddy-state";

/** Whether the log's tables exist: they are made on the first read or write of the log. */
function hasLogTables(storage: DurableObjectStorage): boolean {
  return (
    storage.sql
      .exec<{ n: number }>(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'log_lines'",
      )
      .one().n > 0
  );
}

export { LOG_GRACE_MS, parseCursor } from "./buddy-state";

/** The earliest of the times given, or undefined when none is. */
function earliest(...times: (number | undefined)[]): number | undefined {
  const given = times.filter((t): t is number => t !== undefined);
  return given.length > 0 ? Math.min(...given) : undefined;
}

/**
 * One per build (named by its uuid). It starts the build on the compute backend, takes the runner's status
 * and log callbacks, keeps the log in its SQLite storage for every reader, and ends the build itself when
 * the runner does not start in time, runs past the timeout, or is cancelled. Everything it needs after an
 * eviction is in storage; alarms are idempotent.
 */
export class BuildBuddy extends DurableObject<ManagementEnv> {
  /** Made on first use, so that an object asked only to purge never creates the log's tables. */
  private store?: LogStore;
  /** This instance purged its storage: a callback already past its token check must not write again. */
  private purged = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly readers = new Wakeup();
  /** Tests replace the compute backend; otherwise it comes from the Worker's vars. */
  compute?: ComputeBackend;
  /** Tests replace the build's PostgreSQL row; otherwise the Worker's Hyperdrive. */
  rows?: BuildRows;
  /** Tests read the data points here; otherwise the Worker's Analytics Engine dataset. */
  metrics?: Pick<AnalyticsEngineDataset, "writeDataPoint">;
  /** Tests replace where commit statuses are looked up and sent; otherwise PostgreSQL and `fetch`. */
  statusDeps?: Partial<OutboxDeps>;
  /** Tests move the outbox's clock ahead, so that its sends wait for `runDurableObjectAlarm`. */
  statusClock?: () => number;
  private outbox?: StatusOutbox;

  constructor(ctx: DurableObjectState, env: ManagementEnv) {
    super(ctx, env);
  }

  private get logs(): LogStore {
    this.store ??= new LogStore(this.ctx.storage);
    return this.store;
  }

  /** State changes run one at a time: a callback that awaits PostgreSQL never interleaves with another. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private load(): Promise<BuddyState | undefined> {
    return this.ctx.storage.get<BuddyState>("state");
  }

  /** Last time the runner called back (its own key: callbacks outside `serial` write only this). */
  private async lastSeen(): Promise<number> {
    return (await this.ctx.storage.get<number>("lastSeen")) ?? Date.now();
  }

  /** Every deadline of `state` as things stand: the alarm is set by them and, when it fires, decides by them. */
  private async currentDeadlines(state: BuddyState): Promise<Deadlines> {
    const lastSeen = state.status === "running" ? await this.lastSeen() : 0;
    return deadlines(state, {
      lastSeen: () => lastSeen,
      heartbeatTimeoutMs: this.heartbeatTimeoutMs(),
      logDone: () => this.done(state),
    });
  }

  /**
   * Stores the state and sets the alarm at its earliest deadline or the commit status outbox's next send
   * (none: no alarm).
   */
  private async save(state: BuddyState): Promise<void> {
    await this.ctx.storage.put("state", state);
    await this.arm(nextAlarm(await this.currentDeadlines(state)));
  }

  private async arm(buildAlarm: number | undefined): Promise<void> {
    const next = earliest(buildAlarm, await this.statuses.dueAt());
    if (next !== undefined) await this.ctx.storage.setAlarm(next);
    else await this.ctx.storage.deleteAlarm();
  }

  private get statuses(): StatusOutbox {
    this.outbox ??= new StatusOutbox(this.ctx.storage);
    return this.outbox;
  }

  private statusNow(): number {
    return this.statusClock?.() ?? Date.now();
  }

  private outboxDeps(): OutboxDeps {
    return {
      lookup: (uuid) => statusSubject(this.env, uuid),
      fetch: (input, init) => fetch(input, init),
      log: (level, message, fields) => logFor(this.env)[level](message, fields),
      ...this.statusDeps,
    };
  }

  /**
   * Records a commit status for the alarm to send. Only storage is touched, and a failure is logged: a
   * report never fails or delays the build.
   */
  private async report(
    buildUuid: string,
    report: StatusReport,
    options: { enable?: boolean; link?: string } = {},
  ): Promise<void> {
    await this.outboxChange(buildUuid, () =>
      this.statuses.take(buildUuid, report, options, this.statusNow()),
    );
  }

  /** Applies a change to the outbox and brings the alarm forward to its next send; a failure is only logged. */
  private async outboxChange(buildUuid: string, change: () => Promise<number | undefined>): Promise<void> {
    try {
      const due = await change();
      if (due === undefined) return;
      const alarm = await this.ctx.storage.getAlarm();
      if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
    } catch (err) {
      logFor(this.env, { build_uuid: buildUuid }).warn("commit status not recorded", (err as Error).message);
    }
  }

  /**
   * A report from the Client Worker: the build was queued (and its repository connection has a status
   * token), or a newer push superseded it. `link` is the Client Worker's origin, where the status links to.
   */
  async reportStatus(buildUuid: string, report: StatusReport, link: string): Promise<void> {
    await this.report(buildUuid, report, { enable: true, link });
  }

  private heartbeatTimeoutMs(): number {
    return numberVar(this.env.HEARTBEAT_TIMEOUT_SECONDS, 60) * 1000;
  }

  private backend(): ComputeBackend {
    this.compute ??= computeBackend(this.env);
    return this.compute;
  }

  private db(): BuildRows {
    this.rows ??= buildRows(this.env);
    return this.rows;
  }

  /** One data point per build this object stopped, whichever way it stopped. */
  private recordMetrics(
    build: StoppedBuild,
    outcome: BuildOutcome,
    failureClass: FailureClass | undefined,
  ): void {
    (this.metrics ?? this.env.BUILD_METRICS)?.writeDataPoint(
      buildDataPoint(build, outcome, failureClass, this.env.RELEASE),
    );
  }

  private wakeReaders(): void {
    this.readers.wakeAll();
  }

  private systemLine(line: string): void {
    if (this.logs.appendSystem([{ ts: Date.now(), line }]) > 0) this.wakeReaders();
  }

  /**
   * Called by the scheduler once the build is `initializing`; calling it again changes nothing. The start
   * runs inside `serial`, so a cancel can never reach the runner before the build it cancels.
   */
  async startBuild(buildUuid: string): Promise<void> {
    await this.serial(async () => {
      if (await this.load()) return;
      let request: StartBuildRequest | undefined;
      try {
        request = await this.prepare(buildUuid);
      } catch (err) {
        await this.failUnstarted(
          buildUuid,
          `the build's trigger or variables could not be read: ${(err as Error).message}`,
        );
        return;
      }
      if (request) await this.attemptStart(request);
    });
  }

  /**
   * Hands the build to the compute backend. A busy or unreachable runner is tried again (by the alarm,
   * which survives an eviction) until the start deadline; any other refusal fails the build.
   */
  private async attemptStart(request: StartBuildRequest, retry = false): Promise<void> {
    try {
      const { runner } = await this.backend().startBuild(request);
      const state = await this.load();
      if (state && (state.retryAt !== undefined || runner !== undefined)) {
        await this.save({ ...state, retryAt: undefined, runner });
      }
    } catch (err) {
      const message = (err as Error).message;
      const state = await this.load();
      if (state?.status !== "initializing") return;
      const retryAt = Date.now() + START_RETRY_MS;
      if (err instanceof ComputeError && err.retryable && retryAt < state.startDeadline) {
        if (!retry) this.systemLine(`platform: waiting for a runner (${message})`);
        await this.save({ ...state, retryAt });
        return;
      }
      logFor(this.env, { build_uuid: state.buildUuid }).error("runner start failed", message);
      this.systemLine(`platform: the build could not be started: ${message}`);
      // The runner may have taken the build although its answer was lost: it is told to stop.
      await this.finish(state, "failed", "initialization", { stopRunner: true });
    }
  }

  /** A build that cannot even be prepared ends at once, so that it does not hold its slot. */
  private async failUnstarted(buildUuid: string, reason: string): Promise<void> {
    logFor(this.env, { build_uuid: buildUuid }).error("build not started", reason);
    const failed = await this.db().failInitializing(buildUuid);
    if (!failed) return;
    this.recordMetrics(failed, "failed", "initialization");
    await this.ctx.storage.put("state", tombstone(buildUuid, "failed"));
    await this.report(buildUuid, { state: "stopped", outcome: "failed", failureClass: "initialization" });
    this.systemLine(`platform: ${reason}`);
    this.logs.seal();
    this.wakeReaders();
    await buildFinished(this.env, failed.account_id, buildUuid);
  }

  /** Loads the build and stores a new callback token's hash with its deadlines; the request for the runner. */
  private async prepare(buildUuid: string, startDeadline?: number): Promise<StartBuildRequest | undefined> {
    const build = await loadBuild(this.env, buildUuid);
    if (!build) return undefined;
    if (build.reports_status) await this.report(buildUuid, { state: "queued" }, { enable: true });
    const token = randomHex(32);
    const start = startRequest(build, buildUuid, token, Date.now(), {
      startTimeoutSeconds: numberVar(this.env.BUILD_START_TIMEOUT_SECONDS, 120),
      timeoutMinutes: numberVar(this.env.BUILD_TIMEOUT_MINUTES, 20),
      heartbeatTimeoutMs: this.heartbeatTimeoutMs(),
      callbackUrl: this.env.CALLBACK_URL,
      startDeadline,
      cloudflareApi: await cloudflareApiAccess(this.env, build),
    });
    await this.save({
      buildUuid,
      accountId: build.account_id,
      workerId: build.worker_id,
      cacheEnabled: build.build_caching_enabled,
      status: "initializing",
      tokenHash: await sha256Hex(token),
      startDeadline: start.startDeadline,
      runDeadline: start.runDeadline,
    });
    return start.request;
  }

  private async authorized(token: string | null): Promise<BuddyState | undefined> {
    const state = await this.load();
    if (!state || !token) return undefined;
    return constantTimeEqualText(state.tokenHash, await sha256Hex(token)) ? state : undefined;
  }

  /** `POST /api/builds/:uuid/status` from the runner. */
  async runnerStatus(token: string | null, body: unknown): Promise<CallbackResult> {
    const parsed = statusCallbackSchema.safeParse(body);
    if (!parsed.success) return { status: 400, accepted: false, error: "invalid status body" };
    return this.serial(async () => {
      const state = await this.authorized(token);
      if (!state) return { status: 401, accepted: false, error: "invalid callback token" };
      return this.applyStatus(state, parsed.data);
    });
  }

  private async applyStatus(state: BuddyState, update: StatusCallback): Promise<CallbackResult> {
    await this.ctx.storage.put("lastSeen", Date.now());
    const { commit, effect } = statusEffect(state, update);
    if (commit !== undefined) {
      await this.db().recordCommit(state.buildUuid, commit);
      state = { ...state, commitRecorded: true };
      await this.ctx.storage.put("state", state);
      // A report that waited for the commit (a build of a branch) can go now.
      await this.outboxChange(state.buildUuid, () => this.statuses.commitKnown(this.statusNow()));
    }
    switch (effect.kind) {
      case "none":
        return { status: 200, accepted: false };
      case "last-log-seq": {
        const next = { ...state, lastLogSeq: effect.lastLogSeq };
        await this.save(next);
        if (this.done(next)) this.wakeReaders();
        return { status: 200, accepted: false };
      }
      case "running":
        await this.db().markRunning(state.buildUuid);
        await this.report(state.buildUuid, { state: "running" });
        await this.save({ ...state, status: "running" });
        return { status: 200, accepted: true };
      case "stopped":
        await this.finish({ ...state, lastLogSeq: effect.lastLogSeq }, effect.outcome, effect.failureClass, {
          stopRunner: false,
          deployed: effect.deployed,
        });
        return { status: 200, accepted: true };
    }
  }

  /** `POST /api/builds/:uuid/logs` from the runner. */
  async runnerLogs(token: string | null, body: unknown): Promise<CallbackResult> {
    const parsed = logBatchSchema.safeParse(body);
    if (!parsed.success) return { status: 400, accepted: false, error: "invalid log batch" };
    const state = await this.authorized(token);
    if (!state || this.purged) return { status: 401, accepted: false, error: "invalid callback token" };
    return this.appendBatch(parsed.data, state);
  }

  private async appendBatch(batch: LogBatch, state: BuddyState): Promise<CallbackResult> {
    const result = this.logs.append(batch.seq, batch.lines);
    if (result.added > 0) this.wakeReaders();
    await this.ctx.storage.put("lastSeen", Date.now());
    if (this.done(state)) await this.save(state);
    return { status: 200, accepted: !result.duplicate };
  }

  /** Lets the runner read and write the Worker's build cache (`/api/builds/:uuid/cache`). */
  async cacheGrant(token: string | null): Promise<CacheGrant | undefined> {
    const state = await this.authorized(token);
    if (!state || state.status === "stopped") return undefined;
    return { workerId: state.workerId, cacheEnabled: state.cacheEnabled };
  }

  async readLogs(cursor: string | null, options: ReadLogsOptions = {}): Promise<LogPage> {
    const after = parseCursor(cursor);
    const limit = Math.min(Math.max(options.limit ?? 1000, 1), 5000);
    let page = this.logs.read(after, limit);
    let state = await this.load();
    const waitMs = Math.min(options.waitMs ?? 0, 30_000);
    if (page.lines.length === 0 && waitMs > 0 && !this.done(state)) {
      await this.readers.wait(waitMs);
      page = this.logs.read(after, limit);
      state = await this.load();
    }
    const done = this.done(state) && this.logs.read(page.last, 1).lines.length === 0;
    return { lines: page.lines, cursor: String(page.last), done };
  }

  /**
   * Readers are done once the build stopped and its log is whole: every batch up to the runner's last one,
   * or, when the runner never said which was last (it died, or the platform stopped the build), once the
   * log was sealed (at once for a dead runner, after a grace period for a stopped one).
   */
  private done(state: BuddyState | undefined): boolean {
    if (state?.status !== "stopped") return false;
    return state.lastLogSeq !== undefined ? this.logs.complete(state.lastLogSeq) : this.logs.sealed();
  }

  /** Cancels the build whatever its stage; a stopped build is left as it is. */
  async cancel(buildUuid: string): Promise<CancelResult> {
    return this.serial(async () => {
      const state = await this.load();
      if (state) {
        if (state.status === "stopped") {
          return { status: "stopped", build_outcome: state.outcome ?? null, cancelled: false };
        }
        this.systemLine("platform: build cancelled");
        await this.finish(state, "cancelled", undefined, { stopRunner: true });
        return { status: "stopped", build_outcome: "cancelled", cancelled: true };
      }
      // Never started here: still queued, or admitted by the scheduler a moment ago.
      const row = await this.db().cancelUnstarted(buildUuid);
      if (!row) throw new RangeError(`unknown build ${buildUuid}`);
      if (!row.changed) return { status: row.status, build_outcome: row.build_outcome, cancelled: false };
      this.recordMetrics(row, "cancelled", undefined);
      // A tombstone, so that a start already on its way changes nothing.
      await this.ctx.storage.put("state", tombstone(buildUuid, "cancelled"));
      await this.report(buildUuid, { state: "stopped", outcome: "cancelled" });
      this.logs.seal();
      this.wakeReaders();
      await buildFinished(this.env, row.account_id, buildUuid);
      return { status: "stopped", build_outcome: "cancelled", cancelled: true };
    });
  }

  /**
   * Ends the build: PostgreSQL first (its `status <> 'stopped'` guard makes a retry harmless), then this
   * object's state, then metrics and the scheduler, which frees the slot.
   */
  private async finish(
    state: BuddyState,
    outcome: BuildOutcome,
    failureClass: FailureClass | undefined,
    options: { stopRunner: boolean; deployed?: DeployedUrls },
  ): Promise<void> {
    if (!options.stopRunner) {
      await this.backend()
        .releaseBuild?.(state.buildUuid)
        .catch((err: Error) =>
          logFor(this.env, { build_uuid: state.buildUuid }).warn(
            "releasing the build's compute failed",
            err.message,
          ),
        );
    }
    if (options.stopRunner) {
      await this.backend()
        .stopBuild(state.buildUuid, state.runner)
        .catch((err: Error) =>
          logFor(this.env, { build_uuid: state.buildUuid }).warn("runner stop failed", err.message),
        );
    }
    const stopped = await this.db().markStopped(state.buildUuid, outcome, failureClass, options.deployed);
    // A runner that never started or went silent sends nothing more; one that was stopped (cancel, timeout)
    // still sends its last lines and its own `stopped`, which says how many batches to wait for.
    const runnerGone = failureClass === "initialization" || failureClass === "health_check";
    if (runnerGone) this.logs.seal();
    const next: BuddyState = {
      ...state,
      status: "stopped",
      outcome,
      failureClass,
      logDeadline: Date.now() + (options.stopRunner ? STOPPED_LOG_GRACE_MS : LOG_GRACE_MS),
    };
    await this.report(state.buildUuid, {
      state: "stopped",
      outcome,
      ...(failureClass === undefined ? {} : { failureClass }),
    });
    await this.save(next);
    this.wakeReaders();
    if (stopped) this.recordMetrics(stopped, outcome, failureClass);
    logFor(this.env, { build_uuid: state.buildUuid, account_id: state.accountId }).info("build stopped", {
      outcome,
      failure_class: failureClass ?? null,
    });
    await buildFinished(this.env, state.accountId, state.buildUuid);
  }

  /**
   * Start retries, healthy-start check, timeout, heartbeat and the end of the log's grace period; then the
   * commit status due, if any (claimed first, so that the build's work never waits on the provider). Work
   * that fails is tried again by a new alarm, so a build is never left without one while it is not stopped.
   */
  override async alarm(): Promise<void> {
    const claim = await this.statuses.claim(this.statusNow()).catch(() => undefined);
    let retryAt: number | undefined;
    try {
      await this.runAlarm();
    } catch (err) {
      logFor(this.env, { build_uuid: this.ctx.id.toString() }).error(
        "BuildBuddy alarm failed; trying again",
        (err as Error).message,
      );
      retryAt = Date.now() + ALARM_RETRY_MS;
    }
    if (claim !== undefined && !this.purged) {
      await this.statuses.send(claim, this.outboxDeps(), () => this.statusNow());
    }
    if (retryAt !== undefined) return this.arm(retryAt);
    const state = await this.load();
    await this.arm(state === undefined ? undefined : nextAlarm(await this.currentDeadlines(state)));
  }

  private async runAlarm(): Promise<void> {
    await this.serial(async () => {
      const state = await this.load();
      if (!state) return;
      const action = dueAction(await this.currentDeadlines(state), Date.now());
      switch (action) {
        case "retry-start": {
          // A new callback token and fresh variables: the runner never accepted the earlier request.
          const request = await this.prepare(state.buildUuid, state.startDeadline);
          if (request) await this.attemptStart(request, true);
          return;
        }
        case "start-timeout": {
          const seconds = numberVar(this.env.BUILD_START_TIMEOUT_SECONDS, 120);
          this.systemLine(
            `platform: the runner did not report within ${seconds} s; the build failed to start`,
          );
          return this.finish(state, "failed", "initialization", { stopRunner: true });
        }
        case "run-timeout": {
          const minutes = numberVar(this.env.BUILD_TIMEOUT_MINUTES, 20);
          this.systemLine(`platform: the build ran past its ${minutes}-minute limit and was terminated`);
          return this.finish(state, "terminated", "timeout", { stopRunner: true });
        }
        case "heartbeat-lost": {
          const seconds = this.heartbeatTimeoutMs() / 1000;
          this.systemLine(
            `platform: the runner stopped reporting for ${seconds} s; the build failed its health check`,
          );
          return this.finish(state, "failed", "health_check", { stopRunner: true });
        }
        case "seal-log":
          if (this.logs.seal() > 0) this.wakeReaders();
          return this.save(state);
        case "rearm":
          return this.save(state);
      }
    });
  }

  /**
   * Deletes everything this object keeps (state, log, alarm): its build's row is gone (its Worker was
   * deleted). Refused while the build has not stopped. A later call finds an empty object, as for a build
   * it never started.
   */
  async purge(): Promise<{ purged: boolean }> {
    return this.serial(async () => {
      const state = await this.load();
      if (state !== undefined && state.status !== "stopped") {
        throw new Error(`build ${state.buildUuid} is ${state.status}: cancel it before purging its log`);
      }
      const had = state !== undefined || (hasLogTables(this.ctx.storage) && this.logs.count() > 0);
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.purged = true;
      // deleteAll dropped the log's tables: the next use makes them again, empty.
      this.store = undefined;
      this.wakeReaders();
      return { purged: had };
    });
  }

  /** For tests and diagnostics. */
  async inspect(): Promise<{ state: BuddyState | undefined; lines: number; alarm: number | null }> {
    return { state: await this.load(), lines: this.logs.count(), alarm: await this.ctx.storage.getAlarm() };
  }
}
