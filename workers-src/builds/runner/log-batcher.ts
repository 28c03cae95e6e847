import { type LogBatch, type LogLine, MAX_LOG_BATCH_LINES } from "../shared/protocol";
import { type RetryOptions, withRetry } from "./retry";

export interface LogBatcherOptions {
  /** Delivers one batch; a rejection means "try again later" (the batch keeps its seq). */
  send: (batch: LogBatch) => Promise<void>;
  /** Longest time a line waits before its batch is sent. @default 1000 */
  flushIntervalMs?: number;
  /** A batch is cut as soon as it holds this many lines (at most MAX_LOG_BATCH_LINES). @default 1000 */
  maxBatchLines?: number;
  /** A batch is cut as soon as its lines add up to about this many characters. @default 1 MiB */
  maxBatchChars?: number;
  /** Retrying of a failing batch; once it runs out, the batcher stops sending. @default 5 minutes */
  retry?: RetryOptions;
  /** Told when a batch could not be delivered in the end; later lines are then dropped. */
  onGiveUp?: (error: unknown, batch: LogBatch) => void;
}

/**
 * Collects log lines and sends them in numbered batches (seq 1, 2, 3, ...), one at a time and in order.
 * A batch that fails is sent again with the same seq, so the receiver can store each batch once.
 */
export class LogBatcher {
  private readonly send: (batch: LogBatch) => Promise<void>;
  private readonly intervalMs: number;
  private readonly maxLines: number;
  private readonly maxChars: number;
  private readonly retry: RetryOptions;
  private readonly onGiveUp?: (error: unknown, batch: LogBatch) => void;

  private pending: LogLine[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly queue: LogBatch[] = [];
  private nextSeq = 1;
  private lastSent = 0;
  private draining = false;
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;
  private failed = false;

  constructor(options: LogBatcherOptions) {
    this.send = options.send;
    this.intervalMs = options.flushIntervalMs ?? 1000;
    this.maxLines = Math.min(options.maxBatchLines ?? 1000, MAX_LOG_BATCH_LINES);
    this.maxChars = options.maxBatchChars ?? 1024 * 1024;
    this.retry = { deadlineMs: 5 * 60_000, ...options.retry };
    this.onGiveUp = options.onGiveUp;
  }

  /** Sequence number of the last batch that was delivered (0: none). */
  get lastSentSeq(): number {
    return this.lastSent;
  }

  /** Adds one (already masked) line; ignored after `close()` or once delivery has failed for good. */
  push(line: string, ts: number = Date.now()): void {
    if (this.closed || this.failed) return;
    this.pending.push({ ts, line });
    // 32: roughly what the JSON around a line adds.
    this.pendingChars += line.length + 32;
    if (this.pending.length >= this.maxLines || this.pendingChars >= this.maxChars) this.cut();
    else this.timer ??= setTimeout(() => this.cut(), this.intervalMs);
  }

  /** Sends everything still pending and resolves with the seq of the last batch delivered (0: none). */
  async close(): Promise<number> {
    this.cut();
    this.closed = true;
    if (this.draining) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    return this.lastSent;
  }

  private cut(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.failed) return;
    this.queue.push({ seq: this.nextSeq++, lines: this.pending });
    this.pending = [];
    this.pendingChars = 0;
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  private async drain(): Promise<void> {
    for (let batch = this.queue[0]; batch; batch = this.queue[0]) {
      const current = batch;
      try {
        await withRetry(() => this.send(current), this.retry);
        this.lastSent = current.seq;
        this.queue.shift();
      } catch (error) {
        this.failed = true;
        this.queue.length = 0;
        this.pending = [];
        this.onGiveUp?.(error, current);
      }
    }
    this.draining = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
