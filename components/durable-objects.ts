/**
 * Pure planner for a Worker's Durable Object migrations: which steps of the append-only history an upload
 * carries, given the script's live migration tag, its bindings and its bundle's exports. No I/O.
 */
import { createHash } from "node:crypto";

/** One tagged step of a Worker's append-only Durable Object migration history. */
export interface DurableObjectMigration {
  /** Unique, non-empty, `[A-Za-z0-9._-]+` (no `@`: the uploaded tag appends `@<fingerprint>`). */
  tag: string;
  /** Classes created SQLite-backed (the default for new classes). */
  newClasses?: string[];
  /** Legacy key-value-backed classes, only when asked for explicitly (new accounts reject them). */
  newKvClasses?: string[];
  renamedClasses?: { from: string; to: string }[];
  deletedClasses?: string[];
  transferredClasses?: { from: string; fromScript: string; to: string }[];
  /** Required on a step that deletes or transfers classes: those objects' data is destroyed or moved. @default false */
  allowDataLoss?: boolean;
}

export interface MigrationPlanInput {
  scriptName: string;
  history: DurableObjectMigration[];
  /** The script's live `migration_tag` as Cloudflare reports it; undefined when it has none. */
  liveTag: string | undefined;
  /** Class names of `durable_object_namespace` bindings without a `scriptName` (the script's own classes). */
  boundClasses: string[];
  /** Names the bundled entry module exports. */
  exportedClasses: string[];
}

/** What the upload carries, in the shape of @pulumi/cloudflare's WorkersScript `migrations` input. */
export type MigrationUpload = { oldTag?: string; newTag: string; steps: MigrationUploadStep[] };

export interface MigrationUploadStep {
  newSqliteClasses?: string[];
  newClasses?: string[];
  renamedClasses?: { from: string; to: string }[];
  deletedClasses?: string[];
  transferredClasses?: { from: string; fromScript: string; to: string }[];
}

export interface MigrationPlan {
  /** The migration to send, or undefined when nothing is pending. */
  upload: MigrationUpload | undefined;
  /** Tags of the steps the upload carries, in order. */
  pending: string[];
}

/** A refused plan; `problems` holds one line per problem, `message` all of them. */
export class MigrationPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "MigrationPlanError";
  }
}

const TAG = /^[A-Za-z0-9._-]+$/;

/** The tag sent to Cloudflare for step `index`: `<tag>@<fingerprint of steps 0..index>`. */
export function uploadTag(history: DurableObjectMigration[], index: number): string {
  const step = history[index];
  if (!step) throw new RangeError(`uploadTag: no step at index ${index} (history has ${history.length})`);
  // allowDataLoss is left out on purpose: adding the opt-in after the fact does not rewrite history.
  const canonical = history
    .slice(0, index + 1)
    .map((s) => [
      s.tag,
      s.newClasses ?? [],
      s.newKvClasses ?? [],
      (s.renamedClasses ?? []).map((r) => [r.from, r.to]),
      s.deletedClasses ?? [],
      (s.transferredClasses ?? []).map((t) => [t.from, t.fromScript, t.to]),
    ]);
  const fingerprint = createHash("sha256").update(JSON.stringify(canonical)).digest("hex").slice(0, 10);
  return `${step.tag}@${fingerprint}`;
}

/** Splits an uploaded tag on its last `@`; a tag set by other tools (wrangler's `v1`) has no fingerprint. */
export function parseUploadTag(tag: string): { tag: string; fingerprint: string | undefined } {
  const at = tag.lastIndexOf("@");
  return at < 0 ? { tag, fingerprint: undefined } : { tag: tag.slice(0, at), fingerprint: tag.slice(at + 1) };
}

/** Where a Durable Object class keeps its objects' data. */
export type DurableObjectStorage = "sqlite" | "kv";

/** A class alive after a replayed history. */
export interface LiveClass {
  /**
   * SQLite (`newClasses`) or the legacy key-value store (`newKvClasses`), kept through renames; undefined
   * for a class transferred from another script, which keeps that script's storage (not in this history).
   */
  storage: DurableObjectStorage | undefined;
  /** How it came to be, for messages: `created by step "v1"`, `renamed from Room by step "v2"`… */
  origin: string;
}

/** How a class left the history (the last step that deleted it or renamed it away). */
export interface RemovedClass {
  index: number;
  tag: string;
  renamedTo?: string;
}

/** The classes a history leaves, and what in it does not fit the classes alive at its step. */
export interface MigrationReplay {
  /** Class name → how it came to be and its storage, in the order the classes were created. */
  live: Map<string, LiveClass>;
  /** Classes deleted or renamed away and not created again since. */
  removed: Map<string, RemovedClass>;
  /**
   * One per operation that does not fit (a class created twice, a rename or deletion of a class that
   * does not exist at that step), with the index of its step. The operation is skipped, except that a
   * class created twice is created again.
   */
  problems: { index: number; text: string }[];
}

