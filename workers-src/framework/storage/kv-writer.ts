import { DurableObject } from "cloudflare:workers";

export { KV_WRITER_BINDING, KV_WRITER_CLASS } from "./kv-writer-names.js";

/** KV allows one write per second to a key: the writer sends a key's latest state at most this often. */
export const KV_FLUSH_INTERVAL_MS = 1000;

/** What the writer keeps of one KV key: the truth, of which KV holds a copy at most a flush behind. */
export interface WrittenState {
  /** The codec's text of the value; null when the key is deleted. */
  text: string | null;
  /** Incremented by every write the writer accepts; 0 before the first. */
  version: number;
  /** The user's metadata. */
  m?: unknown;
  /** Expiry, in seconds since the epoch (KV's unit). */
  x?: number;
}

/** One write, as the store sends it (values already encoded by the codec). */
export type WriteOp =
  | { kind: "put"; text: string; m?: unknown; x?: number }
  | { kind: "delete" }
  | {
      kind: "update";
      /** Called with the current text (undefined when missing or expired); answers the next text, or null to keep the key as it is. */
      next: (current: string | undefined) => Promise<string | null> | string | null;
      /** Refuse unless the key is at this version. */
      ifVersion?: number;
      /** KV's minimum: an expiry less than this far away is pushed out to it. */
      minTtlSeconds: number;
    };

export type WriteResult =
  | { ok: true; state: WrittenState; changed: boolean }
  | { ok: false; conflict: { expected: number; current: number } };

/** The envelope the store keeps in KV metadata: the user's metadata, the expiry and the version. */
export interface KvEnvelope {
  m?: unknown;
  x?: number;
  /** The writer's version of the key when this copy was written. */
  v?: number;
}

interface Stored {
  binding: string;
  key: string;
  state: WrittenState;
  /** Whether KV holds `state.version` already. */
  synced: boolean;
  lastFlush: number;
  /** Copies to KV that failed in a row. */
  failures?: number;
}

/**
 * The single writer of one KV key: every write of a store opened with a writer comes here, is applied in
 * arrival order to the state this object keeps (durable in its storage before the write is acknowledged),
 * and is then copied to KV, the latest state at most once a second (KV's per-key write limit), by this
 * object's alarm, which retries until KV took it. KV stays the fast, global read path, a moment behind;
 * `read` answers the acknowledged state at once. One object per namespace binding and key.
 */
export class KvWriter extends DurableObject<Record<string, unknown>> {
  /** Writes of this key, one after the other: a write that awaits its caller's function keeps its turn. */
  private tail: Promise<unknown> = Promise.resolve();
  private stored: Stored | undefined;

  /** The acknowledged state of `key`, loaded from KV the first time this object sees it. */
  async read(binding: string, key: string): Promise<WrittenState> {
    return this.live(await this.load(binding, key));
  }

  /** Applies one write after every write that arrived before it; answers the state it left. */
  write(binding: string, key: string, op: WriteOp): Promise<WriteResult> {
    const run = this.tail.then(() => this.apply(binding, key, op));
    this.tail = run.catch(() => undefined);
    return run;
  }

  override async alarm(): Promise<void> {
    const stored = this.stored ?? (await this.ctx.storage.get<Stored>("state"));
    if (!stored || stored.synced) return;
    this.stored = stored;
    try {
      await this.copy(stored);
    } catch (error) {
      // The runtime retries a failing alarm only a few times: the writer keeps trying on its own, later
      // and later (up to a minute apart), for as long as KV refuses the copy.
      stored.failures = (stored.failures ?? 0) + 1;
      await this.ctx.storage.put("state", stored);
      const backoff = Math.min(60_000, KV_FLUSH_INTERVAL_MS * 2 ** Math.min(stored.failures, 6));
      await this.ctx.storage.setAlarm(Date.now() + backoff);
      console.error(
        `KvWriter: copying ${stored.key} to KV failed (${String(error)}); retrying in ${backoff} ms`,
      );
    }
  }

