import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

import { ENCRYPTED_SECRET } from "../local/secret-placeholder";

export { ENCRYPTED_SECRET };

const hex32 = z.string().regex(/^[0-9a-f]{32}$/, "must be 32 lowercase hex characters");
const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, {
    message: "must be a lowercase host name",
  });
const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`);
const placementMode = z.enum(["smart", "off"]);
const httpsUrl = z.url({ protocol: /^https$/, error: "must be an https:// URL" });

/** Hosts whose plain-http URL is this machine: a local key server may stand in for an Access team domain. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const TEAM_DOMAIN_RULE =
  "must be an https:// URL, or http:// on 127.0.0.1, localhost or [::1] (a local key server)";

/** Whether `value` is a plain-http URL of a loopback host (`URL.hostname` keeps IPv6's brackets). */
function isLoopbackHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

/** An Access team domain: https, or plain http on a loopback host for a local key server. */
const teamDomainUrl = z
  .string()
  .refine(
    (value) => (URL.canParse(value) && new URL(value).protocol === "https:") || isLoopbackHttpUrl(value),
    {
      error: TEAM_DOMAIN_RULE,
    },
  );

function base64Bytes(value: string): number | undefined {
  const normalized = value.replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(normalized)) return undefined;
  try {
    return atob(normalized.padEnd(Math.ceil(normalized.length / 4) * 4, "=")).length;
  } catch {
    return undefined;
  }
}
const secretValue = (rule?: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    if (value === ENCRYPTED_SECRET) return;
    if (value.length === 0) ctx.addIssue({ code: "custom", message: "must not be empty" });
    const problem = rule?.(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
const atLeast32 = (v: string) => (v.length < 32 ? "must be at least 32 characters" : undefined);

/**
 * The secret config keys, each declared here only, with the rule of its content. They are read only
 * through `requireSecret`, must be stored as secrets in the stack file, and their values never appear in
 * an error message.
 */
const SECRETS = {
  /** Password of `postgres.adminUser`. */
  postgresAdminPassword: secretValue(),
  /** HS256 secret of the REST API's bearer tokens. */
  apiJwtSecret: secretValue(atLeast32),
  /** AES-256-GCM key (base64 of 32 bytes) that seals build secrets and webhook secrets in PostgreSQL. */
  buildVariablesKey: secretValue((v) =>
    base64Bytes(v) === 32 ? undefined : "must be 32 bytes of base64 (openssl rand -base64 32)",
  ),
  /** Shared secret the Build Management Worker presents to the build runner. */
  runnerToken: secretValue(atLeast32),
};
type SecretKey = keyof typeof SECRETS;

/** The secret keys, in the order they are declared (and checked) in. */
export const SECRET_KEYS = Object.keys(SECRETS) as readonly SecretKey[];

/** The whole config of one stack, as it sits in `stacks/Pulumi.<stack>.yaml`, with its defaults. */
export const stackConfigSchema = z
  .strictObject({
    /** Cloudflare account that owns every resource of the stack. */
    accountId: hex32,
    /** Environment name, used in physical names. */
    environment: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,15}$/, "must be 1-16 of a-z, 0-9 and '-', starting with a letter"),
    /** Protect stateful resources (database, buckets, namespaces) from deletion. @default false */
    protect: z.boolean().default(false),
    /** Serve Workers on their workers.dev subdomain. @default true */
    workersDev: z.boolean().default(true),
    /** Workers compatibility date. @default "2026-10-01" */
    compatibilityDate: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date like 2026-10-01")
      .default("2026-10-01"),
    postgres: z.strictObject({
      host: z.union([hostname, z.ipv4(), z.ipv6()], { error: "must be a host name or an IP address" }),
      /** @default 5432 */
      port: int(1, 65535).default(5432),
      adminUser: z.string().min(1, "must not be empty"),
      /** Database the admin connects to before the platform's database exists. @default "postgres" */
      adminDatabase: z.string().min(1, "must not be empty").default("postgres"),
      /** The platform's database, created by the stack. */
      database: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase SQL identifier"),
      /** @default "require" */
      sslMode: z.enum(["disable", "require", "verify-ca", "verify-full"]).default("require"),
      /** @default "builds" */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase SQL identifier")
        .default("builds"),
      /** Login role the Workers use through Hyperdrive. @default "builds_app" */
      appRole: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase SQL identifier")
        .default("builds_app"),
      /** @default [] */
      extensions: z.array(z.string().regex(/^[a-z0-9_-]+$/, "must be an extension name")).default([]),
      /** SQL migration files allowed to destroy data (DROP TABLE, TRUNCATE, ...). @default [] */
      allowDataLoss: z
        .array(z.string().regex(/^\d+_[a-z0-9_]+\.sql$/, "must be a migration file name"))
        .default([]),
    }),
    ...SECRETS,
    /** Release tag written on every log line of the Workers. @default "unreleased" */
    release: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of letters, digits, '.', '_' and '-'")
      .default("unreleased"),
    hyperdrive: z
      .strictObject({
        caching: z
          .strictObject({
            /**
             * Off by default: the builds API reads its own writes (a build's status, a trigger just made, a
             * deploy hook just deleted), which a cached read would show up to maxAgeSeconds late. @default false
             */
            enabled: z.boolean().default(false),
            /** @default 60 */
            maxAgeSeconds: int(0, 3600).default(60),
            /** @default 15 */
            staleWhileRevalidateSeconds: int(0, 3600).default(15),
          })
          .prefault({}),
        originConnectionLimit: int(5, 100).optional(),
      })
      .prefault({}),
    /** Smart Placement per Worker. */
    placement: z
      .strictObject({
        /** @default "smart" */
        client: placementMode.default("smart"),
        /** @default "off" */
        management: placementMode.default("off"),
        /** @default "off" */
        demo: placementMode.default("off"),
      })
      .prefault({}),
    observability: z
      .strictObject({
        /** @default true */
        enabled: z.boolean().default(true),
        /** @default 1 */
        headSamplingRate: z
          .number()
          .min(0, "must be between 0 and 1")
          .max(1, "must be between 0 and 1")
          .default(1),
        /** @default true */
        invocationLogs: z.boolean().default(true),
      })
      .prefault({}),
    builds: z
      .strictObject({
        /** @default 20 */
        timeoutMinutes: int(1, 120).default(20),
        /** @default 6 */
        maxConcurrentPerAccount: int(1, 100).default(6),
        /** Days a build-cache entry lives after its last read. @default 7 */
        cacheExpiryDays: int(1, 90).default(7),
        /** Builds running at once over all accounts. @default 50 */
        maxConcurrentGlobal: int(1, 1000).default(50),
        /** A runner that has not reported within this many seconds fails the build. @default 120 */
        startTimeoutSeconds: int(5, 900).default(120),
        /** A running build whose runner is silent this long fails its health check. @default 60 */
        heartbeatTimeoutSeconds: int(3, 600).default(60),
        scheduler: z
          .strictObject({
            /** A queued build wakes the scheduler at once; off, it is found by the next poll. @default true */
            wakeOnQueue: z.boolean().default(true),
            /** The scheduler's alarm, the safety net that finds what a wake missed. @default 30 */
            pollIntervalSeconds: int(1, 3600).default(30),
            /**
             * Scheduler objects that share the accounts (by hash of the account id), each within a lease of
             * the global capacity; 1 is one scheduler for every account. @default 1
             */
            shards: int(1, 64).default(1),
            /** How long a shard's lease of global capacity lasts unless renewed. @default 30 */
            leaseSeconds: int(2, 300).default(30),
          })
          .prefault({}),
        /** Where builds run. `runnerUrl: local` lets the local target start the runner. */
        compute: z
          .strictObject({
            /**
             * `http`: the runner service at `runnerUrl`; `container`: a Cloudflare Container per build that runs
             * the runner image, attached to the BuildContainer class. @default "http"
             */
            backend: z.enum(["http", "container"]).default("http"),
            /**
             * The HTTP runner service: one URL, or a list of runners that share the builds (each build goes to
             * one with free capacity); `local` on the local stack. @default "local"
             */
            runnerUrl: z.union([z.literal("local"), httpsUrl, z.array(httpsUrl).min(1)]).default("local"),
            /** With `runnerUrl: local`, how many runner processes the local target starts. @default 1 */
            localRunners: int(1, 8).default(1),
            /** Base URL of the Build Management Worker the runner calls back. */
            callbackUrl: httpsUrl.optional(),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Custom domains; without them the Workers are reached on workers.dev. */
    domains: z
      .strictObject({
        zoneId: hex32,
        client: hostname.optional(),
        demo: hostname.optional(),
      })
      .optional(),
    /**
     * Cloudflare Access in front of the REST API: people sign in through Access, and the Client Worker
     * checks the token Access adds (`Cf-Access-Jwt-Assertion`) against the team domain's keys. Unset: only
     * bearer tokens (JWTs, API tokens).
     */
    access: z
      .strictObject({
        /**
         * `https://<team>.cloudflareaccess.com`; in the local environment also `http://127.0.0.1:<port>`
         * (or `localhost`, `[::1]`): a key server on this machine that serves `/cdn-cgi/access/certs`.
         */
        teamDomain: teamDomainUrl,
        /** The Access application's AUD tag. */
        audience: z.string().regex(/^[A-Za-z0-9]{16,128}$/, "must be the application's AUD tag"),
        /** The claim that names the account: `custom.account`, `email`, or `groups`. @default "custom.account" */
        accountClaim: z
          .string()
          .regex(
            /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/,
            "must be a claim path like custom.account",
          )
          .default("custom.account"),
        /** With `accountClaim: groups`: group name → account id. */
        accountGroups: z
          .record(z.string().min(1), z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be an account id"))
          .optional(),
      })
      .optional(),
  })
  // `when`: also beside the other keys' problems, not only once they are fixed.
  .superRefine((config, ctx) => betweenKeys(config, ctx), { when: () => true });

