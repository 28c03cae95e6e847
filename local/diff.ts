import { isStateful } from "../components/resource-kinds";
import { findDataLossStatements } from "../components/sql-analysis";
import { MASK } from "./mask";
import type { SynthGraph } from "./synth";

/**
 * The graph diff: what a change does to a stack's resources, from the synth graphs of a base and a head,
 * with no credentials and no engine. Pure: the graphs in, the diff out (local/diff-cli.ts makes them).
 */

export type GraphResource = SynthGraph["resources"][number];

/** A SQL or D1 migration file as its migrations resource lists it (`sql` the file's text). */
interface MigrationFile {
  name: string;
  checksum?: string;
  sql?: unknown;
}

/** One side of the diff: the rendered graph (secrets masked, payloads digested), and the migration files' SQL. */
export interface DiffSide {
  graph: SynthGraph;
  /** URN of a migrations resource → file name → SQL text (for what a new file does to data). */
  migrationSql: Map<string, Map<string, string>>;
}

export interface Risk {
  urn: string;
  rule: RiskRule;
  message: string;
}

export type RiskRule =
  | "stateful-deleted"
  | "stateful-replaced"
  | "protect-dropped"
  | "retain-on-delete-dropped"
  | "durable-object-class-deleted"
  | "migration-edited"
  | "migration-data-loss"
  | "secret-exposed"
  | "placement-off"
  | "observability-off";

/** A Worker's uploaded bundle, before and after: digests, sizes and the size change in bytes. */
export interface BundleChange {
  before: { sha256: string; bytes: number };
  after: { sha256: string; bytes: number };
  delta: number;
}

export interface GraphDiff {
  stack: string;
  base: string;
  added: string[];
  removed: string[];
  /** `from`: the URN it replaces, when that differs (a renamed resource). */
  replaced: { urn: string; because: string[]; from?: string }[];
  changed: { urn: string; paths: string[]; bundle?: BundleChange }[];
  risks: Risk[];
}

/**
 * Inputs whose change makes the provider create a new resource and delete the old one, by type (the
 * Cloudflare, PostgreSQL and random providers' replace-on-change fields for the resources the components
 * create). A change anywhere else updates in place.
 */
const REPLACED_ON_CHANGE: Record<string, readonly string[]> = {
  "cloudflare:index/workersScript:WorkersScript": ["accountId", "scriptName"],
  "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain": ["accountId", "scriptName"],
  "cloudflare:index/workersCronTrigger:WorkersCronTrigger": ["accountId", "scriptName"],
  "cloudflare:index/workersCustomDomain:WorkersCustomDomain": ["accountId", "zoneId", "hostname"],
  "cloudflare:index/workersRoute:WorkersRoute": ["zoneId"],
  "cloudflare:index/workersKvNamespace:WorkersKvNamespace": ["accountId"],
  "cloudflare:index/d1Database:D1Database": ["accountId", "name", "primaryLocationHint"],
  "cloudflare:index/r2Bucket:R2Bucket": ["accountId", "name", "location", "jurisdiction"],
  "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle": ["accountId", "bucketName", "jurisdiction"],
  "cloudflare:index/queue:Queue": ["accountId"],
  "cloudflare:index/queueConsumer:QueueConsumer": ["accountId", "queueId"],
  "cloudflare:index/hyperdriveConfig:HyperdriveConfig": ["accountId"],
  "postgresql:index/database:Database": ["template", "encoding", "lcCollate", "lcCtype"],
  "postgresql:index/schema:Schema": ["database"],
  "postgresql:index/grant:Grant": ["database", "role", "schema", "objectType", "privileges", "objects"],
  "postgresql:index/defaultPrivileges:DefaultPrivileges": [
    "database",
    "role",
    "owner",
    "schema",
    "objectType",
    "privileges",
  ],
  "postgresql:index/extension:Extension": ["name", "database"],
  "random:index/randomPassword:RandomPassword": ["length", "special", "upper", "lower", "numeric", "keepers"],
};

const SQL_MIGRATIONS = /:(SqlMigrations|D1Migrations)$/;
const WORKERS_SCRIPT = "cloudflare:index/workersScript:WorkersScript";

