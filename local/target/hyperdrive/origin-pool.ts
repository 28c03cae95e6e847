import net from "node:net";
import { connectOrigin, type Origin, type OriginConnection, OriginError } from "./origin";
import { cancelRequest, query, sync } from "./pg-wire";

/** A query still running when its client went away is cancelled after this long... */
const DRAIN_CANCEL_MS = 100;
/** ...and its connection closed after this long. */
const DRAIN_GIVE_UP_MS = 5000;

export interface OriginPoolOptions {
  /** Most connections open to the origin at once; more clients wait in line. @default 20 */
  maxConnections?: number;
  /** An idle connection is closed after this long. @default 60000 */
  idleTimeoutMs?: number;
  /** Opening a connection to the origin fails after this long. @default 15000 */
  connectTimeoutMs?: number;
  /** A client waiting for a connection is refused after this long. @default 30000 */
  acquireTimeoutMs?: number;
  /** Shown in `pg_stat_activity`. @default "local-hyperdrive" */
  applicationName?: string;
}

interface Waiter {
  resolve(conn: OriginConnection): void;
  reject(err: Error): void;
  done: boolean;
  timer?: NodeJS.Timeout;
}

/** A place in the line for a connection. */
export interface Acquisition {
  connection: Promise<OriginConnection>;
  /** Leaves the line; a connection handed over meanwhile must still be released. */
  cancel(): void;
}

/** Counters of a pool, for tests and benchmarks. */
export interface OriginPoolStats {
  /** Connections open or opening. */
  open: number;
  idle: number;
  /** Clients waiting for a connection. */
  waiting: number;
  /** Connections opened since the start. */
  opened: number;
  /** Connections handed out since the start. */
  acquired: number;
  /** The most clients that waited at once. */
  peakWaiting: number;
}

/**
 * Warm, authenticated connections to one origin. `acquire` hands out an idle one, opens one while fewer
 * than `maxConnections` are open, and otherwise queues the caller. `release` makes a connection free for
 * the next holder, whose first write starts with `DISCARD ALL`; one left inside a transaction is rolled
 * back and reset first, one that cannot be made clean is closed.
 */
export class OriginPool {
  private readonly idle: OriginConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly all = new Set<OriginConnection>();
  private opening = 0;
  /** Connections being drained, rolled back and reset before they are free again. */
  private resetting = 0;
  private closed = false;
  private readonly counters = { opened: 0, acquired: 0, peakWaiting: 0 };
  private readonly max: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly applicationName: string;
  /** ParameterStatus values of the origin, known once a connection was opened. */
  params?: [string, string][];

  constructor(
    readonly origin: Origin,
    options: OriginPoolOptions = {},
  ) {
    this.max = options.maxConnections ?? 20;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? 30_000;
    this.applicationName = options.applicationName ?? "local-hyperdrive";
  }

  stats(): OriginPoolStats {
    return {
      open: this.all.size + this.opening,
      idle: this.idle.length,
      waiting: this.waiters.length,
      ...this.counters,
    };
  }

  /**
   * A clean connection for the caller alone until `release`; `cancel` leaves the line (the client went
   * away while it waited).
   */
  acquire(): Acquisition {
    if (this.closed) return { connection: Promise.reject(shuttingDown()), cancel: () => undefined };
    let waiter!: Waiter;
    const connection = new Promise<OriginConnection>((resolve, reject) => {
      waiter = { resolve, reject, done: false };
    });
    this.waiters.push(waiter);
    this.counters.peakWaiting = Math.max(this.counters.peakWaiting, this.waiters.length);
    this.pump();
    if (!waiter.done) {
      waiter.timer = setTimeout(() => {
        const busy = `all ${this.max} connections of the local Hyperdrive to ${this.origin.host}:${this.origin.port} stayed busy for ${this.acquireTimeoutMs} ms`;
        this.hand(
          waiter,
          new OriginError(
            "53300",
            "Failed to acquire a connection from the pool.",
            busy,
            "Hold connections for less time: long transactions keep others waiting.",
          ),
        );
      }, this.acquireTimeoutMs);
    }
    return { connection, cancel: () => this.hand(waiter, new Error("the client went away")) };
  }

  /**
   * Gives a connection back. A clean one is free at once, and the next holder's first write starts with
   * its reset (`DISCARD ALL`). One left in a transaction is rolled back and reset first. One whose last
   * request is still being answered (its client went away meanwhile) gets its answers drained, its query
   * cancelled when they take long, and is then treated the same way; it is closed when that fails.
   */
  release(conn: OriginConnection): void {
    conn.sink = undefined;
    if (this.closed || conn.closed || conn.failed) {
      // A backend busy with a query would only notice the closed socket once the query ends.
      if (conn.pending > 0) this.cancel(conn);
      conn.close(true);
      return;
    }
    if (conn.clean) {
      this.handBack(conn);
      return;
    }
    this.resetting++;
    this.makeClean(conn).then(
      (ok) => {
        this.resetting--;
        if (ok && conn.clean && !this.closed) this.handBack(conn);
        else conn.close(true);
      },
      () => {
        this.resetting--;
        conn.close(true);
      },
    );
  }

