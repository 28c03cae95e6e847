import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type DurableObjectMigration, replayMigrations } from "./durable-objects";
import {
  deriveMigrations,
  type FrameworkAppDeclaration,
  MigrationDerivationError,
  recordMigrations,
} from "./framework-app";

const declare = (
  classes: string[],
  extra: Partial<FrameworkAppDeclaration> = {},
): FrameworkAppDeclaration => ({
  durableObjects: Object.fromEntries(classes.map((c) => [c.toUpperCase(), { className: c }])),
  kvNamespaces: [],
  ...extra,
});
const v1: DurableObjectMigration = { tag: "v1", newClasses: ["Room", "Counter"] };

describe("deriveMigrations: declaration + lock → history", () => {
  it.each<{
    name: string;
    declaration: FrameworkAppDeclaration;
    lock: DurableObjectMigration[];
    added: DurableObjectMigration | undefined;
  }>([
    {
      name: "a fresh app: one step creating every class",
      declaration: declare(["Room", "Counter"]),
      lock: [],
      added: { tag: "v1", newClasses: ["Counter", "Room"] },
    },
    {
      name: "nothing changed: no step",
      declaration: declare(["Counter", "Room"]),
      lock: [v1],
      added: undefined,
    },
    {
      name: "a class added",
      declaration: declare(["Room", "Counter", "Session"]),
      lock: [v1],
      added: { tag: "v2", newClasses: ["Session"] },
    },
    {
      name: "a declared rename",
      declaration: declare(["Lobby", "Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      lock: [v1],
      added: { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] },
    },
    {
      name: "a rename already recorded is not repeated",
      declaration: declare(["Lobby", "Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      lock: [v1, { tag: "v2", renamedClasses: [{ from: "Room", to: "Lobby" }] }],
      added: undefined,
    },
    {
      name: "a removal with the data-loss opt-in",
      declaration: declare(["Room"], { deletedClasses: [{ className: "Counter", allowDataLoss: true }] }),
      lock: [v1],
      added: { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true },
    },
    {
      name: "rename, addition and removal in one step",
      declaration: declare(["Lobby", "Session"], {
        renamedClasses: [{ from: "Room", to: "Lobby" }],
        deletedClasses: [{ className: "Counter", allowDataLoss: true }],
      }),
      lock: [v1],
      added: {
        tag: "v2",
        newClasses: ["Session"],
        renamedClasses: [{ from: "Room", to: "Lobby" }],
        deletedClasses: ["Counter"],
        allowDataLoss: true,
      },
    },
  ])("$name", ({ declaration, lock, added }) => {
    const result = deriveMigrations(declaration, { steps: lock });
    expect(result.added).toEqual(added);
    expect(result.steps).toEqual(added ? [...lock, added] : lock);
    expect([...replayMigrations(result.steps).live.keys()].sort()).toEqual(
      Object.values(declaration.durableObjects)
        .map((d) => d.className)
        .sort(),
    );
  });

  it.each<{ name: string; declaration: FrameworkAppDeclaration; message: RegExp }>([
    {
      name: "a class that vanished is refused, not guessed to be a rename",
      declaration: declare(["Lobby", "Counter"]),
      message: /class Room is no longer declared: declare a rename/,
    },
    {
      name: "a removal without the opt-in is refused",
      declaration: declare(["Room"]),
      message: /class Counter is no longer declared.*allowDataLoss: true/,
    },
    {
      name: "a rename of a class that does not exist",
      declaration: declare(["Room", "Counter", "Lobby"], { renamedClasses: [{ from: "Hall", to: "Lobby" }] }),
      message: /cannot be renamed to Lobby: no live class is named Hall/,
    },
    {
      name: "a rename onto an existing class",
      declaration: declare(["Counter"], { renamedClasses: [{ from: "Room", to: "Counter" }] }),
      message: /Room cannot be renamed to Counter: Counter already exists/,
    },
    {
      name: "a rename to a class no binding declares",
      declaration: declare(["Counter"], { renamedClasses: [{ from: "Room", to: "Lobby" }] }),
      message: /renamed to Lobby, but no binding declares Lobby/,
    },
    {
      name: "a class both declared and deleted",
      declaration: declare(["Room", "Counter"], {
        deletedClasses: [{ className: "Counter", allowDataLoss: true }],
      }),
      message: /Counter is both declared and deleted/,
    },
  ])("$name", ({ declaration, message }) => {
    expect(() => deriveMigrations(declaration, { steps: [v1] })).toThrow(MigrationDerivationError);
    expect(() => deriveMigrations(declaration, { steps: [v1] })).toThrow(message);
  });
});

describe("recordMigrations: the lock file only grows", () => {
  it("appends the derived step and leaves recorded steps as they were", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "wp-lock-")), "migrations.lock.json");
    expect(recordMigrations(file, declare(["Room", "Counter"]))).toEqual({
      tag: "v1",
      newClasses: ["Counter", "Room"],
    });
    const first = readFileSync(file, "utf8");
    expect(recordMigrations(file, declare(["Room", "Counter"]))).toBeUndefined();
    expect(readFileSync(file, "utf8")).toBe(first);
    expect(recordMigrations(file, declare(["Room", "Counter", "Session"]))).toEqual({
      tag: "v2",
      newClasses: ["Session"],
    });
    const steps = (JSON.parse(readFileSync(file, "utf8")) as { steps: DurableObjectMigration[] }).steps;
    expect(steps).toEqual([
      { tag: "v1", newClasses: ["Counter", "Room"] },
      { tag: "v2", newClasses: ["Session"] },
    ]);
  });
});
