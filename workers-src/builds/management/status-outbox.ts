/**
 * The BuildBuddy's outbox of commit statuses. A state change only records the newest report in storage
 * (never awaiting the provider); the BuildBuddy's alarm sends it. Reports are ordered by rank (queued <
 * running < stopped): a lower one never replaces a higher one, and only the newest is ever sent or re-sent,
 * one send at a time, so a late `pending` cannot land after `success`. A failed send is retried with
 * backoff; the provider's token is read (and unsealed) at send time and never stored here or logged.
 */
import {
  answerVerdict,
  MAX_STATUS_ATTEMPTS,
  reportRank,
  retryDelayMs,
  type StatusReport,
  type StatusTarget,
  statusRequest,
} from "../lib/commit-status";

const KEY = "commitStatus";
/** How long one send may take; its claim lasts a little longer, so that an eviction mid-send is retried. */
export const STATUS_SEND_TIMEOUT_MS = 10_000;
const CLAIM_MS = STATUS_SEND_TIMEOUT_MS + 5_000;

export interface OutboxRecord {
  buildUuid: string;
  report: StatusReport;
  /** Bumped by every report taken: a send that ends after a newer report arrived does not mark that one sent. */
  seq: number;
  /** The seq last sent or given up. */
  doneSeq: number;
  /** Failed attempts at `seq`. */
  attempts: number;
  /** When to send next; absent while nothing is to be sent, or the commit is not known yet. */
  dueAt?: number;
  /** A send is in flight until then (or its object was evicted during it, and it is tried again then). */
  sendingUntil?: number;
  /** The Client Worker's origin: the status links to the build there. */
  link?: string;
}

/** Where a build's reports go, as read at send time; null when its repository connection has no token. */
export type StatusSubject =
  | (Omit<StatusTarget, "sha"> & { sha: string | null; previewUrl: string | null })
  | null;

export interface OutboxDeps {
  /** The build's commit and repository connection (token unsealed); null: nothing to report to. */
  lookup(buildUuid: string): Promise<StatusSubject>;
  fetch: typeof fetch;
  log(level: "info" | "warn", message: string, fields: Record<string, unknown>): void;
}

/** A due report, claimed for one send. */
export interface Claim {
  seq: number;
  buildUuid: string;
  report: StatusReport;
  link?: string;
}

export class StatusOutbox {
  constructor(private readonly storage: DurableObjectStorage) {}

  read(): Promise<OutboxRecord | undefined> {
    return this.storage.get<OutboxRecord>(KEY);
  }

  /** When the alarm must next run for the outbox (undefined: nothing to send). */
  async dueAt(): Promise<number | undefined> {
    return (await this.read())?.dueAt;
  }

  /**
   * Takes a report of the build. Without `enable`, only a build already reporting takes it (its repository
   * had a status token when it was queued or started). A report not above the newest one changes nothing,
   * but a link given with it is kept. Answers when the alarm must run for it.
   */
  async take(
    buildUuid: string,
    report: StatusReport,
    options: { enable?: boolean; link?: string },
    now: number,
  ): Promise<number | undefined> {
    const record = await this.read();
    if (record === undefined && !options.enable) return undefined;
    const link = record?.link ?? options.link;
    if (record !== undefined && reportRank(report) <= reportRank(record.report)) {
      if (link !== record.link) await this.storage.put(KEY, { ...record, link });
      return record.dueAt;
    }
    const seq = (record?.seq ?? 0) + 1;
    const next: OutboxRecord = {
      buildUuid,
      report,
      seq,
      doneSeq: record?.doneSeq ?? 0,
      attempts: 0,
      // A send in flight keeps its claim: the new report goes once it ends, never beside it.
      dueAt: record?.sendingUntil !== undefined && record.sendingUntil > now ? record.sendingUntil : now,
      ...(record?.sendingUntil === undefined ? {} : { sendingUntil: record.sendingUntil }),
      ...(link === undefined ? {} : { link }),
    };
    await this.storage.put(KEY, next);
    return next.dueAt;
  }

  /**
   * The build's commit became known: a report that waited for it is due now. Answers when the alarm must
   * run for it, or undefined when nothing waited.
   */
  async commitKnown(now: number): Promise<number | undefined> {
    const record = await this.read();
    if (record === undefined || record.dueAt !== undefined || record.doneSeq >= record.seq) return undefined;
    await this.storage.put(KEY, { ...record, dueAt: now });
    return now;
  }

