import { describe, expect, it } from "vitest";
import {
  type DiffSide,
  differingPaths,
  diffGraphs,
  type GraphResource,
  renderMarkdown,
  shortUrn,
} from "./diff";
import { MASK } from "./mask";

const urn = (type: string, name: string, parents = "") =>
  `urn:pulumi:prod::app::${parents ? `${parents}$` : ""}${type}::${name}`;

const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
const BUCKET = "cloudflare:index/r2Bucket:R2Bucket";
const KV = "cloudflare:index/workersKvNamespace:WorkersKvNamespace";
const SQL = "pulumi-nodejs:dynamic/workers-platform:SqlMigrations";

const resource = (
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Partial<GraphResource> = {},
) => ({
  urn: urn(type, name, extra.parent ? "workers-platform:cloudflare:R2Bucket" : ""),
  type,
  name,
  parent: null,
  inputs,
  protect: false,
  retainOnDelete: false,
  dependsOn: [],
  ...extra,
});

const side = (
  resources: GraphResource[],
  stack = "prod",
  sql: Record<string, Record<string, string>> = {},
): DiffSide => ({
  graph: { stack, resources },
  migrationSql: new Map(Object.entries(sql).map(([u, files]) => [u, new Map(Object.entries(files))])),
});

const bundle = (sha: string, bytes: number) => ({ sha256: sha.repeat(64).slice(0, 64), bytes });

describe("differingPaths", () => {
  it.each([
    ["equal values", { a: 1 }, { a: 1 }, []],
    ["a scalar", { a: 1 }, { a: 2 }, ["a"]],
    ["a nested key added", { a: {} }, { a: { b: 1 } }, ["a.b"]],
    ["list by index", [1, 2], [1, 3, 4], ["[1]", "[2]"]],
    [
      "named elements by name, so an insertion shifts nothing",
      [
        { name: "A", v: 1 },
        { name: "B", v: 1 },
      ],
      [
        { name: "A", v: 1 },
        { name: "N", v: 0 },
        { name: "B", v: 2 },
      ],
      ["[name=B].v", "[name=N]"],
    ],
    ["a digest as one value", { content: bundle("a", 1) }, { content: bundle("b", 2) }, ["content"]],
  ])("%s", (_case, before, after, expected) => {
    expect(differingPaths(before, after)).toEqual(expected);
  });
});