  /** Copies the state to KV, and marks it copied unless a write came in meanwhile. */
  private async copy(stored: Stored): Promise<void> {
    const namespace = this.namespace(stored.binding);
    const { state } = stored;
    const live = this.live(state);
    if (live.text === null) await namespace.delete(stored.key);
    else {
      const envelope: KvEnvelope = { v: state.version };
      if (state.m !== undefined) envelope.m = state.m;
      if (state.x !== undefined) envelope.x = state.x;
      // KV refuses an expiry less than a minute away: one that came close while waiting is pushed to it.
      const x = state.x === undefined ? undefined : Math.max(state.x, Math.ceil(Date.now() / 1000) + 60);
      await namespace.put(stored.key, live.text, {
        ...(x !== undefined ? { expiration: x } : {}),
        metadata: envelope,
      });
    }
    // A write that came in while KV was written leaves the state unsynced for the next alarm.
    stored.lastFlush = Date.now();
    stored.failures = 0;
    if (stored.state.version === state.version) stored.synced = true;
    await this.ctx.storage.put("state", stored);
    if (!stored.synced) await this.ctx.storage.setAlarm(stored.lastFlush + KV_FLUSH_INTERVAL_MS);
  }

  private namespace(binding: string): KVNamespace {
    const namespace = this.env[binding] as KVNamespace | undefined;
    if (!namespace || typeof (namespace as KVNamespace).put !== "function") {
      throw new Error(`KvWriter: the Worker has no KV namespace bound as ${binding}`);
    }
    return namespace;
  }

  /** The state, with an expired key read as deleted. */
  private live(state: WrittenState): WrittenState {
    if (state.x !== undefined && state.x * 1000 <= Date.now()) return { text: null, version: state.version };
    return state;
  }

  /** The first load of this object's key, shared by every call that arrives while it runs. */
  private loading: Promise<WrittenState> | undefined;

  private load(binding: string, key: string): Promise<WrittenState> {
    if (this.stored) return Promise.resolve(this.check(binding, key));
    // One load for all: a read and a write that both arrive first must not each adopt KV's state, the
    // later one replacing what the earlier already wrote.
    this.loading ??= this.loadOnce(binding, key).finally(() => {
      this.loading = undefined;
    });
    return this.loading.then(() => this.check(binding, key));
  }

  private check(binding: string, key: string): WrittenState {
    const stored = this.stored as Stored;
    if (stored.binding !== binding || stored.key !== key) {
      throw new Error(`KvWriter: this object writes ${stored.binding}:${stored.key}, not ${binding}:${key}`);
    }
    return stored.state;
  }

  private async loadOnce(binding: string, key: string): Promise<WrittenState> {
    this.stored ??= await this.ctx.storage.get<Stored>("state");
    if (this.stored) {
      if (this.stored.binding !== binding || this.stored.key !== key) {
        throw new Error(
          `KvWriter: this object writes ${this.stored.binding}:${this.stored.key}, not ${binding}:${key}`,
        );
      }
      return this.stored.state;
    }
    // The first write of a key this writer has not seen: what KV holds (written before the writer was
    // used, or by a store without one) is the starting point.
    const { value, metadata } = await this.namespace(binding).getWithMetadata<KvEnvelope>(key, "text");
    const state: WrittenState = { text: value, version: metadata?.v ?? 0 };
    if (metadata?.m !== undefined) state.m = metadata.m;
    if (metadata?.x !== undefined) state.x = metadata.x;
    this.stored = { binding, key, state, synced: true, lastFlush: 0 };
    return state;
  }

  private async apply(binding: string, key: string, op: WriteOp): Promise<WriteResult> {
    const current = this.live(await this.load(binding, key));
    let next: WrittenState;
    if (op.kind === "put") {
      next = { text: op.text, version: current.version + 1 };
      if (op.m !== undefined) next.m = op.m;
      if (op.x !== undefined) next.x = op.x;
    } else if (op.kind === "delete") {
      if (current.text === null) return { ok: true, state: current, changed: false };
      next = { text: null, version: current.version + 1 };
    } else {
      if (op.ifVersion !== undefined && op.ifVersion !== current.version) {
        return { ok: false, conflict: { expected: op.ifVersion, current: current.version } };
      }
      const text = await op.next(current.text ?? undefined);
      if (text === null) return { ok: true, state: current, changed: false };
      next = { text, version: current.version + 1 };
      if (current.m !== undefined) next.m = current.m;
      // A key in its last minute is kept for KV's minimum rather than refused.
      if (current.x !== undefined)
        next.x = Math.max(current.x, Math.ceil(Date.now() / 1000) + op.minTtlSeconds);
    }
    const stored = this.stored as Stored;
    stored.state = next;
    stored.synced = false;
    // Durable before the write is acknowledged (the output gate holds the answer until it is).
    await this.ctx.storage.put("state", stored);
    const due = Math.max(Date.now(), stored.lastFlush + KV_FLUSH_INTERVAL_MS);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
    return { ok: true, state: next, changed: true };
  }
}