/**
 * Replays a migration history: the one place the classes a history leaves, and their storage, are
 * worked out (the planner, the framework's derivation of new steps, the local target's storage per
 * class). Operations apply in a step in this order: new classes (SQLite, then key-value), renames,
 * deletions, transfers. Pure.
 */
export function replayMigrations(history: readonly DurableObjectMigration[]): MigrationReplay {
  const live = new Map<string, LiveClass>();
  const removed = new Map<string, RemovedClass>();
  const problems: MigrationReplay["problems"] = [];
  history.forEach((step, index) => {
    const at = `step "${step.tag}"`;
    const create = (name: string, storage: LiveClass["storage"], origin: string, verb: string) => {
      const existing = live.get(name);
      if (existing) {
        problems.push({
          index,
          text: `${at} ${verb} class ${name}, which already exists (${existing.origin})`,
        });
      }
      live.set(name, { storage, origin });
      removed.delete(name);
    };
    const remove = (name: string, verb: string, renamedTo?: string): LiveClass | undefined => {
      const existing = live.get(name);
      if (!existing) {
        problems.push({
          index,
          text: `${at} ${verb} class ${name}, which does not exist at that point in the history`,
        });
        return undefined;
      }
      live.delete(name);
      removed.set(name, { index, tag: step.tag, renamedTo });
      return existing;
    };
    for (const name of step.newClasses ?? []) create(name, "sqlite", `created by ${at}`, "creates");
    for (const name of step.newKvClasses ?? []) create(name, "kv", `created by ${at}`, "creates");
    for (const { from, to } of step.renamedClasses ?? []) {
      const source = remove(from, "renames", to);
      if (source) create(to, source.storage, `renamed from ${from} by ${at}`, `renames ${from} to`);
    }
    for (const name of step.deletedClasses ?? []) remove(name, "deletes");
    for (const { from, fromScript, to } of step.transferredClasses ?? []) {
      create(
        to,
        undefined,
        `transferred from ${fromScript}.${from} by ${at}`,
        `transfers ${fromScript}.${from} into`,
      );
    }
  });
  return { live, removed, problems };
}

/**
 * An upload's steps as history steps, to replay them (`replayMigrations`): the provider's `newClasses`
 * are key-value-backed (`newKvClasses`), its `newSqliteClasses` SQLite-backed (`newClasses`). An upload
 * carries no tags: step `i` is tagged `upload-<i + 1>`.
 */
export function historyOfUpload(steps: readonly MigrationUploadStep[]): DurableObjectMigration[] {
  return steps.map((step, i) => ({
    tag: `upload-${i + 1}`,
    newClasses: step.newSqliteClasses ?? [],
    newKvClasses: step.newClasses ?? [],
    renamedClasses: step.renamedClasses ?? [],
    deletedClasses: step.deletedClasses ?? [],
    transferredClasses: step.transferredClasses ?? [],
  }));
}

/**
 * Plans the migration a Worker upload carries: the steps after the live tag, checked against the history,
 * the bindings and the bundle's exports. Throws one `MigrationPlanError` listing every problem.
 */
