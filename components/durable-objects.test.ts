import { describe, expect, it } from "vitest";
import {
  type DurableObjectMigration,
  type DurableObjectStorage,
  historyOfUpload,
  type MigrationPlan,
  MigrationPlanError,
  type MigrationPlanInput,
  type MigrationUploadStep,
  parseUploadTag,
  planDurableObjectMigrations,
  replayMigrations,
  uploadTag,
} from "./durable-objects";

const SCRIPT = "api";
const v1: DurableObjectMigration = { tag: "v1", newClasses: ["Counter"] };
const v2: DurableObjectMigration = { tag: "v2", newClasses: ["Room"] };
const v3: DurableObjectMigration = { tag: "v3", renamedClasses: [{ from: "Room", to: "Lobby" }] };
const history = [v1, v2, v3];
const tagOf = (h: DurableObjectMigration[], i: number) => uploadTag(h, i);

function input(overrides: Partial<MigrationPlanInput>): MigrationPlanInput {
  return {
    scriptName: SCRIPT,
    history: [],
    liveTag: undefined,
    boundClasses: [],
    exportedClasses: [],
    ...overrides,
  };
}

function refusal(i: MigrationPlanInput): MigrationPlanError {
  try {
    planDurableObjectMigrations(i);
  } catch (err) {
    if (err instanceof MigrationPlanError) return err;
    throw err;
  }
  throw new Error("expected the plan to be refused");
}

