import { readFileSync, writeFileSync } from "node:fs";
import { type DurableObjectMigration, replayMigrations } from "./durable-objects";
import type { FrameworkAppDeclaration } from "./framework-declaration";

export type { FrameworkAppDeclaration } from "./framework-declaration";

/** The append-only record of the migration steps already derived, kept in the repository. */
export interface MigrationLock {
  steps: DurableObjectMigration[];
}

export class MigrationDerivationError extends Error {
  override name = "MigrationDerivationError";
}

/**
 * The migration history for a declaration: the lock's steps, plus one new step when the declared classes
 * differ from what the lock's steps leave (`v<n>` after the last). Pure. Refuses, naming the class, a class
 * that disappeared without being renamed or deleted with the data-loss opt-in, a rename whose source is
 * not a live class or whose target already is one, and a deletion of a class still declared.
 */
export function deriveMigrations(
  declaration: FrameworkAppDeclaration,
  lock: MigrationLock,
): { steps: DurableObjectMigration[]; added: DurableObjectMigration | undefined } {
  const { live } = replayMigrations(lock.steps);
  const declared = new Set(Object.values(declaration.durableObjects).map((d) => d.className));
  const renamed = (declaration.renamedClasses ?? []).filter(
    ({ from, to }) => live.has(from) || !live.has(to),
  );
  for (const { from, to } of renamed) {
    if (!live.has(from)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} cannot be renamed to ${to}: no live class is named ${from}`,
      );
    }
    if (live.has(to)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} cannot be renamed to ${to}: ${to} already exists`,
      );
    }
    if (!declared.has(to)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} is renamed to ${to}, but no binding declares ${to}`,
      );
    }
  }
  const deleted = (declaration.deletedClasses ?? []).filter(({ className }) => live.has(className));
  for (const { className, allowDataLoss } of deleted) {
    if (declared.has(className)) {
      throw new MigrationDerivationError(`Durable Object class ${className} is both declared and deleted`);
    }
    if (allowDataLoss !== true) {
      throw new MigrationDerivationError(
        `deleting Durable Object class ${className} needs allowDataLoss: true`,
      );
    }
  }
  const renamedFrom = new Set(renamed.map((r) => r.from));
  const renamedTo = new Set(renamed.map((r) => r.to));
  const deletedNames = new Set(deleted.map((d) => d.className));
  for (const c of live.keys()) {
    if (!declared.has(c) && !renamedFrom.has(c) && !deletedNames.has(c)) {
      throw new MigrationDerivationError(
        `Durable Object class ${c} is no longer declared: declare a rename ({ from: "${c}", to: ... }) or a deletion with allowDataLoss: true (every ${c} object and its data are destroyed)`,
      );
    }
  }
  const created = [...declared].filter((c) => !live.has(c) && !renamedTo.has(c)).sort();
  if (created.length === 0 && renamed.length === 0 && deleted.length === 0)
    return { steps: lock.steps, added: undefined };
  const added: DurableObjectMigration = { tag: `v${lock.steps.length + 1}` };
  if (created.length > 0) added.newClasses = created;
  if (renamed.length > 0) added.renamedClasses = renamed.map(({ from, to }) => ({ from, to }));
  if (deleted.length > 0) {
    added.deletedClasses = deleted.map((d) => d.className).sort();
    added.allowDataLoss = true;
  }
  return { steps: [...lock.steps, added], added };
}

export function readMigrationLock(file: string): MigrationLock {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { steps: [] };
  }
  const lock = JSON.parse(text) as MigrationLock;
  if (!Array.isArray(lock.steps)) throw new MigrationDerivationError(`${file}: "steps" must be an array`);
  return lock;
}

/** Appends the derived step to the lock file (never rewrites a recorded one). */
export function recordMigrations(
  file: string,
  declaration: FrameworkAppDeclaration,
): DurableObjectMigration | undefined {
  const lock = readMigrationLock(file);
  const { steps, added } = deriveMigrations(declaration, lock);
  if (added) writeFileSync(file, `${JSON.stringify({ steps }, null, 2)}\n`);
  return added;
}