/**
 * The rules that relate keys to each other, each issue at the key to change. They run even when other keys
 * are invalid, so the value they see may hold an invalid part as it was given (a `builds.compute` that is
 * not an object, without its defaults): they read it without trusting its type.
 */
function betweenKeys(config: unknown, ctx: z.RefinementCtx<unknown>): void {
  const environment = valueAt(config, ["environment"]);
  if (typeof environment !== "string" || environment === "local") return;
  const compute = valueAt(config, ["builds", "compute"]);
  // Read as its default ("local") where the schema could not give one.
  const runnerUrl = valueAt(compute, ["runnerUrl"]) ?? "local";
  if (runnerUrl === "local" && valueAt(compute, ["backend"]) !== "container") {
    ctx.addIssue({
      code: "custom",
      path: ["builds", "compute", "runnerUrl"],
      message: "must be the runner's https:// URL outside the local environment",
    });
  }
  if (valueAt(compute, ["callbackUrl"]) === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["builds", "compute", "callbackUrl"],
      message: "is required outside the local environment",
    });
  }
  const teamDomain = valueAt(config, ["access", "teamDomain"]);
  if (typeof teamDomain === "string" && isLoopbackHttpUrl(teamDomain)) {
    ctx.addIssue({
      code: "custom",
      path: ["access", "teamDomain"],
      message: "must be an https:// URL outside the local environment (a loopback key server is local only)",
    });
  }
}