export function planDurableObjectMigrations(input: MigrationPlanInput): MigrationPlan {
  const { scriptName, history } = input;
  const problems: string[] = [];
  const problem = (text: string) =>
    problems.push(`Durable Object migrations of script "${scriptName}": ${text}`);

  // `live` maps each alive class to how it came to be, `removed` remembers the last step that deleted or
  // renamed a class away. Each step's problems are reported in order: its tag, then its operations.
  const { live, removed, problems: replayProblems } = replayMigrations(history);
  const seenTags = new Set<string>();
  history.forEach((step, index) => {
    const at = `step "${step.tag}"`;
    if (!TAG.test(step.tag)) {
      problem(`${at}: tag must be non-empty and use only letters, digits, ".", "_" and "-"`);
    }
    if (seenTags.has(step.tag)) problem(`${at}: tag is used by more than one step; tags must be unique`);
    seenTags.add(step.tag);
    const ops = [
      step.newClasses,
      step.newKvClasses,
      step.renamedClasses,
      step.deletedClasses,
      step.transferredClasses,
    ];
    if (ops.every((op) => (op ?? []).length === 0)) {
      problem(`${at} has no operations: give it classes to create, rename, delete or transfer, or remove it`);
    }
    for (const p of replayProblems) if (p.index === index) problem(p.text);
  });

  const firstPending = resolveLiveTag(input, problem);
  const pendingSteps = firstPending === undefined ? [] : history.slice(firstPending);

  // Only steps not yet applied can still be stopped; the opt-in is per step so that a later delete
  // cannot ride on an earlier approval.
  for (const step of pendingSteps) {
    if (step.allowDataLoss === true) continue;
    for (const name of step.deletedClasses ?? []) {
      problem(
        `step "${step.tag}" deletes class ${name}: every ${name} object and all its stored data will be destroyed; if that is intended, set allowDataLoss: true on step "${step.tag}"`,
      );
    }
    for (const { from, fromScript, to } of step.transferredClasses ?? []) {
      problem(
        `step "${step.tag}" transfers class ${from} of script "${fromScript}" into class ${to}: its objects and their data leave script "${fromScript}" for good; if that is intended, set allowDataLoss: true on step "${step.tag}"`,
      );
    }
  }

  const exported = new Set(input.exportedClasses);
  const bound = [...new Set(input.boundClasses)];
  for (const name of bound) {
    if (live.has(name)) continue;
    const gone = removed.get(name);
    if (!gone) {
      problem(
        `binding to class ${name} but no migration creates it: append a step with newClasses: ["${name}"]`,
      );
    } else if (gone.renamedTo !== undefined) {
      problem(
        `binding to class ${name}, which step "${gone.tag}" renames to ${gone.renamedTo}: bind ${gone.renamedTo} instead`,
      );
    } else if (firstPending !== undefined && gone.index >= firstPending) {
      // Cloudflare refuses an upload that deletes a class a binding still names.
      problem(
        `binding to class ${name}, which pending step "${gone.tag}" deletes: remove the binding in one upload, then delete the class in the next`,
      );
    } else {
      problem(
        `binding to class ${name}, which step "${gone.tag}" deleted: remove the binding or append a step that creates it again`,
      );
    }
  }
  // Bindings to removed classes are reported above with their own fix; an export would not help them.
  const needExport = new Set([...live.keys(), ...bound.filter((name) => !removed.has(name))]);
  for (const name of [...needExport].sort()) {
    if (exported.has(name)) continue;
    const origin = live.get(name)?.origin;
    problem(
      `class ${name} is not exported by the bundle of script "${scriptName}"${origin ? ` (${origin})` : ""}: export it from the entry module`,
    );
  }

  if (problems.length > 0) throw new MigrationPlanError(problems);
  if (pendingSteps.length === 0) return { upload: undefined, pending: [] };
  const upload: MigrationUpload = {
    ...(input.liveTag ? { oldTag: input.liveTag } : {}),
    newTag: uploadTag(history, history.length - 1),
    steps: pendingSteps.map(toUploadStep),
  };
  return { upload, pending: pendingSteps.map((s) => s.tag) };
}

/** Index of the first pending step, or undefined when the live tag cannot be placed in the history. */
function resolveLiveTag(input: MigrationPlanInput, problem: (text: string) => void): number | undefined {
  const { scriptName, history, liveTag } = input;
  // An empty tag is how a script that never ran a migration can report itself.
  if (!liveTag) return 0;
  const live = parseUploadTag(liveTag);
  const index = history.findIndex((s) => s.tag === live.tag);
  if (index < 0) {
    problem(
      `live migration tag "${liveTag}" of script "${scriptName}" is not in the history: resending every step would recreate live classes; restore the applied steps up to "${live.tag}" and append new steps after them`,
    );
    return undefined;
  }
  // A tag without a fingerprint was set by another tool (wrangler): it can only be matched by name.
  if (live.fingerprint === undefined) return index + 1;
  const expected = parseUploadTag(uploadTag(history, index)).fingerprint;
  if (live.fingerprint !== expected) {
    const classes = [...new Set(history.slice(0, index + 1).flatMap(stepClasses))].sort();
    problem(
      `the history up to step "${live.tag}" was rewritten after it was applied (live tag "${liveTag}", history now gives "${live.tag}@${expected}"; those steps name classes ${classes.join(", ") || "(none)"}): restore the applied steps exactly as they were and append a new step instead`,
    );
    return undefined;
  }
  return index + 1;
}

function stepClasses(step: DurableObjectMigration): string[] {
  return [
    ...(step.newClasses ?? []),
    ...(step.newKvClasses ?? []),
    ...(step.renamedClasses ?? []).flatMap((r) => [r.from, r.to]),
    ...(step.deletedClasses ?? []),
    ...(step.transferredClasses ?? []).map((t) => t.to),
  ];
}

function toUploadStep(step: DurableObjectMigration): MigrationUploadStep {
  const out: MigrationUploadStep = {};
  // SQLite is the default for new classes; the provider's `newClasses` means key-value-backed.
  if (step.newClasses?.length) out.newSqliteClasses = [...step.newClasses];
  if (step.newKvClasses?.length) out.newClasses = [...step.newKvClasses];
  if (step.renamedClasses?.length)
    out.renamedClasses = step.renamedClasses.map(({ from, to }) => ({ from, to }));
  if (step.deletedClasses?.length) out.deletedClasses = [...step.deletedClasses];
  if (step.transferredClasses?.length) {
    out.transferredClasses = step.transferredClasses.map(({ from, fromScript, to }) => ({
      from,
      fromScript,
      to,
    }));
  }
  return out;
}