describe("diffGraphs", () => {
  const script = (inputs: Record<string, unknown>) =>
    resource(SCRIPT, "api", { scriptName: "app-prod-api", ...inputs });

  it("an unchanged graph has no changes and no risks", () => {
    const graph = [
      script({ content: bundle("a", 10) }),
      resource(KV, "kv", { title: "t" }, { protect: true }),
    ];
    expect(diffGraphs(side(graph), side(graph), "main")).toEqual({
      stack: "prod",
      base: "main",
      added: [],
      removed: [],
      replaced: [],
      changed: [],
      risks: [],
    });
  });

  it("a new bundle is a change of hash and size, with the size delta, and nothing else", () => {
    const diff = diffGraphs(
      side([script({ content: bundle("a", 1000) })]),
      side([script({ content: bundle("b", 1250) })]),
      "main",
    );
    expect(diff.changed).toEqual([
      {
        urn: urn(SCRIPT, "api"),
        paths: ["inputs.content"],
        bundle: { before: bundle("a", 1000), after: bundle("b", 1250), delta: 250 },
      },
    ]);
    expect(diff.risks).toEqual([]);
  });

  it.each([
    [
      "stateful-deleted",
      [resource(BUCKET, "cache", { name: "c" })],
      [],
      "cloudflare:index/r2Bucket:R2Bucket::cache is deleted, with the data it holds",
    ],
    [
      "stateful-replaced",
      [resource(BUCKET, "cache", { accountId: "a", name: "c" })],
      [resource(BUCKET, "cache", { accountId: "a", name: "c2" })],
      "cloudflare:index/r2Bucket:R2Bucket::cache is replaced (inputs.name): a new, empty one takes its place",
    ],
    [
      "protect-dropped",
      [resource(KV, "kv", { title: "t" }, { protect: true, retainOnDelete: true })],
      [resource(KV, "kv", { title: "t" }, { retainOnDelete: true })],
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::kv is no longer protected: pulumi may delete it",
    ],
    [
      "retain-on-delete-dropped",
      [resource(KV, "kv", { title: "t" }, { retainOnDelete: true })],
      [resource(KV, "kv", { title: "t" })],
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::kv is no longer retained on delete: removing it from the program deletes it",
    ],
    [
      "durable-object-class-deleted",
      [resource(SCRIPT, "api", { migrations: { newTag: "v1@x", steps: [{ newSqliteClasses: ["Room"] }] } })],
      [
        resource(SCRIPT, "api", {
          migrations: {
            newTag: "v2@y",
            steps: [{ newSqliteClasses: ["Room"] }, { deletedClasses: ["Room"] }],
          },
        }),
      ],
      "cloudflare:index/workersScript:WorkersScript::api: a new Durable Object migration deletes class Room: every object's data goes with it",
    ],
    [
      "durable-object-class-deleted",
      [resource(SCRIPT, "api", {})],
      [
        resource(SCRIPT, "api", {
          migrations: {
            newTag: "v2@y",
            transferredClasses: [{ from: "Room", fromScript: "old", to: "Room" }],
          },
        }),
      ],
      "cloudflare:index/workersScript:WorkersScript::api: a new Durable Object migration takes over class Room of script old (its objects leave it): every object's data goes with it",
    ],
    [
      "secret-exposed",
      [resource(SCRIPT, "api", { bindings: [{ name: "TOKEN", type: "secret_text", text: MASK }] })],
      [resource(SCRIPT, "api", { bindings: [{ name: "TOKEN", type: "plain_text", text: "abc" }] })],
      "cloudflare:index/workersScript:WorkersScript::api: inputs.bindings[name=TOKEN].text was a secret and is now a plain value",
    ],
    [
      "placement-off",
      [resource(SCRIPT, "api", { placement: { mode: "smart" } })],
      [resource(SCRIPT, "api", {})],
      "cloudflare:index/workersScript:WorkersScript::api: Smart Placement switched off in prod",
    ],
    [
      "observability-off",
      [resource(SCRIPT, "api", { observability: { enabled: true } })],
      [resource(SCRIPT, "api", { observability: { enabled: false } })],
      "cloudflare:index/workersScript:WorkersScript::api: observability switched off in prod",
    ],
    [
      "migration-edited",
      [resource(SQL, "m", { migrations: [{ name: "0001_a.sql", checksum: "1" }] })],
      [resource(SQL, "m", { migrations: [{ name: "0001_a.sql", checksum: "2" }] })],
      "pulumi-nodejs:dynamic/workers-platform:SqlMigrations::m: 0001_a.sql was edited after it was applied (a deployed database keeps the old version)",
    ],
    [
      "migration-edited",
      [
        resource(SQL, "m", {
          migrations: [
            { name: "0001_a.sql", checksum: "1" },
            { name: "0002_b.sql", checksum: "2" },
          ],
        }),
      ],
      [resource(SQL, "m", { migrations: [{ name: "0001_a.sql", checksum: "1" }] })],
      "pulumi-nodejs:dynamic/workers-platform:SqlMigrations::m: 0002_b.sql was removed after it was applied",
    ],
  ])("flags %s", (rule, before, after, message) => {
    const diff = diffGraphs(side(before), side(after), "main");
    expect(diff.risks).toEqual([{ urn: expect.any(String), rule, message }]);
  });

  it("flags a new migration that drops or truncates data, naming the statement", () => {
    const before = resource(SQL, "m", { migrations: [{ name: "0001_a.sql", checksum: "1" }] });
    const after = resource(SQL, "m", {
      migrations: [
        { name: "0001_a.sql", checksum: "1" },
        { name: "0002_b.sql", checksum: "2" },
      ],
    });
    const diff = diffGraphs(
      side([before]),
      side([after], "prod", { [after.urn]: { "0002_b.sql": "CREATE TABLE t (a int);\nTRUNCATE builds;" } }),
      "main",
    );
    expect(diff.risks.map((r) => r.rule)).toEqual(["migration-data-loss"]);
    expect(diff.risks[0]?.message).toMatch(
      /^pulumi-nodejs:dynamic\/workers-platform:SqlMigrations::m: new migration 0002_b.sql destroys data: .*TRUNCATE/,
    );
  });

  it("flags a secret made plain under a key with a dot, or in an element named with brackets", () => {
    const before = resource(SCRIPT, "api", {
      vars: { "A.B": MASK },
      bindings: [{ name: "X[1]", type: "secret_text", text: MASK }],
    });
    const after = resource(SCRIPT, "api", {
      vars: { "A.B": "plain" },
      bindings: [{ name: "X[1]", type: "plain_text", text: "plain" }],
    });
    expect(diffGraphs(side([before]), side([after]), "main").risks.map((r) => r.message)).toEqual([
      "cloudflare:index/workersScript:WorkersScript::api: inputs.bindings[name=X[1]].text was a secret and is now a plain value",
      "cloudflare:index/workersScript:WorkersScript::api: inputs.vars.A.B was a secret and is now a plain value",
    ]);
  });

  it("does not flag placement or observability outside prod, nor a secret that stays secret", () => {
    const before = resource(SCRIPT, "api", {
      placement: { mode: "smart" },
      observability: { enabled: true },
      bindings: [{ name: "T", type: "secret_text", text: MASK }],
    });
    const after = resource(SCRIPT, "api", { bindings: [{ name: "T", type: "secret_text", text: MASK }] });
    expect(diffGraphs(side([before], "dev"), side([after], "dev"), "main").risks).toEqual([]);
  });

  it("pairs a renamed resource with its replacement: replaced because of the URN, stateful risk", () => {
    const before = resource(
      BUCKET,
      "build-cache",
      { accountId: "a", name: "app-prod-build-cache" },
      { protect: true },
    );
    const after = resource(
      BUCKET,
      "artifact-cache",
      { accountId: "a", name: "app-prod-artifact-cache" },
      { protect: true },
    );
    const diff = diffGraphs(side([before]), side([after]), "main");
    expect(diff.added).toEqual([]);
    expect(diff.removed).toEqual([]);
    expect(diff.replaced).toEqual([{ urn: after.urn, because: ["urn", "inputs.name"], from: before.urn }]);
    expect(diff.risks).toEqual([
      {
        urn: after.urn,
        rule: "stateful-replaced",
        message:
          "cloudflare:index/r2Bucket:R2Bucket::artifact-cache (was cloudflare:index/r2Bucket:R2Bucket::build-cache) is replaced (urn, inputs.name): a new, empty one takes its place",
      },
    ]);
  });

  it("replaces a PostgreSQL schema moved to another database, a stateful replacement", () => {
    const schema = "postgresql:index/schema:Schema";
    const diff = diffGraphs(
      side([
        resource(schema, "s", { name: "app", database: "one" }, { protect: true, retainOnDelete: true }),
      ]),
      side([
        resource(schema, "s", { name: "app", database: "two" }, { protect: true, retainOnDelete: true }),
      ]),
      "main",
    );
    expect(diff.replaced).toEqual([{ urn: urn(schema, "s"), because: ["inputs.database"] }]);
    expect(diff.risks.map((r) => r.rule)).toEqual(["stateful-replaced"]);
  });

  it("lists added and removed resources that have no counterpart, and updates in place what does not force a new one", () => {
    const kv = resource(KV, "kv", { accountId: "a", title: "old" });
    const diff = diffGraphs(
      side([kv, resource(SCRIPT, "a", {}), resource(SCRIPT, "b", {})]),
      side([{ ...kv, inputs: { accountId: "a", title: "new" } }, resource(SCRIPT, "c", {})]),
      "main",
    );
    expect(diff.changed).toEqual([{ urn: kv.urn, paths: ["inputs.title"] }]);
    expect(diff.added).toEqual([urn(SCRIPT, "c")]);
    expect(diff.removed).toEqual([urn(SCRIPT, "a"), urn(SCRIPT, "b")]);
  });
});