  /** The report due at `now`, claimed (its due time moved past the send's timeout); undefined if none. */
  async claim(now: number): Promise<Claim | undefined> {
    const record = await this.read();
    if (record?.dueAt === undefined || record.dueAt > now || record.doneSeq >= record.seq) return undefined;
    await this.storage.put(KEY, { ...record, dueAt: now + CLAIM_MS, sendingUntil: now + CLAIM_MS });
    return { seq: record.seq, buildUuid: record.buildUuid, report: record.report, link: record.link };
  }

  /** Sends a claimed report and records how it went. Never throws. */
  async send(claim: Claim, deps: OutboxDeps, now: () => number): Promise<void> {
    const fields = { build_uuid: claim.buildUuid, report: describe(claim.report) };
    let outcome: { kind: "done" } | { kind: "wait" } | { kind: "retry"; retryAfter?: string | null };
    try {
      const subject = await deps.lookup(claim.buildUuid);
      if (subject === null) {
        deps.log("info", "commit status not sent: the repository connection has no status token", fields);
        outcome = { kind: "done" };
      } else if (subject.sha === null) {
        // A build of a branch learns its commit from the runner; the running report carries it.
        outcome = claim.report.state === "stopped" ? { kind: "done" } : { kind: "wait" };
        if (outcome.kind === "done")
          deps.log("info", "commit status not sent: the build has no commit", fields);
      } else {
        const target = { ...subject, sha: subject.sha };
        const request = statusRequest(target, claim.report, {
          targetUrl: claim.link === undefined ? undefined : `${claim.link}/api/builds/${claim.buildUuid}`,
          previewUrl: subject.previewUrl,
        });
        outcome = await post(request, deps, {
          ...fields,
          provider: subject.provider,
          state: request.body.state,
        });
      }
    } catch (err) {
      deps.log("warn", "commit status could not be prepared", { ...fields, error: (err as Error).message });
      outcome = { kind: "retry" };
    }
    await this.settle(claim, outcome, deps, now());
  }

  private async settle(
    claim: Claim,
    outcome: { kind: "done" } | { kind: "wait" } | { kind: "retry"; retryAfter?: string | null },
    deps: OutboxDeps,
    now: number,
  ): Promise<void> {
    const stored = await this.read();
    if (stored === undefined) return;
    const { sendingUntil: _, ...record } = stored;
    if (record.seq !== claim.seq) {
      // A newer report arrived during the send: it goes next, whatever became of this one.
      await this.storage.put(KEY, { ...record, doneSeq: Math.max(record.doneSeq, claim.seq), dueAt: now });
      return;
    }
    if (outcome.kind === "done") {
      await this.storage.put(KEY, { ...record, doneSeq: claim.seq, dueAt: undefined });
      return;
    }
    if (outcome.kind === "wait") {
      await this.storage.put(KEY, { ...record, dueAt: undefined });
      return;
    }
    const attempts = record.attempts + 1;
    if (attempts >= MAX_STATUS_ATTEMPTS) {
      deps.log("warn", `commit status given up after ${attempts} attempts`, {
        build_uuid: claim.buildUuid,
        report: describe(claim.report),
      });
      await this.storage.put(KEY, { ...record, attempts, doneSeq: claim.seq, dueAt: undefined });
      return;
    }
    await this.storage.put(KEY, {
      ...record,
      attempts,
      dueAt: now + retryDelayMs(attempts, outcome.retryAfter),
    });
  }
}

async function post(
  request: ReturnType<typeof statusRequest>,
  deps: OutboxDeps,
  fields: Record<string, unknown>,
): Promise<{ kind: "done" } | { kind: "retry"; retryAfter?: string | null }> {
  let res: Response;
  try {
    res = await deps.fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: JSON.stringify(request.body),
      signal: AbortSignal.timeout(STATUS_SEND_TIMEOUT_MS),
    });
  } catch (err) {
    deps.log("warn", "commit status not delivered; trying again", { ...fields, error: (err as Error).name });
    return { kind: "retry" };
  }
  // The answer is read for the log only, cut short; a provider does not echo the token.
  const answer = (await res.text().catch(() => "")).slice(0, 200);
  const verdict = answerVerdict(res.status, res.headers);
  if (verdict === "sent") return { kind: "done" };
  if (verdict === "retry") {
    deps.log("warn", `commit status answered ${res.status}; trying again`, { ...fields, answer });
    return { kind: "retry", retryAfter: res.headers.get("retry-after") };
  }
  deps.log("warn", `commit status refused with ${res.status}; not sent again`, { ...fields, answer });
  return { kind: "done" };
}

function describe(report: StatusReport): string {
  return report.state === "stopped" ? `stopped:${report.outcome}` : report.state;
}
