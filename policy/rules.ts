/**
 * The data-safety rules of this project's stacks, as pure functions over one resource at a time. Two
 * callers share them: the policy pack (`policy/index.ts`, at `pulumi preview --policy-pack policy`) and the
 * synth check of every stack in `npm test` (`policy/rules.test.ts`). Each caller adapts what it sees into a
 * `ResourceRecord` and a `RuleContext`; nothing here knows where a record came from.
 */
import { LOCAL_SERVICE_TYPE } from "../components/local-service-types";
import { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "../components/migration-types";
import { PACKAGE } from "../components/options";
import { isStateful } from "../components/resource-kinds";

/** One resource as a rule sees it. */
export interface ResourceRecord {
  type: string;
  name: string;
  urn: string;
  /** The inputs as registered; a secret reads as `RuleContext.secretMask` where the caller can tell. */
  inputs: Record<string, unknown>;
  protect: boolean;
  /**
   * Undefined where the caller cannot see it: @pulumi/policy 1.21's resource options carry no
   * `retainOnDelete`; the rule then checks `protect` alone.
   */
  retainOnDelete: boolean | undefined;
  /** Types of the resource's parents, nearest first. @default [] */
  ancestorTypes?: readonly string[];
}

/** What a rule knows of the stack and of the exceptions stated for it. */
export interface RuleContext {
  stack: string;
  /** Stacks whose stateful resources must be protected and retained on delete. @default ["prod"] */
  prodStacks?: readonly string[];
  /**
   * How a secret value reads in a record's inputs (synth prints every one as `"[secret]"`). Undefined
   * where secrets arrive unmarked, as in the policy pack (pulumi/pulumi-policy#241): the secrets rule then
   * checks only what names give away.
   */
  secretMask?: string;
  /**
   * Durable Object classes whose deletion or transfer is approved, as `"<script>.<Class>"` (for a
   * transfer, the script and class the objects leave). @default []
   */
  approvedDurableObjectDataLoss?: readonly string[];
  /** The stack states that the builds platform's Hyperdrive may cache queries. @default false */
  buildsHyperdriveCaching?: boolean;
  /** No Worker's compatibility date may be older. @default DEFAULT_MINIMUM_COMPATIBILITY_DATE */
  minimumCompatibilityDate?: string;
  /** Nor older than this many days before `now`. @default no limit */
  maxCompatibilityDateAgeDays?: number;
  /** Read only with `maxCompatibilityDateAgeDays`. @default the current time */
  now?: Date;
}

export interface Violation {
  rule: RuleId;
  urn: string;
  message: string;
}

export interface Rule {
  id: RuleId;
  description: string;
  /** One message per problem of `resource`; none when the rule holds or does not apply. */
  check(resource: ResourceRecord, context: RuleContext): string[];
}

export type RuleId =
  | "prod-stateful-protected"
  | "secrets-stay-secret"
  | "durable-object-deletion-approved"
  | "builds-hyperdrive-cache-off"
  | "compatibility-date-floor";

/**
 * From this date on `nodejs_compat` means Node.js compatibility v2, which the bundles' `node:` imports
 * (pg, crypto) are built for; an older date runs them on the first version's partial built-ins.
 */
export const DEFAULT_MINIMUM_COMPATIBILITY_DATE = "2024-09-23";

const WORKERS_SCRIPT = "cloudflare:index/workersScript:WorkersScript";
const HYPERDRIVE_CONFIG = "cloudflare:index/hyperdriveConfig:HyperdriveConfig";
/** `BuildsPlatform.TYPE`, spelled here so the pack does not load the platform's module (and esbuild). */
export const BUILDS_PLATFORM_TYPE = `${PACKAGE}:builds:BuildsPlatform`;

type Inputs = Record<string, unknown>;

function isObject(value: unknown): value is Inputs {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function strings(value: unknown): string[] {
  return list(value).filter((v): v is string => typeof v === "string");
}

const protectedInProd: Rule = {
  id: "prod-stateful-protected",
  description: "A prod stack's resources that hold data are protected and retained on delete.",
  check(resource, context) {
    const prodStacks = context.prodStacks ?? ["prod"];
    if (!isStateful(resource.type) || !prodStacks.includes(context.stack)) return [];
    const missing = [
      ...(resource.protect ? [] : ["protect"]),
      ...(resource.retainOnDelete === false ? ["retainOnDelete"] : []),
    ];
    if (missing.length === 0) return [];
    return [
      `${resource.type} "${resource.name}" holds data in prod stack "${context.stack}" but lacks ${missing.join(" and ")}: set workers-platform:protect: true in the stack config (the components then set protect and retainOnDelete), or those resource options on a resource of your own`,
    ];
  },
};

/** A field that must hold a Pulumi secret, where it is set. */
interface SecretField {
  path: string;
  value: unknown;
}

function fields(inputs: Inputs, ...paths: string[]): SecretField[] {
  const out: SecretField[] = [];
  for (const path of paths) {
    let value: unknown = inputs;
    for (const key of path.split(".")) value = isObject(value) ? value[key] : undefined;
    if (value !== undefined && value !== null) out.push({ path, value });
  }
  return out;
}

/** Per resource type, the inputs that carry a secret (absent ones are not asked for). */
const SECRET_FIELDS: Record<string, (inputs: Inputs) => SecretField[]> = {
  [WORKERS_SCRIPT]: (inputs) =>
    list(inputs.bindings).flatMap((binding, i) => {
      if (!isObject(binding)) return [];
      if (binding.type === "secret_text") return fields(binding, "text").map(inBinding(i, binding));
      if (binding.type === "secret_key")
        return fields(binding, "keyBase64", "keyJwk").map(inBinding(i, binding));
      return [];
    }),
  [HYPERDRIVE_CONFIG]: (inputs) => fields(inputs, "origin.password", "origin.accessClientSecret"),
  "postgresql:index/role:Role": (inputs) => fields(inputs, "password"),
  "pulumi:providers:postgresql": (inputs) => fields(inputs, "password"),
  "pulumi:providers:cloudflare": (inputs) => fields(inputs, "apiToken", "apiKey", "apiUserServiceKey"),
  [SQL_MIGRATIONS_TYPE]: (inputs) => fields(inputs, "connection.password"),
  [D1_MIGRATIONS_TYPE]: (inputs) => fields(inputs, "apiToken"),
  [LOCAL_SERVICE_TYPE]: (inputs) => fields(inputs, "token", "secret"),
};

function inBinding(index: number, binding: Inputs): (field: SecretField) => SecretField {
  return (field) => ({ ...field, path: `bindings[${index}] (${String(binding.name)}).${field.path}` });
}

/** Whether `value` is a secret as masked: the mask, or a structure whose every value is. */
function isMasked(value: unknown, mask: string): boolean {
  if (value === mask) return true;
  if (typeof value !== "object" || value === null) return false;
  const leaves = Object.values(value).filter((v) => v !== null);
  return leaves.length > 0 && leaves.every((v) => isMasked(v, mask));
}

const SECRET_WORDS = new Set([
  "token",
  "secret",
  "password",
  "passwd",
  "key",
  "apikey",
  "credential",
  "credentials",
]);

/** `RUNNER_TOKEN`, `apiKey`, `DB_PASSWORD`: a name made of words, one of which says secret. */
export function nameLooksSecret(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((word) => SECRET_WORDS.has(word));
}

const secretsStaySecret: Rule = {
  id: "secrets-stay-secret",
  description:
    "Passwords, tokens and secret bindings are Pulumi secrets, and no secret is uploaded as a plain_text binding.",
  check(resource, context) {
    const problems: string[] = [];
    const mask = context.secretMask;
    const of = `${resource.type} "${resource.name}"`;
    if (mask !== undefined) {
      for (const field of SECRET_FIELDS[resource.type]?.(resource.inputs) ?? []) {
        if (!isMasked(field.value, mask)) {
          problems.push(
            `${of}: ${field.path} is not a Pulumi secret: give it through config.requireSecret or pulumi.secret`,
          );
        }
      }
    }
    if (resource.type !== WORKERS_SCRIPT) return problems;
    list(resource.inputs.bindings).forEach((binding, i) => {
      if (!isObject(binding) || binding.type !== "plain_text") return;
      const name = String(binding.name);
      // Only reads `text` where secrets are marked: in the pack a value may be unknown during preview.
      const reasons = [
        ...(nameLooksSecret(name) ? ["its name says it is a secret"] : []),
        ...(mask !== undefined && isMasked(binding.text, mask) ? ["its value is a Pulumi secret"] : []),
      ];
      if (reasons.length > 0) {
        problems.push(
          `${of}: plain_text binding ${name} (bindings[${i}]) holds a secret (${reasons.join(", ")}) in a value anyone who can read the Worker sees: declare it under secrets (a secret_text binding)`,
        );
      }
    });
    return problems;
  },
};

const deletionApproved: Rule = {
  id: "durable-object-deletion-approved",
  description:
    "A Worker upload deletes or transfers a Durable Object class only when that class's data loss is approved.",
  check(resource, context) {
    const migrations = resource.inputs.migrations;
    if (resource.type !== WORKERS_SCRIPT || !isObject(migrations)) return [];
    const script =
      typeof resource.inputs.scriptName === "string" ? resource.inputs.scriptName : resource.name;
    const approved = new Set(context.approvedDurableObjectDataLoss ?? []);
    // The single-step form carries its operations on the migration itself.
    const steps = [migrations, ...list(migrations.steps).filter(isObject)];
    const problems: string[] = [];
    const refuse = (key: string, what: string) => {
      if (approved.has(key)) return;
      problems.push(
        `Worker script "${script}" ${what}; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["${key}"]`,
      );
    };
    for (const step of steps) {
      for (const name of strings(step.deletedClasses)) {
        refuse(
          `${script}.${name}`,
          `deletes Durable Object class ${name}: every ${name} object and its stored data is destroyed`,
        );
      }
      for (const transfer of list(step.transferredClasses).filter(isObject)) {
        const { from, fromScript, to } = transfer;
        refuse(
          `${String(fromScript)}.${String(from)}`,
          `transfers Durable Object class ${String(from)} of script "${String(fromScript)}" into class ${String(to)}: its objects and their data leave "${String(fromScript)}" for good`,
        );
      }
    }
    return problems;
  },
};

const buildsHyperdriveCacheOff: Rule = {
  id: "builds-hyperdrive-cache-off",
  description:
    "The builds platform's Hyperdrive does not cache queries unless the stack states it: the API reads its own writes.",
  check(resource, context) {
    if (resource.type !== HYPERDRIVE_CONFIG || context.buildsHyperdriveCaching === true) return [];
    if (!(resource.ancestorTypes ?? []).includes(BUILDS_PLATFORM_TYPE)) return [];
    const caching = resource.inputs.caching;
    if (isObject(caching) && caching.disabled === true) return [];
    return [
      `HyperdriveConfig "${resource.name}" of the builds platform caches queries (caching.disabled is not true): the builds API reads its own writes (a build's status, a trigger just made), which a cached read shows up to maxAge late; set workers-platform:hyperdrive.caching.enabled: false in the stack config, or state that this stack caches (policy config cachingAllowedStacks)`,
    ];
  },
};

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `value` is a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(value: unknown): value is string {
  const match = typeof value === "string" ? DATE.exec(value) : null;
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The oldest compatibility date the context allows, and why. Throws on a malformed setting. */
export function compatibilityDateFloor(context: RuleContext): { date: string; reason: string } {
  const minimum = context.minimumCompatibilityDate ?? DEFAULT_MINIMUM_COMPATIBILITY_DATE;
  if (!isIsoDate(minimum)) {
    throw new Error(`policy config minimumCompatibilityDate must be a date like 2024-09-23 (got ${minimum})`);
  }
  const floor = { date: minimum, reason: `the minimum compatibility date ${minimum}` };
  const days = context.maxCompatibilityDateAgeDays;
  if (days === undefined) return floor;
  if (!Number.isInteger(days) || days < 0) {
    throw new Error(`policy config maxAgeDays must be a whole number of days, 0 or more (got ${days})`);
  }
  const now = context.now ?? new Date();
  const byAge = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
  return byAge > minimum
    ? { date: byAge, reason: `${days} days before ${now.toISOString().slice(0, 10)}` }
    : floor;
}

const compatibilityDateFloorRule: Rule = {
  id: "compatibility-date-floor",
  description: "Every Worker's compatibility date is a date no older than the stack allows.",
  check(resource, context) {
    if (resource.type !== WORKERS_SCRIPT) return [];
    const date = resource.inputs.compatibilityDate;
    const of = `Worker script "${resource.name}"`;
    if (!isIsoDate(date)) {
      return [
        `${of}: compatibilityDate must be a date like 2026-10-01 (got ${date === undefined ? "none" : JSON.stringify(date)}): set the stack config's compatibilityDate`,
      ];
    }
    const floor = compatibilityDateFloor(context);
    if (date >= floor.date) return [];
    return [
      `${of}: compatibilityDate ${date} is older than ${floor.date} (${floor.reason}): move the stack config's compatibilityDate forward and test the Workers on it`,
    ];
  },
};

/** Every rule, in the order violations are reported. */
export const RULES: readonly Rule[] = [
  protectedInProd,
  secretsStaySecret,
  deletionApproved,
  buildsHyperdriveCacheOff,
  compatibilityDateFloorRule,
];

/** Every violation of `rules` by one resource. */
export function checkResource(
  resource: ResourceRecord,
  context: RuleContext,
  rules: readonly Rule[] = RULES,
): Violation[] {
  return rules.flatMap((rule) =>
    rule.check(resource, context).map((message) => ({ rule: rule.id, urn: resource.urn, message })),
  );
}

/** Every violation of `rules` by every resource, resource by resource. */
export function checkResources(
  resources: readonly ResourceRecord[],
  context: RuleContext,
  rules: readonly Rule[] = RULES,
): Violation[] {
  return resources.flatMap((resource) => checkResource(resource, context, rules));
}

/** The graph `npm run synth` prints, or the part of it the rules read. */
export interface SynthGraphLike {
  resources: readonly {
    urn: string;
    type: string;
    name: string;
    parent: string | null;
    inputs: Record<string, unknown>;
    protect: boolean;
    retainOnDelete: boolean;
  }[];
}

/** A synth graph as records, each with the types of its parents from the graph's `parent` links. */
export function recordsFromSynthGraph(graph: SynthGraphLike): ResourceRecord[] {
  const byUrn = new Map(graph.resources.map((r) => [r.urn, r]));
  return graph.resources.map((r) => {
    const ancestorTypes: string[] = [];
    const seen = new Set<string>();
    for (let parent = r.parent; parent !== null && !seen.has(parent); ) {
      seen.add(parent);
      const found = byUrn.get(parent);
      if (!found) break;
      ancestorTypes.push(found.type);
      parent = found.parent;
    }
    return {
      type: r.type,
      name: r.name,
      urn: r.urn,
      inputs: r.inputs,
      protect: r.protect,
      retainOnDelete: r.retainOnDelete,
      ancestorTypes,
    };
  });
}