/** `type::name` of a URN, for people: the resource's own type (not its parents') and its name. */
export function shortUrn(urn: string): string {
  const parts = urn.split("::");
  const types = parts[2] ?? "";
  return `${types.slice(types.lastIndexOf("$") + 1)}::${parts.slice(3).join("::")}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A digest as synth prints a payload: compared and shown as one value. */
const isDigest = (v: unknown): v is { sha256: string; bytes: number } =>
  isObject(v) && Object.keys(v).length === 2 && typeof v.sha256 === "string" && typeof v.bytes === "number";

/** The key that names each element of an array, when every element on both sides has a distinct one. */
function elementKey(a: unknown[], b: unknown[]): string | undefined {
  for (const key of ["name", "id"]) {
    const names = (list: unknown[]) =>
      list.every((e) => isObject(e) && typeof e[key] === "string")
        ? new Set(list.map((e) => (e as Record<string, string>)[key]))
        : undefined;
    const left = names(a);
    const right = names(b);
    if (left && right && left.size === a.length && right.size === b.length) return key;
  }
  return undefined;
}

/**
 * Every path at which two values differ: `a.b`, `list[2]`, and `bindings[name=KV]` for arrays whose
 * elements each carry a distinct `name` (or `id`), so that inserting one element does not shift the rest.
 * A digest is one value.
 */
export function differingPaths(before: unknown, after: unknown, at = ""): string[] {
  return differences(before, after, at).map((d) => d.path);
}

/** One place two values differ: its path (as `differingPaths` writes it) and the value on each side. */
interface Difference {
  path: string;
  before: unknown;
  after: unknown;
}

/** `differingPaths` with the values themselves, so that no path has to be read back. */
function differences(before: unknown, after: unknown, at: string): Difference[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isDigest(before) || isDigest(after)) return [{ path: at, before, after }];
  if (Array.isArray(before) && Array.isArray(after)) {
    const key = elementKey(before, after);
    if (key) {
      const byKey = (list: unknown[]) => new Map(list.map((e) => [(e as Record<string, string>)[key], e]));
      const left = byKey(before);
      const right = byKey(after);
      const names = [...new Set([...left.keys(), ...right.keys()])];
      return names.flatMap((n) => differences(left.get(n), right.get(n), `${at}[${key}=${n}]`));
    }
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, i) => differences(before[i], after[i], `${at}[${i}]`)).flat();
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => differences(before[k], after[k], at ? `${at}.${k}` : k));
  }
  return [{ path: at, before, after }];
}

/** The value at a dotted path of plain keys (`inputs.placement.mode`). */
function valueAt(root: unknown, path: string): unknown {
  let value: unknown = root;
  for (const key of path.split(".")) value = isObject(value) ? value[key] : undefined;
  return value;
}

/** The resource's properties a reviewer sees change: its inputs, protection and place in the graph. */
const comparable = (r: GraphResource) => ({
  inputs: r.inputs,
  protect: r.protect,
  retainOnDelete: r.retainOnDelete,
  parent: r.parent,
  dependsOn: r.dependsOn,
});

/** The URN's type chain (everything but the name), which a renamed resource keeps. */
const typeChain = (urn: string) =>
  urn
    .split("::")
    .slice(0, 3)
    .join("::")
    .replace(/^urn:pulumi:[^:]*/, "");

/** A component groups resources and holds nothing itself: its type has no module path (`pkg:mod:Type`). */
const isComponent = (type: string) => !type.includes("/") && !type.startsWith("pulumi:providers:");

/**
 * Pairs each removed resource with the one added in its place (same type chain, the only such pair).
 * Components are not paired: a renamed component is listed as removed and added, and its resources as
 * replaced.
 */
function renamedPairs(removed: GraphResource[], added: GraphResource[]): [GraphResource, GraphResource][] {
  const pairs: [GraphResource, GraphResource][] = [];
  for (const gone of removed.filter((r) => !isComponent(r.type))) {
    const chain = typeChain(gone.urn);
    const left = removed.filter((r) => typeChain(r.urn) === chain);
    const right = added.filter((r) => typeChain(r.urn) === chain);
    if (left.length === 1 && right.length === 1) pairs.push([gone, right[0] as GraphResource]);
  }
  return pairs;
}

const migrationFiles = (r: GraphResource | undefined): MigrationFile[] =>
  Array.isArray(r?.inputs.migrations) ? (r.inputs.migrations as MigrationFile[]) : [];

/** A Worker's Durable Object migration steps, from the upload's `migrations` (one step or `steps`). */
function migrationSteps(r: GraphResource | undefined): Record<string, unknown>[] {
  const m = r?.inputs.migrations;
  if (!isObject(m)) return [];
  if (Array.isArray(m.steps)) return m.steps.filter(isObject);
  const { newTag: _n, oldTag: _o, ...step } = m;
  return Object.keys(step).length > 0 ? [step] : [];
}

const isProduction = (stack: string) => /^(prod|production)$/i.test(stack);

/** What a reviewer must not miss about one resource that exists on both sides (or was replaced). */
function risksOf(
  before: GraphResource,
  after: GraphResource,
  stack: string,
  sides: { base: DiffSide; head: DiffSide },
): Risk[] {
  const risks: Risk[] = [];
  const urn = after.urn;
  const name = shortUrn(urn);
  if (before.protect && !after.protect) {
    risks.push({
      urn,
      rule: "protect-dropped",
      message: `${name} is no longer protected: pulumi may delete it`,
    });
  }
  if (before.retainOnDelete && !after.retainOnDelete) {
    risks.push({
      urn,
      rule: "retain-on-delete-dropped",
      message: `${name} is no longer retained on delete: removing it from the program deletes it`,
    });
  }
  for (const { path, before: was, after: now } of differences(before.inputs, after.inputs, "inputs")) {
    if (was === MASK && now !== MASK && now !== undefined) {
      risks.push({
        urn,
        rule: "secret-exposed",
        message: `${name}: ${path} was a secret and is now a plain value`,
      });
    }
  }
  if (after.type === WORKERS_SCRIPT) {
    const known = new Set(migrationSteps(before).map((s) => JSON.stringify(s)));
    for (const step of migrationSteps(after).filter((s) => !known.has(JSON.stringify(s)))) {
      const deleted = (step.deletedClasses as string[] | undefined) ?? [];
      const transferred =
        (step.transferredClasses as { from: string; fromScript: string }[] | undefined) ?? [];
      if (deleted.length + transferred.length > 0) {
        const what = [
          ...deleted.map((c) => `deletes class ${c}`),
          ...transferred.map(
            (t) => `takes over class ${t.from} of script ${t.fromScript} (its objects leave it)`,
          ),
        ].join(", ");
        risks.push({
          urn,
          rule: "durable-object-class-deleted",
          message: `${name}: a new Durable Object migration ${what}: every object's data goes with it`,
        });
      }
    }
    if (isProduction(stack)) {
      const placement = (r: GraphResource) =>
        (valueAt(r, "inputs.placement.mode") as string | undefined) ?? "off";
      if (placement(before) === "smart" && placement(after) !== "smart") {
        risks.push({
          urn,
          rule: "placement-off",
          message: `${name}: Smart Placement switched off in ${stack}`,
        });
      }
      const observed = (r: GraphResource) => valueAt(r, "inputs.observability.enabled") === true;
      if (observed(before) && !observed(after)) {
        risks.push({
          urn,
          rule: "observability-off",
          message: `${name}: observability switched off in ${stack}`,
        });
      }
    }
  }
  if (SQL_MIGRATIONS.test(after.type)) {
    const old = new Map(migrationFiles(before).map((f) => [f.name, f]));
    for (const file of migrationFiles(after)) {
      const was = old.get(file.name);
      if (was && JSON.stringify(was) !== JSON.stringify(file)) {
        risks.push({
          urn,
          rule: "migration-edited",
          message: `${name}: ${file.name} was edited after it was applied (a deployed database keeps the old version)`,
        });
      }
      if (!was) {
        const sql = sides.head.migrationSql.get(urn)?.get(file.name) ?? "";
        const losses = findDataLossStatements(sql);
        if (losses.length > 0) {
          risks.push({
            urn,
            rule: "migration-data-loss",
            message: `${name}: new migration ${file.name} destroys data: ${losses.join("; ")}`,
          });
        }
      }
    }
    const now = new Set(migrationFiles(after).map((f) => f.name));
    for (const gone of old.keys()) {
      if (!now.has(gone)) {
        risks.push({
          urn,
          rule: "migration-edited",
          message: `${name}: ${gone} was removed after it was applied`,
        });
      }
    }
  }
  return risks;
}

