/**
 * Fixtures of the rules' tables, shared by the rules' tests and the pack's: for each rule, resources that
 * break it (with the exact messages) and resources that keep it. Every record's URN is written as the
 * engine writes it, so the pack reads the same parents from it as the rule reads from `ancestorTypes`.
 */
import { MASK } from "../local/mask";
import { stackOfUrn } from "./policies";
import { BUILDS_PLATFORM_TYPE, type ResourceRecord, type RuleContext, type RuleId } from "./rules";

export const SCRIPT = "cloudflare:index/workersScript:WorkersScript";
export const HYPERDRIVE = "cloudflare:index/hyperdriveConfig:HyperdriveConfig";
export const HYPERDRIVE_COMPONENT = "workers-platform:cloudflare:Hyperdrive";
export const D1 = "cloudflare:index/d1Database:D1Database";
export const R2 = "cloudflare:index/r2Bucket:R2Bucket";
export const DATABASE = "postgresql:index/database:Database";
export const ROLE = "postgresql:index/role:Role";
export const SQL_MIGRATIONS = "pulumi-nodejs:dynamic/workers-platform:SqlMigrations";
/** What @pulumi/policy's proxy takes for a string unknown during preview (policies.test.ts checks it). */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

interface Options {
  stack?: string;
  protect?: boolean;
  retainOnDelete?: boolean | undefined;
  ancestors?: string[];
}

/** A record whose URN is written as the engine writes it: the parents' types before its own. */
export function record(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  o: Options = {},
): ResourceRecord {
  const ancestors = o.ancestors ?? [];
  const qualified = [...ancestors].reverse().concat(type).join("$");
  return {
    type,
    name,
    urn: `urn:pulumi:${o.stack ?? "prod"}::workers-platform::${qualified}::${name}`,
    inputs,
    protect: o.protect ?? false,
    retainOnDelete: "retainOnDelete" in o ? o.retainOnDelete : false,
    ancestorTypes: ancestors,
  };
}

export const script = (inputs: Record<string, unknown>, o?: Options) =>
  record(SCRIPT, "api", { scriptName: "wp-prod-api", compatibilityDate: "2026-10-01", ...inputs }, o);
export const buildsHyperdrive = (caching: unknown) =>
  record(HYPERDRIVE, "builds-hyperdrive", caching === undefined ? {} : { caching }, {
    ancestors: [HYPERDRIVE_COMPONENT, BUILDS_PLATFORM_TYPE],
  });

export interface Case {
  name: string;
  resource: ResourceRecord;
  context?: Partial<RuleContext>;
  expected: string[];
}

export const NOW = new Date("2026-12-03T12:00:00Z");