export type StackSettings = Omit<z.output<typeof stackConfigSchema>, SecretKey>;

/** The typed config the program passes down; secrets only as Pulumi secret outputs. */
export interface StackConfig extends StackSettings {
  secrets: Record<SecretKey, pulumi.Output<string>>;
}

/** Thrown before any resource is registered; its message lists every invalid key. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

const STRING_KEYS = new Set<string>([
  "accountId",
  "environment",
  "compatibilityDate",
  "release",
  ...SECRET_KEYS,
]);

/**
 * Turns the project's raw config map (top-level scalars are strings, structured values JSON) into the
 * object the schema checks. Keys of other namespaces (`cloudflare:apiToken`, ...) are not ours.
 */
export function rawStackConfig(all: Record<string, string>, project: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(all)) {
    const colon = fullKey.indexOf(":");
    if (fullKey.slice(0, colon) !== project) continue;
    const key = fullKey.slice(colon + 1);
    out[key] = STRING_KEYS.has(key) ? value : parseScalar(value);
  }
  return out;
}

function parseScalar(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function kindOf(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return "is required";
      // zod reports a fractional number against `.int()` as a type mismatch with "int" expected.
      if (issue.expected === "int" && typeof value === "number") return "must be a whole number";
      return `must be ${article(issue.expected)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      if (issue.origin === "array")
        return `must have at least ${issue.minimum} ${issue.minimum === 1 ? "entry" : "entries"}`;
      if (issue.origin === "string") return `must be at least ${issue.minimum} characters`;
      return issue.message;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * Validates a stack's raw config. `secretKeys` are the keys stored as secrets; a secret key given in plain
 * text is an error, except in the `local` environment, whose development values never leave this machine
 * (they are still read through `requireSecret` and masked everywhere). Returns the settings with defaults
 * applied and the secrets' raw values separately.
 */
export function parseStackConfig(
  raw: Record<string, unknown>,
  secretKeys: ReadonlySet<string>,
): { settings: StackSettings; secretValues: Record<SecretKey, string> } {
  const problems: string[] = [];
  for (const key of SECRET_KEYS) {
    if (raw[key] !== undefined && !secretKeys.has(key) && raw.environment !== "local") {
      problems.push(
        `${key}: must be stored as a secret: pulumi config set --secret ${key} <value> (got plain text)`,
      );
    }
  }
  const result = stackConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const path = [...issue.path, key].join(".");
          problems.push(`${path}: is not a known key (got ${kindOf(valueAt(raw, [...issue.path, key]))})`);
        }
        continue;
      }
      const path = issue.path.join(".") || "(root)";
      const value = valueAt(raw, issue.path);
      problems.push(`${path}: ${describeIssue(issue, value)} (got ${kindOf(value)})`);
    }
  }
  if (problems.length > 0 || !result.success) throw new StackConfigError(problems);
  const settings: Partial<z.output<typeof stackConfigSchema>> = { ...result.data };
  for (const key of SECRET_KEYS) delete settings[key];
  return { settings: settings as StackSettings, secretValues: pickSecrets((key) => result.data[key]) };
}

function pickSecrets<T>(value: (key: SecretKey) => T): Record<SecretKey, T> {
  return Object.fromEntries(SECRET_KEYS.map((key) => [key, value(key)])) as Record<SecretKey, T>;
}

/**
 * Reads and validates the current stack's config. Called once at the program's entry, before any resource
 * is registered, so a bad config registers nothing.
 */
export function loadStackConfig(): StackConfig {
  const project = pulumi.getProject();
  const raw = rawStackConfig(pulumi.runtime.allConfig(), project);
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  const secretKeys = new Set(SECRET_KEYS.filter((k) => isSecret?.(`${project}:${k}`) ?? true));
  const { settings } = parseStackConfig(raw, secretKeys);
  const config = new pulumi.Config();
  return { ...settings, secrets: pickSecrets((key) => config.requireSecret(key)) };
}