/** Compares a stack's graph at a base with the head's: added, removed, replaced, changed, and the risks. */
export function diffGraphs(base: DiffSide, head: DiffSide, baseName: string): GraphDiff {
  const stack = head.graph.stack;
  const before = new Map(base.graph.resources.map((r) => [r.urn, r]));
  const after = new Map(head.graph.resources.map((r) => [r.urn, r]));
  const removedAll = base.graph.resources.filter((r) => !after.has(r.urn));
  const addedAll = head.graph.resources.filter((r) => !before.has(r.urn));
  const pairs = renamedPairs(removedAll, addedAll);
  const paired = new Set(pairs.flatMap(([a, b]) => [a.urn, b.urn]));
  const diff: GraphDiff = {
    stack,
    base: baseName,
    added: addedAll.filter((r) => !paired.has(r.urn)).map((r) => r.urn),
    removed: removedAll.filter((r) => !paired.has(r.urn)).map((r) => r.urn),
    replaced: [],
    changed: [],
    risks: [],
  };
  const sides = { base, head };
  for (const urn of diff.removed) {
    const r = before.get(urn) as GraphResource;
    if (isStateful(r.type)) {
      diff.risks.push({
        urn,
        rule: "stateful-deleted",
        message: `${shortUrn(urn)} is deleted, with the data it holds`,
      });
    }
  }
  const replacedBy = (old: GraphResource, now: GraphResource, because: string[]) => {
    diff.replaced.push(
      old.urn === now.urn ? { urn: now.urn, because } : { urn: now.urn, because, from: old.urn },
    );
    if (isStateful(now.type)) {
      const was = old.urn === now.urn ? "" : ` (was ${shortUrn(old.urn)})`;
      diff.risks.push({
        urn: now.urn,
        rule: "stateful-replaced",
        message: `${shortUrn(now.urn)}${was} is replaced (${because.join(", ")}): a new, empty one takes its place`,
      });
    }
    diff.risks.push(...risksOf(old, now, stack, sides));
  };
  for (const [old, now] of pairs) {
    replacedBy(old, now, ["urn", ...forcing(old, now)]);
  }
  for (const now of head.graph.resources) {
    const old = before.get(now.urn);
    if (!old) continue;
    const paths = differingPaths(comparable(old), comparable(now));
    if (paths.length === 0) continue;
    const because = forcing(old, now);
    if (because.length > 0) {
      replacedBy(old, now, because);
      continue;
    }
    const entry: GraphDiff["changed"][number] = { urn: now.urn, paths };
    const was = old.inputs.content;
    const is = now.inputs.content;
    if (paths.includes("inputs.content") && isDigest(was) && isDigest(is)) {
      entry.bundle = { before: was, after: is, delta: is.bytes - was.bytes };
    }
    diff.changed.push(entry);
    diff.risks.push(...risksOf(old, now, stack, sides));
  }
  diff.replaced.sort((a, b) => (a.urn < b.urn ? -1 : 1));
  return diff;
}

