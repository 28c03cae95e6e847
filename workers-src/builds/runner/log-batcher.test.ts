import { describe, expect, it } from "vitest";
import type { LogBatch } from "../shared/protocol";
import { LogBatcher } from "./log-batcher";
import { PermanentError } from "./retry";

const fastRetry = { initialDelayMs: 5, maxDelayMs: 20, deadlineMs: 5000 };

function recorder() {
  const sent: LogBatch[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    sent,
    maxInFlight: () => maxInFlight,
    send: async (batch: LogBatch) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      sent.push(batch);
    },
  };
}

describe("LogBatcher", () => {
  it("close() resolves with 0 and sends nothing when there were no lines", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send });
    expect(await batcher.close()).toBe(0);
    expect(target.sent).toEqual([]);
  });

  it("sends lines after the flush interval, without waiting for close()", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send, flushIntervalMs: 20 });
    batcher.push("one", 1);
    batcher.push("two", 2);
    // The timer sends them; how soon depends on the machine's load, so it is waited for, not timed.
    await expect.poll(() => target.sent.length, { timeout: 5_000, interval: 10 }).toBe(1);
    expect(target.sent).toEqual([
      {
        seq: 1,
        lines: [
          { ts: 1, line: "one" },
          { ts: 2, line: "two" },
        ],
      },
    ]);
    expect(await batcher.close()).toBe(1);
  });

  it("cuts a batch early once it is full, numbers batches 1..n and sends them one at a time", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send, flushIntervalMs: 10_000, maxBatchLines: 100 });
    for (let i = 0; i < 1050; i++) batcher.push(`line ${i}`);
    expect(await batcher.close()).toBe(11);
    expect(target.sent.map((batch) => batch.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(target.sent.map((batch) => batch.lines.length)).toEqual([...Array(10).fill(100), 50]);
    expect(target.sent.flatMap((batch) => batch.lines.map((l) => l.line))).toEqual(
      Array.from({ length: 1050 }, (_, i) => `line ${i}`),
    );
    expect(target.maxInFlight()).toBe(1);
  });

  it("never puts more than MAX_LOG_BATCH_LINES lines in a batch", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send, flushIntervalMs: 10_000, maxBatchLines: 1_000_000 });
    for (let i = 0; i < 5001; i++) batcher.push("x");
    await batcher.close();
    expect(target.sent.map((batch) => batch.lines.length)).toEqual([5000, 1]);
  });

  it("cuts a batch early once its lines add up to the size limit", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send, flushIntervalMs: 10_000, maxBatchChars: 1000 });
    for (let i = 0; i < 4; i++) batcher.push("y".repeat(400));
    await batcher.close();
    expect(target.sent.map((batch) => batch.lines.length)).toEqual([3, 1]);
  });

  it("retries a failed batch with the same seq, before any later batch", async () => {
    const attempts: number[] = [];
    const delivered: number[] = [];
    const failuresLeft = new Map([
      [2, 2],
      [3, 1],
    ]);
    const batcher = new LogBatcher({
      flushIntervalMs: 10_000,
      maxBatchLines: 1,
      retry: fastRetry,
      send: async (batch) => {
        attempts.push(batch.seq);
        const left = failuresLeft.get(batch.seq) ?? 0;
        if (left > 0) {
          failuresLeft.set(batch.seq, left - 1);
          throw new Error("503");
        }
        delivered.push(batch.seq);
      },
    });
    for (const line of ["a", "b", "c", "d"]) batcher.push(line);
    expect(await batcher.close()).toBe(4);
    expect(attempts).toEqual([1, 2, 2, 2, 3, 3, 4]);
    expect(delivered).toEqual([1, 2, 3, 4]);
  });

  it("gives up on a permanent failure, reports it, and close() returns the last seq delivered", async () => {
    const givenUp: number[] = [];
    const delivered: number[] = [];
    const batcher = new LogBatcher({
      flushIntervalMs: 10_000,
      maxBatchLines: 1,
      retry: fastRetry,
      onGiveUp: (_error, batch) => givenUp.push(batch.seq),
      send: async (batch) => {
        if (batch.seq === 2) throw new PermanentError("400 bad batch");
        delivered.push(batch.seq);
      },
    });
    batcher.push("a");
    batcher.push("b");
    batcher.push("c");
    expect(await batcher.close()).toBe(1);
    expect(delivered).toEqual([1]);
    expect(givenUp).toEqual([2]);
  });

  it("ignores lines pushed after close()", async () => {
    const target = recorder();
    const batcher = new LogBatcher({ send: target.send });
    batcher.push("kept");
    await batcher.close();
    batcher.push("late");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(target.sent.flatMap((batch) => batch.lines.map((l) => l.line))).toEqual(["kept"]);
  });
});
