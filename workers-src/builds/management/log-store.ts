import type { LogLine } from "../shared/protocol";
import { MAX_LOG_LINE_BYTES } from "../shared/protocol";

export interface AppendResult {
  /** Lines that became readable (batches arriving out of order wait for the ones before them). */
  added: number;
  duplicate: boolean;
}

type LogState = {
  next_seq: number;
  next_n: number;
  sealed: number;
};

/**
 * A build's log in its Durable Object's SQLite storage. Batches carry sequence numbers 1, 2, 3, ...; a
 * batch is stored once however often it is sent, and lines become readable in sequence order: a batch that
 * arrives before its predecessor waits (durably) until the gap is filled or the log is sealed. Readable lines
 * are numbered 1, 2, 3, ... and that number is the reader's cursor, so pages never skip or repeat a line.
 */
export class LogStore {
  constructor(private readonly storage: DurableObjectStorage) {
    storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS log_lines (n INTEGER PRIMARY KEY, ts INTEGER NOT NULL, line TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS log_pending (seq INTEGER PRIMARY KEY, lines TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS log_seen (seq INTEGER PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS log_state (
        id INTEGER PRIMARY KEY CHECK (id = 1), next_seq INTEGER NOT NULL, next_n INTEGER NOT NULL, sealed INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO log_state (id, next_seq, next_n, sealed) VALUES (1, 1, 1, 0);
    `);
  }

  private state(): LogState {
    return this.storage.sql
      .exec<LogState>("SELECT next_seq, next_n, sealed FROM log_state WHERE id = 1")
      .one();
  }

  /** Stores batch `seq`; atomic, so a batch is either wholly stored or not at all. */
  append(seq: number, lines: LogLine[]): AppendResult {
    return this.storage.transactionSync(() => {
      const state = this.state();
      const seen = this.storage.sql.exec("SELECT 1 FROM log_seen WHERE seq = ?", seq).toArray().length > 0;
      if (seen) return { added: 0, duplicate: true };
      this.storage.sql.exec("INSERT INTO log_seen (seq) VALUES (?)", seq);
      if (seq !== state.next_seq && !state.sealed) {
        this.storage.sql.exec(
          "INSERT INTO log_pending (seq, lines) VALUES (?, ?)",
          seq,
          JSON.stringify(lines),
        );
        return { added: 0, duplicate: false };
      }
      let n = state.next_n;
      n = this.insert(n, lines);
      let next = seq + 1;
      for (;;) {
        const row = this.storage.sql
          .exec<{ lines: string }>("SELECT lines FROM log_pending WHERE seq = ?", next)
          .toArray()[0];
        if (!row) break;
        n = this.insert(n, JSON.parse(row.lines) as LogLine[]);
        this.storage.sql.exec("DELETE FROM log_pending WHERE seq = ?", next);
        next++;
      }
      this.storage.sql.exec(
        "UPDATE log_state SET next_seq = max(next_seq, ?), next_n = ? WHERE id = 1",
        next,
        n,
      );
      return { added: n - state.next_n, duplicate: false };
    });
  }

  private insert(first: number, lines: LogLine[]): number {
    let n = first;
    for (const { ts, line } of lines) {
      this.storage.sql.exec("INSERT INTO log_lines (n, ts, line) VALUES (?, ?, ?)", n++, ts, clip(line));
    }
    return n;
  }

  /**
   * No more batches are awaited: waiting batches become readable in sequence order, past any gap, and
   * later batches are appended as they come. Answers how many lines became readable.
   */
  seal(): number {
    return this.storage.transactionSync(() => {
      const state = this.state();
      let n = state.next_n;
      let next = state.next_seq;
      for (const row of this.storage.sql
        .exec<{ seq: number; lines: string }>("SELECT seq, lines FROM log_pending ORDER BY seq")
        .toArray()) {
        n = this.insert(n, JSON.parse(row.lines) as LogLine[]);
        next = row.seq + 1;
      }
      this.storage.sql.exec("DELETE FROM log_pending");
      this.storage.sql.exec(
        "UPDATE log_state SET next_seq = ?, next_n = ?, sealed = 1 WHERE id = 1",
        next,
        n,
      );
      return n - state.next_n;
    });
  }

  /** The platform's own lines (not the runner's): readable at once, after whatever is readable now. */
  appendSystem(lines: LogLine[]): number {
    return this.storage.transactionSync(() => {
      const state = this.state();
      const n = this.insert(state.next_n, lines);
      this.storage.sql.exec("UPDATE log_state SET next_n = ? WHERE id = 1", n);
      return n - state.next_n;
    });
  }

  /** No more batches are awaited (`seal` ran). */
  sealed(): boolean {
    return this.state().sealed === 1;
  }

  /** Whether every batch up to `lastSeq` is readable (or the log was sealed). */
  complete(lastSeq: number): boolean {
    const state = this.state();
    return state.sealed === 1 || state.next_seq > lastSeq;
  }

  /** Lines after cursor `after` (0: from the start). */
  read(after: number, limit: number): { lines: LogLine[]; last: number } {
    const rows = this.storage.sql
      .exec<{ n: number; ts: number; line: string }>(
        "SELECT n, ts, line FROM log_lines WHERE n > ? ORDER BY n LIMIT ?",
        after,
        limit,
      )
      .toArray();
    return { lines: rows.map(({ ts, line }) => ({ ts, line })), last: rows.at(-1)?.n ?? after };
  }

  count(): number {
    return this.state().next_n - 1;
  }
}

const encoder = new TextEncoder();

function clip(line: string): string {
  if (line.length * 3 <= MAX_LOG_LINE_BYTES) return line;
  const bytes = encoder.encode(line);
  if (bytes.length <= MAX_LOG_LINE_BYTES) return line;
  return `${new TextDecoder().decode(bytes.slice(0, MAX_LOG_LINE_BYTES)).replace(/\uFFFD$/, "")}…`;
}