  /** Waits for what the last holder left under way, then rolls back and resets; answers whether it could. */
  private async makeClean(conn: OriginConnection): Promise<boolean> {
    if (conn.pending > 0 || conn.unsynced) {
      if (conn.unsynced) conn.send(sync()); // extended-query messages the client sent no Sync after
      const cancel = setTimeout(() => this.cancel(conn), DRAIN_CANCEL_MS);
      const giveUp = setTimeout(() => conn.close(true), DRAIN_GIVE_UP_MS);
      const answered = await conn.whenAnswered();
      clearTimeout(cancel);
      clearTimeout(giveUp);
      if (!answered) return false;
    }
    if (conn.clean) return true;
    const reset = await conn.run(Buffer.concat([query("ROLLBACK"), query("DISCARD ALL")]), 2);
    if (reset) conn.used = false;
    return reset;
  }

  /** A clean connection is free at once; the next holder's first write starts with its reset, if due. */
  private handBack(conn: OriginConnection): void {
    if (conn.used) conn.stale = true;
    conn.used = false;
    this.available(conn);
  }

  /** Asks the origin to cancel what the connection's backend runs, on a connection of its own. */
  cancel(conn: OriginConnection): void {
    const { host, port } = this.origin;
    const socket = net.connect({ host, port }, () =>
      socket.end(cancelRequest(conn.key.pid, conn.key.secret)),
    );
    socket.on("error", () => undefined);
  }

  /** Closes every connection and refuses every waiter; resolves once the origin sockets are closed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.waiters]) this.hand(w, shuttingDown());
    this.idle.length = 0;
    await Promise.all(
      [...this.all].map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.closed) return resolve();
            const before = conn.onClose;
            conn.onClose = () => {
              before?.();
              resolve();
            };
            conn.close();
          }),
      ),
    );
  }

  /** Takes a waiter out of the line with a connection or an error; false when it had left already. */
  private hand(w: Waiter, outcome: OriginConnection | Error): boolean {
    if (w.done) return false;
    w.done = true;
    this.waiters.splice(this.waiters.indexOf(w), 1);
    clearTimeout(w.timer);
    if (outcome instanceof Error) w.reject(outcome);
    else {
      this.counters.acquired++;
      w.resolve(outcome);
    }
    return true;
  }

  /** A connection that is free and clean goes to the first in line, or waits idle until its idle timeout. */
  private available(conn: OriginConnection): void {
    const waiter = this.waiters[0];
    if (waiter) {
      this.hand(waiter, conn);
      return;
    }
    this.idle.push(conn);
    conn.idleTimer = setTimeout(() => {
      const at = this.idle.indexOf(conn);
      if (at >= 0) this.idle.splice(at, 1);
      conn.close();
    }, this.idleTimeoutMs);
    conn.idleTimer.unref();
  }

  private pump(): void {
    while (this.waiters.length > 0) {
      const conn = this.idle.pop(); // the most recently used: the others reach their idle timeout
      if (conn) {
        clearTimeout(conn.idleTimer);
        this.available(conn);
        continue;
      }
      // Connections being reset or opened serve the first in line within a moment: a new connection is
      // opened only for those beyond them, and never beyond the limit.
      if (this.resetting + this.opening >= this.waiters.length) return;
      if (this.all.size + this.opening >= this.max) return;
      this.open();
    }
  }

  private open(): void {
    this.opening++;
    connectOrigin(this.origin, {
      timeoutMs: this.connectTimeoutMs,
      applicationName: this.applicationName,
    }).then(
      (conn) => {
        this.opening--;
        this.counters.opened++;
        this.params ??= conn.params;
        this.all.add(conn);
        conn.onClose = () => {
          this.all.delete(conn);
          const at = this.idle.indexOf(conn);
          if (at >= 0) this.idle.splice(at, 1);
          this.pump();
        };
        if (this.closed) conn.close();
        else this.available(conn);
      },
      (err: Error) => {
        this.opening--;
        // The first in line hears why; the others get a connection attempt of their own.
        const waiter = this.waiters[0];
        if (waiter) this.hand(waiter, err);
        this.pump();
      },
    );
  }
}

const shuttingDown = () => new OriginError("57P01", "the local Hyperdrive is shutting down");