export const CASES: Record<RuleId, Case[]> = {
  "prod-stateful-protected": [
    {
      name: "an unprotected D1 database in prod breaks it",
      resource: record(D1, "db", {}),
      expected: [
        `${D1} "db" holds data in prod stack "prod" but lacks protect and retainOnDelete: set workers-platform:protect: true in the stack config (the components then set protect and retainOnDelete), or those resource options on a resource of your own`,
      ],
    },
    {
      name: "a protected R2 bucket not retained on delete breaks it",
      resource: record(R2, "cache", {}, { protect: true }),
      expected: [
        `${R2} "cache" holds data in prod stack "prod" but lacks retainOnDelete: set workers-platform:protect: true in the stack config (the components then set protect and retainOnDelete), or those resource options on a resource of your own`,
      ],
    },
    {
      name: "an unprotected database in a stack listed as prod breaks it",
      resource: record(DATABASE, "builds", {}, { stack: "production", protect: true }),
      context: { stack: "production", prodStacks: ["production"] },
      expected: [
        `${DATABASE} "builds" holds data in prod stack "production" but lacks retainOnDelete: set workers-platform:protect: true in the stack config (the components then set protect and retainOnDelete), or those resource options on a resource of your own`,
      ],
    },
    {
      name: "a protected and retained database in prod keeps it",
      resource: record(DATABASE, "builds", {}, { protect: true, retainOnDelete: true }),
      expected: [],
    },
    {
      name: "protect alone keeps it where retainOnDelete cannot be seen (the pack)",
      resource: record(DATABASE, "builds", {}, { protect: true, retainOnDelete: undefined }),
      expected: [],
    },
    {
      name: "dev data may be unprotected",
      resource: record(D1, "db", {}, { stack: "dev" }),
      context: { stack: "dev" },
      expected: [],
    },
    {
      name: "prod is only what prodStacks lists",
      resource: record(D1, "db", {}),
      context: { prodStacks: ["production"] },
      expected: [],
    },
    { name: "a resource that holds no data need not be protected", resource: script({}), expected: [] },
  ],
  "secrets-stay-secret": [
    {
      name: "a secret_text binding in plain text breaks it",
      resource: script({ bindings: [{ type: "secret_text", name: "API_JWT_SECRET", text: "hunter2" }] }),
      expected: [
        `${SCRIPT} "api": bindings[0] (API_JWT_SECRET).text is not a Pulumi secret: give it through config.requireSecret or pulumi.secret`,
      ],
    },
    {
      name: "a plain_text binding named like a secret breaks it",
      resource: script({
        bindings: [
          { type: "plain_text", name: "RELEASE", text: "v1" },
          { type: "plain_text", name: "apiToken", text: "abc" },
        ],
      }),
      expected: [
        `${SCRIPT} "api": plain_text binding apiToken (bindings[1]) holds a secret (its name says it is a secret) in a value anyone who can read the Worker sees: declare it under secrets (a secret_text binding)`,
      ],
    },
    {
      name: "a Pulumi secret uploaded as a plain_text binding breaks it",
      resource: script({ bindings: [{ type: "plain_text", name: "DB_PASSWORD", text: MASK }] }),
      expected: [
        `${SCRIPT} "api": plain_text binding DB_PASSWORD (bindings[0]) holds a secret (its name says it is a secret, its value is a Pulumi secret) in a value anyone who can read the Worker sees: declare it under secrets (a secret_text binding)`,
      ],
    },
    {
      name: "a Hyperdrive origin password in plain text breaks it",
      resource: record(HYPERDRIVE, "hd", { origin: { host: "db", password: "pw", user: "app" } }),
      expected: [
        `${HYPERDRIVE} "hd": origin.password is not a Pulumi secret: give it through config.requireSecret or pulumi.secret`,
      ],
    },
    {
      name: "a role password in plain text breaks it",
      resource: record(ROLE, "app", { name: "app", password: "pw" }),
      expected: [
        `${ROLE} "app": password is not a Pulumi secret: give it through config.requireSecret or pulumi.secret`,
      ],
    },
    {
      name: "a migration connection's password in plain text breaks it",
      resource: record(SQL_MIGRATIONS, "m", { connection: { host: "db", password: "pw" } }),
      expected: [
        `${SQL_MIGRATIONS} "m": connection.password is not a Pulumi secret: give it through config.requireSecret or pulumi.secret`,
      ],
    },
    {
      name: "secrets as secrets keep it (an origin secret whole, a secret key as a masked object)",
      resource: script({
        bindings: [
          { type: "secret_text", name: "RUNNER_TOKEN", text: MASK },
          { type: "secret_key", name: "SIGNING", keyJwk: { k: MASK, kty: MASK } },
          { type: "plain_text", name: "MONKEY_BUSINESS", text: "ok" },
        ],
      }),
      expected: [],
    },
    {
      name: "a role without a password keeps it",
      resource: record(ROLE, "reader", { name: "reader" }),
      expected: [],
    },
    {
      name: "where secrets arrive unmarked (the pack) only names are checked",
      resource: script({
        bindings: [
          { type: "secret_text", name: "API_JWT_SECRET", text: "hunter2" },
          { type: "plain_text", name: "RUNNER_TOKEN", text: "t" },
        ],
      }),
      context: { secretMask: undefined },
      expected: [
        `${SCRIPT} "api": plain_text binding RUNNER_TOKEN (bindings[1]) holds a secret (its name says it is a secret) in a value anyone who can read the Worker sees: declare it under secrets (a secret_text binding)`,
      ],
    },
  ],
  "durable-object-deletion-approved": [
    {
      name: "a step deleting a class without approval breaks it",
      resource: script({
        migrations: { newTag: "v4@abc", steps: [{ newSqliteClasses: ["A"] }, { deletedClasses: ["Room"] }] },
      }),
      expected: [
        `Worker script "wp-prod-api" deletes Durable Object class Room: every Room object and its stored data is destroyed; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["wp-prod-api.Room"]`,
      ],
    },
    {
      name: "the single-step form deleting a class breaks it",
      resource: script({ migrations: { newTag: "v2", deletedClasses: ["Counter"] } }),
      expected: [
        `Worker script "wp-prod-api" deletes Durable Object class Counter: every Counter object and its stored data is destroyed; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["wp-prod-api.Counter"]`,
      ],
    },
    {
      name: "a transfer out of another script without approval breaks it",
      resource: script({
        migrations: {
          newTag: "v2",
          steps: [{ transferredClasses: [{ from: "Room", fromScript: "wp-prod-old", to: "Lobby" }] }],
        },
      }),
      expected: [
        `Worker script "wp-prod-api" transfers Durable Object class Room of script "wp-prod-old" into class Lobby: its objects and their data leave "wp-prod-old" for good; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["wp-prod-old.Room"]`,
      ],
    },
    {
      name: "an approved deletion keeps it, an unapproved one beside it does not",
      resource: script({ migrations: { newTag: "v3", steps: [{ deletedClasses: ["Room", "Chat"] }] } }),
      context: { approvedDurableObjectDataLoss: ["wp-prod-api.Room", "other-script.Chat"] },
      expected: [
        `Worker script "wp-prod-api" deletes Durable Object class Chat: every Chat object and its stored data is destroyed; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["wp-prod-api.Chat"]`,
      ],
    },
    {
      name: "creating and renaming classes keeps it",
      resource: script({
        migrations: {
          newTag: "v2",
          steps: [{ newSqliteClasses: ["A"] }, { renamedClasses: [{ from: "A", to: "B" }] }],
        },
      }),
      expected: [],
    },
    { name: "an upload without migrations keeps it", resource: script({}), expected: [] },
  ],
  "builds-hyperdrive-cache-off": [
    {
      name: "the builds platform's Hyperdrive with caching on breaks it",
      resource: buildsHyperdrive({ disabled: false, maxAge: 60 }),
      expected: [
        `HyperdriveConfig "builds-hyperdrive" of the builds platform caches queries (caching.disabled is not true): the builds API reads its own writes (a build's status, a trigger just made), which a cached read shows up to maxAge late; set workers-platform:hyperdrive.caching.enabled: false in the stack config, or state that this stack caches (policy config cachingAllowedStacks)`,
      ],
    },
    {
      name: "no caching settings (Cloudflare then caches) breaks it",
      resource: buildsHyperdrive(undefined),
      expected: [
        `HyperdriveConfig "builds-hyperdrive" of the builds platform caches queries (caching.disabled is not true): the builds API reads its own writes (a build's status, a trigger just made), which a cached read shows up to maxAge late; set workers-platform:hyperdrive.caching.enabled: false in the stack config, or state that this stack caches (policy config cachingAllowedStacks)`,
      ],
    },
    { name: "caching disabled keeps it", resource: buildsHyperdrive({ disabled: true }), expected: [] },
    {
      name: "caching the stack states keeps it",
      resource: buildsHyperdrive({ disabled: false }),
      context: { buildsHyperdriveCaching: true },
      expected: [],
    },
    {
      name: "a Hyperdrive outside the builds platform may cache",
      resource: record(
        HYPERDRIVE,
        "shop",
        { caching: { disabled: false } },
        { ancestors: [HYPERDRIVE_COMPONENT] },
      ),
      expected: [],
    },
  ],
  "compatibility-date-floor": [
    {
      name: "a date older than the default minimum breaks it",
      resource: script({ compatibilityDate: "2024-09-22" }),
      expected: [
        `Worker script "api": compatibilityDate 2024-09-22 is older than 2024-09-23 (the minimum compatibility date 2024-09-23): move the stack config's compatibilityDate forward and test the Workers on it`,
      ],
    },
    {
      name: "a date older than maxCompatibilityDateAgeDays before now breaks it",
      resource: script({ compatibilityDate: "2025-12-02" }),
      context: { maxCompatibilityDateAgeDays: 365, now: NOW },
      expected: [
        `Worker script "api": compatibilityDate 2025-12-02 is older than 2025-12-03 (365 days before 2026-12-03): move the stack config's compatibilityDate forward and test the Workers on it`,
      ],
    },
    {
      name: "a date that is not a calendar date breaks it",
      resource: script({ compatibilityDate: "2026-02-30" }),
      expected: [
        `Worker script "api": compatibilityDate must be a date like 2026-10-01 (got "2026-02-30"): set the stack config's compatibilityDate`,
      ],
    },
    {
      name: "no date breaks it",
      resource: record(SCRIPT, "api", {}),
      expected: [
        `Worker script "api": compatibilityDate must be a date like 2026-10-01 (got none): set the stack config's compatibilityDate`,
      ],
    },
    {
      name: "the minimum itself keeps it",
      resource: script({ compatibilityDate: "2024-09-23" }),
      expected: [],
    },
    {
      name: "a configured minimum replaces the default",
      resource: script({ compatibilityDate: "2026-01-01" }),
      context: { minimumCompatibilityDate: "2025-06-01" },
      expected: [],
    },
    {
      name: "a date within maxCompatibilityDateAgeDays keeps it",
      resource: script({ compatibilityDate: "2026-10-01" }),
      context: { maxCompatibilityDateAgeDays: 365, now: NOW },
      expected: [],
    },
  ],
};

export const contextOf = (c: Case): RuleContext => ({
  stack: stackOfUrn(c.resource.urn),
  secretMask: MASK,
  ...c.context,
});