describe("planDurableObjectMigrations accepts", () => {
  const deleting: DurableObjectMigration[] = [
    v1,
    { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true },
  ];
  const transferring: DurableObjectMigration[] = [
    {
      tag: "t1",
      transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Counter" }],
      allowDataLoss: true,
    },
  ];
  const optInLater: DurableObjectMigration[] = [
    v1,
    { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true },
  ];
  const optInBefore: DurableObjectMigration[] = [v1, { tag: "v2", deletedClasses: ["Counter"] }];

  it.each<[string, MigrationPlanInput, MigrationPlan]>([
    [
      "a fresh script (no live tag): every step, no oldTag, new classes SQLite-backed",
      input({ history, boundClasses: ["Counter", "Lobby"], exportedClasses: ["Counter", "Lobby"] }),
      {
        upload: {
          newTag: tagOf(history, 2),
          steps: [
            { newSqliteClasses: ["Counter"] },
            { newSqliteClasses: ["Room"] },
            { renamedClasses: [{ from: "Room", to: "Lobby" }] },
          ],
        },
        pending: ["v1", "v2", "v3"],
      },
    ],
    [
      "nothing pending when the live tag is the last step's upload tag",
      input({
        history,
        liveTag: tagOf(history, 2),
        boundClasses: ["Lobby"],
        exportedClasses: ["Counter", "Lobby"],
      }),
      { upload: undefined, pending: [] },
    ],
    [
      "only the steps after the live tag, with oldTag exactly the live string",
      input({ history, liveTag: tagOf(history, 0), exportedClasses: ["Counter", "Lobby"] }),
      {
        upload: {
          oldTag: tagOf(history, 0),
          newTag: tagOf(history, 2),
          steps: [{ newSqliteClasses: ["Room"] }, { renamedClasses: [{ from: "Room", to: "Lobby" }] }],
        },
        pending: ["v2", "v3"],
      },
    ],
    [
      "a wrangler-style live tag without fingerprint, matched by name",
      input({ history, liveTag: "v2", exportedClasses: ["Counter", "Lobby"] }),
      {
        upload: {
          oldTag: "v2",
          newTag: tagOf(history, 2),
          steps: [{ renamedClasses: [{ from: "Room", to: "Lobby" }] }],
        },
        pending: ["v3"],
      },
    ],
    [
      "adding allowDataLoss to an applied step later (not a rewrite)",
      input({ history: optInLater, liveTag: tagOf(optInBefore, 1) }),
      { upload: undefined, pending: [] },
    ],
    [
      "a pending rename whose target is exported and whose source is no longer bound",
      input({
        history,
        liveTag: tagOf(history, 1),
        boundClasses: ["Lobby"],
        exportedClasses: ["Counter", "Lobby"],
      }),
      {
        upload: {
          oldTag: tagOf(history, 1),
          newTag: tagOf(history, 2),
          steps: [{ renamedClasses: [{ from: "Room", to: "Lobby" }] }],
        },
        pending: ["v3"],
      },
    ],
    [
      "a delete with the opt-in carries deletedClasses",
      input({ history: deleting, liveTag: tagOf(deleting, 0) }),
      {
        upload: {
          oldTag: tagOf(deleting, 0),
          newTag: tagOf(deleting, 1),
          steps: [{ deletedClasses: ["Counter"] }],
        },
        pending: ["v2"],
      },
    ],
    [
      "a transfer with the opt-in carries transferredClasses",
      input({ history: transferring, boundClasses: ["Counter"], exportedClasses: ["Counter"] }),
      {
        upload: {
          newTag: tagOf(transferring, 0),
          steps: [{ transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Counter" }] }],
        },
        pending: ["t1"],
      },
    ],
    [
      "newKvClasses as the provider's (key-value) newClasses, newClasses as newSqliteClasses",
      input({
        history: [{ tag: "v1", newClasses: ["Fresh"], newKvClasses: ["Legacy"] }],
        exportedClasses: ["Fresh", "Legacy"],
      }),
      {
        upload: {
          newTag: tagOf([{ tag: "v1", newClasses: ["Fresh"], newKvClasses: ["Legacy"] }], 0),
          steps: [{ newSqliteClasses: ["Fresh"], newClasses: ["Legacy"] }],
        },
        pending: ["v1"],
      },
    ],
    [
      "empty arrays left out of the uploaded step",
      input({
        history: [{ tag: "v1", newClasses: ["A"], newKvClasses: [], deletedClasses: [], renamedClasses: [] }],
        exportedClasses: ["A"],
      }),
      {
        upload: {
          newTag: tagOf([{ tag: "v1", newClasses: ["A"] }], 0),
          steps: [{ newSqliteClasses: ["A"] }],
        },
        pending: ["v1"],
      },
    ],
    ["an empty history without bindings: no upload", input({}), { upload: undefined, pending: [] }],
    [
      "an empty live tag as no tag at all",
      input({ history: [v1], liveTag: "", exportedClasses: ["Counter"] }),
      {
        upload: { newTag: tagOf([v1], 0), steps: [{ newSqliteClasses: ["Counter"] }] },
        pending: ["v1"],
      },
    ],
    [
      "a class re-created after an applied delete",
      input({
        history: [
          v1,
          { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true },
          { tag: "v3", newClasses: ["Counter"] },
        ],
        liveTag: "v2",
        boundClasses: ["Counter"],
        exportedClasses: ["Counter"],
      }),
      {
        upload: {
          oldTag: "v2",
          newTag: tagOf(
            [v1, { tag: "v2", deletedClasses: ["Counter"] }, { tag: "v3", newClasses: ["Counter"] }],
            2,
          ),
          steps: [{ newSqliteClasses: ["Counter"] }],
        },
        pending: ["v3"],
      },
    ],
  ])("%s", (_case, given, expected) => {
    expect(planDurableObjectMigrations(given)).toEqual(expected);
  });
});

describe("planDurableObjectMigrations refuses", () => {
  const rewritten: DurableObjectMigration[] = [{ tag: "v1", newClasses: ["Counter", "Extra"] }, v2];

  it.each<[string, MigrationPlanInput, string[]]>([
    [
      "a live tag that is not in the history",
      input({ history, liveTag: "v9@0123456789", exportedClasses: ["Counter", "Lobby"] }),
      [
        'live migration tag "v9@0123456789" of script "api" is not in the history',
        "would recreate live classes",
      ],
    ],
    [
      "a history rewritten after it was applied (a class added to an applied step)",
      input({
        history: rewritten,
        liveTag: tagOf([v1, v2], 1),
        exportedClasses: ["Counter", "Extra", "Room"],
      }),
      ['up to step "v2" was rewritten after it was applied', "Counter, Extra, Room", "append a new step"],
    ],
    [
      "a rename to a class the bundle does not export",
      input({ history, liveTag: tagOf(history, 1), exportedClasses: ["Counter", "Room"] }),
      ['class Lobby is not exported by the bundle of script "api"', 'renamed from Room by step "v3"'],
    ],
    [
      "a binding to the source of a rename",
      input({ history, boundClasses: ["Room"], exportedClasses: ["Counter", "Lobby", "Room"] }),
      ['binding to class Room, which step "v3" renames to Lobby', "bind Lobby instead"],
    ],
    [
      "a delete without the opt-in",
      input({ history: [v1, { tag: "v2", deletedClasses: ["Counter"] }], liveTag: "v1" }),
      [
        'step "v2" deletes class Counter',
        "all its stored data will be destroyed",
        'set allowDataLoss: true on step "v2"',
      ],
    ],
    [
      "a transfer without the opt-in",
      input({
        history: [{ tag: "t1", transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Counter" }] }],
        exportedClasses: ["Counter"],
      }),
      ['transfers class Old of script "legacy" into class Counter', 'set allowDataLoss: true on step "t1"'],
    ],
    [
      "a binding to a class no migration creates",
      input({ history: [v1], boundClasses: ["Room"], exportedClasses: ["Counter", "Room"] }),
      ['binding to class Room but no migration creates it: append a step with newClasses: ["Room"]'],
    ],
    [
      "an empty history with a binding",
      input({ boundClasses: ["Counter"], exportedClasses: ["Counter"] }),
      ['binding to class Counter but no migration creates it: append a step with newClasses: ["Counter"]'],
    ],
    [
      "a live class the bundle does not export",
      input({ history: [v1], exportedClasses: ["default"] }),
      ['class Counter is not exported by the bundle of script "api" (created by step "v1")'],
    ],
    [
      "a binding to a class a pending step deletes",
      input({
        history: [v1, { tag: "v2", deletedClasses: ["Counter"], allowDataLoss: true }],
        liveTag: "v1",
        boundClasses: ["Counter"],
        exportedClasses: ["Counter"],
      }),
      ['binding to class Counter, which pending step "v2" deletes', "remove the binding in one upload"],
    ],
    [
      "a duplicate tag",
      input({ history: [v1, { tag: "v1", newClasses: ["Room"] }], exportedClasses: ["Counter", "Room"] }),
      ['step "v1": tag is used by more than one step'],
    ],
    [
      "a tag with an @ or nothing in it",
      input({
        history: [
          { tag: "v1@x", newClasses: ["A"] },
          { tag: "", newClasses: ["B"] },
        ],
        exportedClasses: ["A", "B"],
      }),
      ['step "v1@x": tag must be non-empty', 'step "": tag must be non-empty'],
    ],
    [
      "a step with no operations",
      input({ history: [v1, { tag: "v2", newClasses: [] }], exportedClasses: ["Counter"] }),
      ['step "v2" has no operations'],
    ],
    [
      "creating a class that already exists",
      input({ history: [v1, { tag: "v2", newKvClasses: ["Counter"] }], exportedClasses: ["Counter"] }),
      ['step "v2" creates class Counter, which already exists (created by step "v1")'],
    ],
    [
      "deleting an unknown class",
      input({
        history: [v1, { tag: "v2", deletedClasses: ["Ghost"], allowDataLoss: true }],
        exportedClasses: ["Counter"],
      }),
      ['step "v2" deletes class Ghost, which does not exist at that point in the history'],
    ],
    [
      "renaming an unknown class",
      input({
        history: [v1, { tag: "v2", renamedClasses: [{ from: "Ghost", to: "Room" }] }],
        exportedClasses: ["Counter"],
      }),
      ['step "v2" renames class Ghost, which does not exist'],
    ],
    [
      "renaming to a class that exists",
      input({
        history: [v1, v2, { tag: "v3", renamedClasses: [{ from: "Room", to: "Counter" }] }],
        exportedClasses: ["Counter"],
      }),
      ['step "v3" renames Room to class Counter, which already exists'],
    ],
    [
      "transferring into a class that exists",
      input({
        history: [
          v1,
          {
            tag: "v2",
            transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Counter" }],
            allowDataLoss: true,
          },
        ],
        exportedClasses: ["Counter"],
      }),
      ['step "v2" transfers legacy.Old into class Counter, which already exists'],
    ],
  ])("%s", (_case, given, fragments) => {
    const err = refusal(given);
    for (const line of err.problems) expect(line).toMatch(/^Durable Object migrations of script "api": /);
    for (const fragment of fragments) expect(err.message).toContain(fragment);
  });

  it("reports every problem together, one line each", () => {
    const err = refusal(
      input({
        history: [v1, { tag: "v1", deletedClasses: ["Ghost"] }],
        liveTag: "gone",
        boundClasses: ["Room"],
        exportedClasses: [],
      }),
    );
    expect(err.problems).toEqual([
      'Durable Object migrations of script "api": step "v1": tag is used by more than one step; tags must be unique',
      'Durable Object migrations of script "api": step "v1" deletes class Ghost, which does not exist at that point in the history',
      expect.stringContaining('live migration tag "gone" of script "api" is not in the history'),
      'Durable Object migrations of script "api": binding to class Room but no migration creates it: append a step with newClasses: ["Room"]',
      'Durable Object migrations of script "api": class Counter is not exported by the bundle of script "api" (created by step "v1"): export it from the entry module',
      'Durable Object migrations of script "api": class Room is not exported by the bundle of script "api": export it from the entry module',
    ]);
    expect(err.message).toBe(err.problems.join("\n"));
  });
});

describe("uploadTag", () => {
  it.each<[string, boolean, DurableObjectMigration[]]>([
    ["the same history", true, [{ ...v1 }, { ...v2 }]],
    ["the opt-in added to a step", true, [v1, { ...v2, allowDataLoss: true }]],
    ["an empty array added to a step", true, [v1, { ...v2, deletedClasses: [] }]],
    ["a class added to an earlier step", false, [{ tag: "v1", newClasses: ["Counter", "X"] }, v2]],
    ["an earlier step's class made key-value-backed", false, [{ tag: "v1", newKvClasses: ["Counter"] }, v2]],
    ["an earlier step's tag renamed", false, [{ ...v1, tag: "v0" }, v2]],
    ["a class added to the last step", false, [v1, { tag: "v2", newClasses: ["Room", "Z"] }]],
  ])("for %s: unchanged = %s", (_case, same, other) => {
    const base = uploadTag([v1, v2], 1);
    expect(base).toMatch(/^v2@[0-9a-f]{10}$/);
    expect(uploadTag(other, 1) === base).toBe(same);
  });

  it("depends only on the steps up to the index", () => {
    expect(uploadTag([v1], 0)).toBe(uploadTag([v1, v2, v3], 0));
  });

  it("refuses an index outside the history", () => {
    expect(() => uploadTag([v1], 1)).toThrow(/no step at index 1/);
  });
});

describe("parseUploadTag", () => {
  it.each([
    ["v1@0123456789", { tag: "v1", fingerprint: "0123456789" }],
    ["v1", { tag: "v1", fingerprint: undefined }],
    ["a@b@c", { tag: "a@b", fingerprint: "c" }],
    ["v1@", { tag: "v1", fingerprint: "" }],
  ])("%s", (tag, expected) => {
    expect(parseUploadTag(tag)).toEqual(expected);
  });

  it("round-trips an upload tag", () => {
    const tag = uploadTag(history, 2);
    expect(parseUploadTag(tag).tag).toBe("v3");
    expect(parseUploadTag(tag).fingerprint).toHaveLength(10);
  });
});

describe("replayMigrations: the classes a history leaves, with their storage", () => {
  /** The live classes as `name: storage` (`?` when unknown), in creation order. */
  const liveOf = (history: DurableObjectMigration[]) =>
    [...replayMigrations(history).live].map(([name, c]) => `${name}: ${c.storage ?? "?"}`);

  it.each<[string, DurableObjectMigration[], string[]]>([
    ["no history", [], []],
    [
      "new classes are SQLite-backed",
      [{ tag: "v1", newClasses: ["Room", "Counter"] }],
      ["Room: sqlite", "Counter: sqlite"],
    ],
    ["newKvClasses are key-value-backed", [{ tag: "v1", newKvClasses: ["Legacy"] }], ["Legacy: kv"]],
    [
      "both kinds in one step",
      [{ tag: "v1", newClasses: ["Fresh"], newKvClasses: ["Legacy"] }],
      ["Fresh: sqlite", "Legacy: kv"],
    ],
    [
      "a renamed class keeps its storage (SQLite)",
      [v1, { tag: "v2", renamedClasses: [{ from: "Counter", to: "Tally" }] }],
      ["Tally: sqlite"],
    ],
    [
      "a renamed class keeps its storage (key-value)",
      [
        { tag: "v1", newKvClasses: ["Old"] },
        { tag: "v2", renamedClasses: [{ from: "Old", to: "New" }] },
      ],
      ["New: kv"],
    ],
    [
      "renamed twice",
      [
        { tag: "v1", newKvClasses: ["A"] },
        { tag: "v2", renamedClasses: [{ from: "A", to: "B" }] },
        { tag: "v3", renamedClasses: [{ from: "B", to: "C" }] },
      ],
      ["C: kv"],
    ],
    ["a deleted class is gone", [v1, v2, { tag: "v3", deletedClasses: ["Counter"] }], ["Room: sqlite"]],
    [
      "a deleted class created again, with the new step's storage",
      [
        { tag: "v1", newKvClasses: ["Counter"] },
        { tag: "v2", deletedClasses: ["Counter"] },
        { tag: "v3", newClasses: ["Counter"] },
      ],
      ["Counter: sqlite"],
    ],
    [
      "a transferred class keeps the other script's storage, which the history does not say",
      [{ tag: "t1", transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Counter" }] }],
      ["Counter: ?"],
    ],
    [
      "in one step: new, then renames, then deletions, then transfers",
      [
        { tag: "v1", newClasses: ["A", "B"] },
        {
          tag: "v2",
          newKvClasses: ["C"],
          renamedClasses: [{ from: "C", to: "D" }],
          deletedClasses: ["A"],
          transferredClasses: [{ from: "X", fromScript: "other", to: "A" }],
        },
      ],
      ["B: sqlite", "D: kv", "A: ?"],
    ],
  ])("%s", (_case, history, live) => {
    expect(liveOf(history)).toEqual(live);
    expect(replayMigrations(history).problems).toEqual([]);
  });

  it("says how each class came to be, and how each removed one left", () => {
    const replay = replayMigrations([
      v1,
      v2,
      { tag: "v3", renamedClasses: [{ from: "Room", to: "Lobby" }], deletedClasses: ["Counter"] },
      { tag: "v4", transferredClasses: [{ from: "Old", fromScript: "legacy", to: "Hall" }] },
    ]);
    expect(Object.fromEntries(replay.live)).toEqual({
      Lobby: { storage: "sqlite", origin: 'renamed from Room by step "v3"' },
      Hall: { storage: undefined, origin: 'transferred from legacy.Old by step "v4"' },
    });
    expect(Object.fromEntries(replay.removed)).toEqual({
      Room: { index: 2, tag: "v3", renamedTo: "Lobby" },
      Counter: { index: 2, tag: "v3", renamedTo: undefined },
    });
  });

  it.each<[string, DurableObjectMigration[], string[], { index: number; text: string }[]]>([
    [
      "a class created twice: created again, with the later storage",
      [v1, { tag: "v2", newKvClasses: ["Counter"] }],
      ["Counter: kv"],
      [{ index: 1, text: 'step "v2" creates class Counter, which already exists (created by step "v1")' }],
    ],
    [
      "a rename of a class that does not exist: skipped",
      [v1, { tag: "v2", renamedClasses: [{ from: "Ghost", to: "Room" }] }],
      ["Counter: sqlite"],
      [
        {
          index: 1,
          text: 'step "v2" renames class Ghost, which does not exist at that point in the history',
        },
      ],
    ],
    [
      "a deletion of a class that does not exist: skipped",
      [v1, { tag: "v2", deletedClasses: ["Ghost"] }],
      ["Counter: sqlite"],
      [
        {
          index: 1,
          text: 'step "v2" deletes class Ghost, which does not exist at that point in the history',
        },
      ],
    ],
  ])("%s", (_case, history, live, problems) => {
    expect(liveOf(history)).toEqual(live);
    expect(replayMigrations(history).problems).toEqual(problems);
  });

  it.each<[string, MigrationUploadStep[], Record<string, DurableObjectStorage | undefined>]>([
    ["newSqliteClasses", [{ newSqliteClasses: ["C"] }], { C: "sqlite" }],
    ["the provider's newClasses are key-value-backed", [{ newClasses: ["C"] }], { C: "kv" }],
    [
      "a rename from a key-value class in a later step",
      [{ newClasses: ["Old"], newSqliteClasses: ["S"] }, { renamedClasses: [{ from: "Old", to: "C" }] }],
      { S: "sqlite", C: "kv" },
    ],
    [
      "a deletion and a transfer",
      [
        { newSqliteClasses: ["A"] },
        { deletedClasses: ["A"], transferredClasses: [{ from: "X", fromScript: "other", to: "T" }] },
      ],
      { T: undefined },
    ],
  ])("an upload's steps, replayed as history: %s", (_case, steps, storage) => {
    const history = historyOfUpload(steps);
    expect(history.map((s) => s.tag)).toEqual(steps.map((_, i) => `upload-${i + 1}`));
    const replay = replayMigrations(history);
    expect(replay.problems).toEqual([]);
    expect(Object.fromEntries([...replay.live].map(([name, c]) => [name, c.storage]))).toEqual(storage);
  });

  it("an upload planned from a history replays to the same classes as that history", () => {
    const h: DurableObjectMigration[] = [
      { tag: "v1", newClasses: ["A"], newKvClasses: ["K"] },
      { tag: "v2", renamedClasses: [{ from: "K", to: "L" }], deletedClasses: ["A"], allowDataLoss: true },
      { tag: "v3", newClasses: ["A"] },
    ];
    const plan = planDurableObjectMigrations(input({ history: h, exportedClasses: ["A", "L"] }));
    expect(liveOf(historyOfUpload(plan.upload?.steps ?? []))).toEqual(liveOf(h));
    expect(liveOf(h)).toEqual(["L: kv", "A: sqlite"]);
  });
});