describe("renderMarkdown", () => {
  it("says so when nothing changes", () => {
    expect(
      renderMarkdown({
        stack: "dev",
        base: "main (abc)",
        added: [],
        removed: [],
        replaced: [],
        changed: [],
        risks: [],
      }),
    ).toBe(
      "### Stack `dev`: 0 risks, 0 replaced, 0 added, 0 removed, 0 changed\n\nCompared with `main (abc)`.\n\nNo changes.\n",
    );
  });

  it("keeps every row on one line and shows no HTML from a message", () => {
    const text = renderMarkdown({
      stack: "prod",
      base: "main",
      added: [],
      removed: [urn(KV, "kv")],
      replaced: [],
      changed: [],
      risks: [{ urn: urn(KV, "kv"), rule: "stateful-deleted", message: "a | b\n  <!-- c" }],
    });
    expect(text).toContain(
      "| `cloudflare:index/workersKvNamespace:WorkersKvNamespace::kv` | stateful-deleted | a \\| b &lt;!-- c |",
    );
  });

  it("puts risks first, then the replaced, added, removed and changed resources, a bundle by hash and size", () => {
    const script = urn(SCRIPT, "api");
    const text = renderMarkdown({
      stack: "prod",
      base: "main",
      added: [urn(KV, "kv")],
      removed: [],
      replaced: [{ urn: urn(BUCKET, "b"), because: ["inputs.name"] }],
      changed: [
        {
          urn: script,
          paths: ["inputs.content", "inputs.vars"],
          bundle: { before: bundle("a", 100), after: bundle("b", 90), delta: -10 },
        },
      ],
      risks: [{ urn: urn(BUCKET, "b"), rule: "stateful-replaced", message: "b | is replaced" }],
    });
    expect(text.split("\n")).toEqual([
      "### Stack `prod`: 1 risk, 1 replaced, 1 added, 0 removed, 1 changed",
      "",
      "Compared with `main`.",
      "",
      "**Risks**",
      "",
      "| Resource | Rule | What |",
      "|---|---|---|",
      "| `cloudflare:index/r2Bucket:R2Bucket::b` | stateful-replaced | b \\| is replaced |",
      "",
      "**Replaced**",
      "",
      "- `cloudflare:index/r2Bucket:R2Bucket::b` because `inputs.name` changed",
      "",
      "**Added**",
      "",
      "- `cloudflare:index/workersKvNamespace:WorkersKvNamespace::kv`",
      "",
      "**Changed**",
      "",
      "- `cloudflare:index/workersScript:WorkersScript::api`: bundle `aaaaaaaaaaaa` → `bbbbbbbbbbbb`, 100 → 90 bytes (-10); `inputs.vars`",
      "",
    ]);
    expect(shortUrn(urn(BUCKET, "b", "workers-platform:cloudflare:R2Bucket"))).toBe(
      "cloudflare:index/r2Bucket:R2Bucket::b",
    );
  });
});
