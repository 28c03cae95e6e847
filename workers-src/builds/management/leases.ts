/**
 * The global capacity of a sharded scheduler, as the BuildCapacity Durable Object leases it to the shards:
 * pure decisions over the lease table, so that they can be tested by tables.
 *
 * Each shard holds a lease: `slots`, the most builds it may hold at once, until `expiresAt`. The shard
 * admits within its lease on its own and asks for more only when its queue wants more. A live lease
 * reserves `max(slots, held)`; an expired one only what its shard still holds (counted in PostgreSQL),
 * since the shard admits nothing after its lease ends. The reservations never add up to more than the
 * capacity, so the global limit holds across shards.
 *
 * Fairness: each shard reports its builds held and wanted by account slot (an account's first build,
 * second, ...), and the capacity is shared out level by level over every shard, as the single scheduler
 * admits by slot. A shard above its share is told to shrink: it keeps its running builds but admits no
 * more until it is below its share.
 */

export interface LeaseRecord {
  /** The scheduler object's name (`shard-<index>-of-<count>`). */
  shard: string;
  index: number;
  count: number;
  /** Builds the shard may hold at once. */
  slots: number;
  /** Builds the shard held when it last said (an upper bound: builds finish in between). */
  held: number;
  /** Builds it held or wanted when it last said, by account slot (see `Admission.demand`). */
  demand: number[];
  expiresAt: number;
  /** The lease ended without being renewed: `held` is what PostgreSQL counted since. */
  expired: boolean;
  /** Raised on every change the coordinator sends; a shard ignores an older one that arrives late. */
  seq: number;
}

export interface LeaseRequest {
  index: number;
  count: number;
  /** Builds the shard holds now, counting any admission it has in flight. */
  held: number;
  demand: number[];
}

export interface LeaseGrant {
  slots: number;
  expiresAt: number;
  seq: number;
}

/** A live shard holding more than its fair share, to be told to hold at most `slots`. */
export interface Shrink {
  shard: string;
  slots: number;
  seq: number;
}

/** What a lease holds back from the others. */
export function reserveOf(record: LeaseRecord): number {
  return record.expired ? record.held : Math.max(record.slots, record.held);
}

/**
 * Each shard's fair share of `capacity`, filled level by level: every account's first build (held or
 * wanted) on every shard before any account's second, as the single scheduler admits by slot. A level that
 * does not fit is split in proportion to each shard's demand at that level (remainders to the largest
 * fractions, then to the shard with less demand before that level, then by name).
 */
export function fairTargets(
  capacity: number,
  shards: { shard: string; demand: number[] }[],
): Map<string, number> {
  const targets = new Map(shards.map((s) => [s.shard, 0]));
  let free = capacity;
  const levels = Math.max(0, ...shards.map((s) => s.demand.length));
  for (let level = 0; level < levels && free > 0; level++) {
    const wants = shards.map((s) => ({ s, want: s.demand[level] ?? 0 })).filter((w) => w.want > 0);
    const need = wants.reduce((sum, w) => sum + w.want, 0);
    if (need <= free) {
      for (const { s, want } of wants) targets.set(s.shard, targets.get(s.shard)! + want);
      free -= need;
      continue;
    }
    const shares = wants.map(({ s, want }) => {
      const exact = (free * want) / need;
      return { shard: s.shard, whole: Math.floor(exact), fraction: exact - Math.floor(exact) };
    });
    let left = free - shares.reduce((sum, x) => sum + x.whole, 0);
    shares.sort(
      (a, b) =>
        b.fraction - a.fraction ||
        targets.get(a.shard)! - targets.get(b.shard)! ||
        (a.shard < b.shard ? -1 : 1),
    );
    for (const share of shares) {
      const extra = left > 0 ? 1 : 0;
      left -= extra;
      targets.set(share.shard, targets.get(share.shard)! + share.whole + extra);
    }
    free = 0;
  }
  return targets;
}

/** The fair shares of the live leases, of the capacity that expired leases' running builds leave. */
export function targetsOf(records: LeaseRecord[], capacity: number): Map<string, number> {
  const pinned = records.filter((r) => r.expired).reduce((sum, r) => sum + r.held, 0);
  return fairTargets(
    capacity - pinned,
    records.filter((r) => !r.expired),
  );
}

/**
 * A shard's request: its new lease (at most its fair share, at most what the others leave; below what it
 * holds, it admits nothing until enough of its builds finish) and the live shards above their fair share,
 * which are told to shrink. `nextSeq` numbers the changes; the answer says which number comes next.
 */
export function decideLease(
  records: LeaseRecord[],
  request: LeaseRequest,
  now: number,
  limits: { capacity: number; ttlMs: number },
  nextSeq: number,
): { records: LeaseRecord[]; grant: LeaseGrant; shrinks: Shrink[]; nextSeq: number } {
  const shard = `shard-${request.index}-of-${request.count}`;
  const others = records.filter((r) => r.shard !== shard);
  const self: LeaseRecord = {
    shard,
    index: request.index,
    count: request.count,
    slots: 0,
    held: request.held,
    demand: request.demand,
    expiresAt: now + limits.ttlMs,
    expired: false,
    seq: nextSeq++,
  };
  const targets = targetsOf([...others, self], limits.capacity);
  const leftByOthers = limits.capacity - others.reduce((sum, r) => sum + reserveOf(r), 0);
  self.slots = Math.max(0, Math.min(targets.get(shard)!, leftByOthers));
  const shrinks: Shrink[] = [];
  for (const r of others) {
    const target = targets.get(r.shard)!;
    if (!r.expired && r.slots > target) shrinks.push({ shard: r.shard, slots: target, seq: nextSeq++ });
  }
  return {
    records: [...others, self],
    grant: { slots: self.slots, expiresAt: self.expiresAt, seq: self.seq },
    shrinks,
    nextSeq,
  };
}

/**
 * A shard's answer to a shrink: it now holds at most `slots` (and at most `held` builds, counting an
 * admission in flight). Ignored when the lease changed since the shrink was sent, or when the shard could
 * not apply it (it had a newer lease, or none: then it admits nothing until it asks again).
 */
export function applyShrink(
  records: LeaseRecord[],
  shrink: Shrink,
  answer: { applied: boolean; held: number },
): LeaseRecord[] {
  return records.map((r) =>
    r.shard === shrink.shard && r.seq < shrink.seq && !r.expired && answer.applied
      ? { ...r, slots: Math.min(r.slots, shrink.slots), held: answer.held, seq: shrink.seq }
      : r,
  );
}

/**
 * Live shards that want more than they hold and whose fair share is above their lease, when some capacity
 * is left: it is theirs to ask for.
 */
export function starvedShards(records: LeaseRecord[], capacity: number): string[] {
  const targets = targetsOf(records, capacity);
  const left = capacity - records.reduce((sum, r) => sum + reserveOf(r), 0);
  if (left <= 0) return [];
  const wanted = (r: LeaseRecord) => r.demand.reduce((a, b) => a + b, 0) > r.held;
  return records
    .filter((r) => !r.expired && wanted(r) && targets.get(r.shard)! > r.slots)
    .map((r) => r.shard);
}

/** Leases past their end: to be counted in PostgreSQL and marked expired. */
export function dueToExpire(records: LeaseRecord[], now: number): LeaseRecord[] {
  return records.filter((r) => !r.expired && r.expiresAt <= now);
}