/** The replace-on-change inputs that differ, as `inputs.<name>` paths. */
function forcing(old: GraphResource, now: GraphResource): string[] {
  return (REPLACED_ON_CHANGE[now.type] ?? [])
    .filter((k) => JSON.stringify(old.inputs[k]) !== JSON.stringify(now.inputs[k]))
    .map((k) => `inputs.${k}`);
}

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** Text safe in a markdown table cell or list item: one line, no HTML (a `<!--` would hide the rest). */
const plain = (s: string) =>
  s
    .replace(/\s*\n\s*/g, " ")
    .replace(/</g, "&lt;")
    .replace(/\|/g, "\\|");
const code = (s: string) => `\`${plain(s).replace(/`/g, "'")}\``;

/** The diff as a pull-request comment's section: risks first, then what is replaced, added, removed, changed. */
export function renderMarkdown(diff: GraphDiff): string {
  const summary = [
    count(diff.risks.length, "risk"),
    `${diff.replaced.length} replaced`,
    `${diff.added.length} added`,
    `${diff.removed.length} removed`,
    `${diff.changed.length} changed`,
  ].join(", ");
  const lines = [`### Stack ${code(diff.stack)}: ${summary}`, "", `Compared with ${code(diff.base)}.`, ""];
  const total = diff.replaced.length + diff.added.length + diff.removed.length + diff.changed.length;
  if (total === 0) {
    lines.push("No changes.", "");
    return lines.join("\n");
  }
  if (diff.risks.length > 0) {
    lines.push("**Risks**", "", "| Resource | Rule | What |", "|---|---|---|");
    for (const r of diff.risks) {
      lines.push(`| ${code(shortUrn(r.urn))} | ${r.rule} | ${plain(r.message)} |`);
    }
    lines.push("");
  }
  const list = (title: string, items: string[]) => {
    if (items.length === 0) return;
    lines.push(`**${title}**`, "", ...items.map((i) => `- ${i}`), "");
  };
  list(
    "Replaced",
    diff.replaced.map(
      (r) =>
        `${code(shortUrn(r.urn))}${r.from ? ` (was ${code(shortUrn(r.from))})` : ""} because ${r.because.map(code).join(", ")} changed`,
    ),
  );
  list(
    "Added",
    diff.added.map((u) => code(shortUrn(u))),
  );
  list(
    "Removed",
    diff.removed.map((u) => code(shortUrn(u))),
  );
  list(
    "Changed",
    diff.changed.map((c) => {
      const bundle = c.bundle
        ? `: bundle ${code(c.bundle.before.sha256.slice(0, 12))} → ${code(c.bundle.after.sha256.slice(0, 12))}, ${c.bundle.before.bytes} → ${c.bundle.after.bytes} bytes (${c.bundle.delta >= 0 ? "+" : ""}${c.bundle.delta})`
        : "";
      const others = c.paths.filter((p) => !(c.bundle && p === "inputs.content"));
      return `${code(shortUrn(c.urn))}${bundle}${others.length > 0 ? `${bundle ? "; " : ": "}${others.map(code).join(", ")}` : ""}`;
    }),
  );
  return lines.join("\n");
}
