import { describe, expect, it } from "vitest";
import {
  ENCRYPTED_SECRET,
  parseStackConfig,
  rawStackConfig,
  SECRET_KEYS,
  StackConfigError,
  stackConfigSchema,
} from "./config";

const SECRETS = new Set<string>(SECRET_KEYS);
/** Base64 of the 32 bytes "0123456789abcdef0123456789abcdef". */
const VARIABLES_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const RUNNER_TOKEN = "a-runner-token-that-is-long-enough-0123456789";
const RUNNER_URL = "https://runner.example.net";
const CALLBACK_URL = "https://management.example.net";

/**
 * A minimal valid config: only the keys without a default, plus the compute URLs that every environment
 * but `local` requires.
 */
function valid(): Record<string, unknown> {
  return {
    accountId: "0123456789abcdef0123456789abcdef",
    environment: "dev",
    postgres: { host: "db.example.net", adminUser: "admin", database: "builds" },
    postgresAdminPassword: "s3cret-admin-password",
    apiJwtSecret: "a-jwt-secret-that-is-long-enough-0123456789",
    buildVariablesKey: VARIABLES_KEY,
    runnerToken: RUNNER_TOKEN,
    builds: { compute: { runnerUrl: RUNNER_URL, callbackUrl: CALLBACK_URL } },
  };
}

function withChange(change: (c: Record<string, unknown>) => void): Record<string, unknown> {
  const c = structuredClone(valid());
  change(c);
  return c;
}

function problemsOf(raw: Record<string, unknown>, secretKeys: ReadonlySet<string> = SECRETS): string[] {
  try {
    parseStackConfig(raw, secretKeys);
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as StackConfigError).problems;
  }
  throw new Error("config was accepted");
}

const pg = (c: Record<string, unknown>) => c.postgres as Record<string, unknown>;
const builds = (c: Record<string, unknown>) => c.builds as Record<string, unknown>;
const compute = (c: Record<string, unknown>) => builds(c).compute as Record<string, unknown>;

describe("parseStackConfig defaults", () => {
  it("fills every default from the schema", () => {
    const { settings, secretValues } = parseStackConfig(valid(), SECRETS);
    expect(settings).toEqual({
      accountId: "0123456789abcdef0123456789abcdef",
      environment: "dev",
      protect: false,
      workersDev: true,
      compatibilityDate: "2026-10-01",
      postgres: {
        host: "db.example.net",
        port: 5432,
        adminUser: "admin",
        adminDatabase: "postgres",
        database: "builds",
        sslMode: "require",
        schema: "builds",
        appRole: "builds_app",
        extensions: [],
        allowDataLoss: [],
      },
      hyperdrive: { caching: { enabled: false, maxAgeSeconds: 60, staleWhileRevalidateSeconds: 15 } },
      placement: { client: "smart", management: "off", demo: "off" },
      observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
      release: "unreleased",
      builds: {
        timeoutMinutes: 20,
        maxConcurrentPerAccount: 6,
        cacheExpiryDays: 7,
        maxConcurrentGlobal: 50,
        startTimeoutSeconds: 120,
        heartbeatTimeoutSeconds: 60,
        scheduler: { wakeOnQueue: true, pollIntervalSeconds: 30, shards: 1, leaseSeconds: 30 },
        compute: { backend: "http", runnerUrl: RUNNER_URL, localRunners: 1, callbackUrl: CALLBACK_URL },
      },
    });
    expect(secretValues).toEqual({
      postgresAdminPassword: "s3cret-admin-password",
      apiJwtSecret: "a-jwt-secret-that-is-long-enough-0123456789",
      buildVariablesKey: VARIABLES_KEY,
      runnerToken: RUNNER_TOKEN,
    });
  });

  it("fills the builds defaults of a local stack without a builds key: scheduler, a locally started runner, limits and release", () => {
    const raw = withChange((c) => {
      c.environment = "local";
      delete c.builds;
    });
    const { settings } = parseStackConfig(raw, SECRETS);
    expect(settings.release).toBe("unreleased");
    expect(settings.builds).toEqual({
      timeoutMinutes: 20,
      maxConcurrentPerAccount: 6,
      cacheExpiryDays: 7,
      maxConcurrentGlobal: 50,
      startTimeoutSeconds: 120,
      heartbeatTimeoutSeconds: 60,
      scheduler: { wakeOnQueue: true, pollIntervalSeconds: 30, shards: 1, leaseSeconds: 30 },
      compute: { backend: "http", runnerUrl: "local", localRunners: 1 },
    });
    expect(settings.builds.compute).not.toHaveProperty("callbackUrl");
  });

  it("keeps given builds settings and release over the defaults", () => {
    const raw = withChange((c) => {
      c.release = "2026.10.1-rc_1";
      Object.assign(builds(c), {
        maxConcurrentGlobal: 1000,
        startTimeoutSeconds: 5,
        scheduler: { wakeOnQueue: false, pollIntervalSeconds: 3600, shards: 8, leaseSeconds: 10 },
      });
    });
    const { settings } = parseStackConfig(raw, SECRETS);
    expect(settings.release).toBe("2026.10.1-rc_1");
    expect(settings.builds).toMatchObject({
      maxConcurrentGlobal: 1000,
      startTimeoutSeconds: 5,
      scheduler: { wakeOnQueue: false, pollIntervalSeconds: 3600, shards: 8, leaseSeconds: 10 },
    });
  });

  it("accepts a URL-safe base64 build variables key of 32 bytes", () => {
    const urlSafe = Buffer.alloc(32, 0xfb).toString("base64url");
    expect(urlSafe).toMatch(/[-_]/);
    const raw = withChange((c) => {
      c.buildVariablesKey = urlSafe;
    });
    expect(parseStackConfig(raw, SECRETS).secretValues.buildVariablesKey).toBe(urlSafe);
  });

  it("accepts the masked placeholder of an undecryptable secret without checking its content", () => {
    const raw = withChange((c) => {
      for (const key of SECRET_KEYS) c[key] = ENCRYPTED_SECRET;
    });
    expect(parseStackConfig(raw, SECRETS).secretValues).toEqual({
      postgresAdminPassword: ENCRYPTED_SECRET,
      apiJwtSecret: ENCRYPTED_SECRET,
      buildVariablesKey: ENCRYPTED_SECRET,
      runnerToken: ENCRYPTED_SECRET,
    });
  });

  it("accepts plain-text secrets in the local environment only", () => {
    const local = withChange((c) => {
      c.environment = "local";
    });
    expect(() => parseStackConfig(local, new Set())).not.toThrow();
    expect(problemsOf(valid(), new Set())).toEqual([
      "postgresAdminPassword: must be stored as a secret: pulumi config set --secret postgresAdminPassword <value> (got plain text)",
      "apiJwtSecret: must be stored as a secret: pulumi config set --secret apiJwtSecret <value> (got plain text)",
      "buildVariablesKey: must be stored as a secret: pulumi config set --secret buildVariablesKey <value> (got plain text)",
      "runnerToken: must be stored as a secret: pulumi config set --secret runnerToken <value> (got plain text)",
    ]);
  });

  it("lets a non-local stack run builds on the container backend with a callback URL and no runner URL", () => {
    const prod = withChange((c) => {
      c.environment = "prod";
      c.protect = true;
      c.workersDev = false;
      c.builds = { compute: { backend: "container", callbackUrl: CALLBACK_URL } };
    });
    const { settings } = parseStackConfig(prod, SECRETS);
    expect(settings.environment).toBe("prod");
    expect(settings.builds.compute).toEqual({
      backend: "container",
      runnerUrl: "local",
      localRunners: 1,
      callbackUrl: CALLBACK_URL,
    });
  });

  it("lets the local environment run builds on a locally started runner without a callback URL", () => {
    const local = withChange((c) => {
      c.environment = "local";
      c.builds = { compute: { runnerUrl: "local" } };
    });
    expect(parseStackConfig(local, SECRETS).settings.builds.compute).toEqual({
      backend: "http",
      runnerUrl: "local",
      localRunners: 1,
    });
  });

  it("takes a list of runners that share the builds, and a number of local runners", () => {
    const fleet = withChange((c) => {
      c.environment = "prod";
      c.protect = true;
      c.workersDev = false;
      c.builds = {
        compute: {
          runnerUrl: ["https://r1.example.net", "https://r2.example.net"],
          callbackUrl: CALLBACK_URL,
        },
      };
    });
    expect(parseStackConfig(fleet, SECRETS).settings.builds.compute.runnerUrl).toEqual([
      "https://r1.example.net",
      "https://r2.example.net",
    ]);
    const two = withChange((c) => {
      c.environment = "local";
      c.builds = { compute: { runnerUrl: "local", localRunners: 2 } };
    });
    expect(parseStackConfig(two, SECRETS).settings.builds.compute.localRunners).toBe(2);
  });
});

/** Every secret key but `plain`, as when `plain` was set without `--secret`. */
const secretsExcept = (plain: string) => new Set<string>(SECRET_KEYS.filter((k) => k !== plain));

// Each case: a config broken in one way → the exact problem line (key path, rule, kind of value);
// optionally the keys stored as secrets, all of them unless given.
const invalid: [string, (c: Record<string, unknown>) => void, string, ReadonlySet<string>?][] = [
  ["missing account id", (c) => delete c.accountId, "accountId: is required (got missing)"],
  [
    "account id not hex",
    (c) => {
      c.accountId = "not-an-account";
    },
    "accountId: must be 32 lowercase hex characters (got string)",
  ],
  [
    "account id as a number",
    (c) => {
      c.accountId = 42;
    },
    "accountId: must be a string (got number)",
  ],
  [
    "environment with capitals",
    (c) => {
      c.environment = "Prod";
    },
    "environment: must be 1-16 of a-z, 0-9 and '-', starting with a letter (got string)",
  ],
  [
    "protect as a string",
    (c) => {
      c.protect = "yes";
    },
    "protect: must be a boolean (got string)",
  ],
  [
    "compatibility date malformed",
    (c) => {
      c.compatibilityDate = "01/10/2026";
    },
    "compatibilityDate: must be a date like 2026-10-01 (got string)",
  ],
  ["postgres missing", (c) => delete c.postgres, "postgres: is required (got missing)"],
  [
    "postgres host missing",
    (c) => delete pg(c).host,
    "postgres.host: must be a host name or an IP address (got missing)",
  ],
  [
    "postgres host with a scheme",
    (c) => {
      pg(c).host = "postgres://db";
    },
    "postgres.host: must be a host name or an IP address (got string)",
  ],
  [
    "postgres port out of range",
    (c) => {
      pg(c).port = 70000;
    },
    "postgres.port: must be between 1 and 65535 (got number)",
  ],
  [
    "postgres port fractional",
    (c) => {
      pg(c).port = 54.5;
    },
    "postgres.port: must be a whole number (got number)",
  ],
  [
    "postgres ssl mode unknown",
    (c) => {
      pg(c).sslMode = "prefer";
    },
    'postgres.sslMode: must be one of "disable", "require", "verify-ca", "verify-full" (got string)',
  ],
  [
    "postgres database not an identifier",
    (c) => {
      pg(c).database = "Builds-DB";
    },
    "postgres.database: must be a lowercase SQL identifier (got string)",
  ],
  [
    "postgres extensions not a list",
    (c) => {
      pg(c).extensions = "pgcrypto";
    },
    "postgres.extensions: must be an array (got string)",
  ],
  [
    "postgres allowDataLoss names a non-migration",
    (c) => {
      pg(c).allowDataLoss = ["drop.sql"];
    },
    "postgres.allowDataLoss.0: must be a migration file name (got string)",
  ],
  [
    "postgres unknown key",
    (c) => {
      pg(c).pasword = "x";
    },
    "postgres.pasword: is not a known key (got string)",
  ],
  [
    "admin password missing",
    (c) => delete c.postgresAdminPassword,
    "postgresAdminPassword: is required (got missing)",
  ],
  [
    "admin password empty",
    (c) => {
      c.postgresAdminPassword = "";
    },
    "postgresAdminPassword: must not be empty (got string)",
  ],
  [
    "jwt secret too short",
    (c) => {
      c.apiJwtSecret = "short";
    },
    "apiJwtSecret: must be at least 32 characters (got string)",
  ],
  [
    "build variables key not base64",
    (c) => {
      c.buildVariablesKey = "not base64 at all, 32 characters!";
    },
    "buildVariablesKey: must be 32 bytes of base64 (openssl rand -base64 32) (got string)",
  ],
  [
    "build variables key of 16 bytes",
    (c) => {
      c.buildVariablesKey = "MDEyMzQ1Njc4OWFiY2RlZg==";
    },
    "buildVariablesKey: must be 32 bytes of base64 (openssl rand -base64 32) (got string)",
  ],
  [
    "build variables key of 33 bytes",
    (c) => {
      c.buildVariablesKey = Buffer.alloc(33, 1).toString("base64");
    },
    "buildVariablesKey: must be 32 bytes of base64 (openssl rand -base64 32) (got string)",
  ],
  [
    "build variables key in plain text outside local",
    () => {},
    "buildVariablesKey: must be stored as a secret: pulumi config set --secret buildVariablesKey <value> (got plain text)",
    secretsExcept("buildVariablesKey"),
  ],
  ["runner token missing", (c) => delete c.runnerToken, "runnerToken: is required (got missing)"],
  [
    "runner token too short",
    (c) => {
      c.runnerToken = "a-31-character-runner-token-xyz";
    },
    "runnerToken: must be at least 32 characters (got string)",
  ],
  [
    "release with a space",
    (c) => {
      c.release = "v1 beta";
    },
    "release: must be 1-64 of letters, digits, '.', '_' and '-' (got string)",
  ],
  [
    "release longer than 64 characters",
    (c) => {
      c.release = "r".repeat(65);
    },
    "release: must be 1-64 of letters, digits, '.', '_' and '-' (got string)",
  ],
  [
    "hyperdrive max age too long",
    (c) => {
      c.hyperdrive = { caching: { maxAgeSeconds: 7200 } };
    },
    "hyperdrive.caching.maxAgeSeconds: must be between 0 and 3600 (got number)",
  ],
  [
    "placement mode unknown",
    (c) => {
      c.placement = { client: "fast" };
    },
    'placement.client: must be one of "smart", "off" (got string)',
  ],
  [
    "placement for an unknown Worker",
    (c) => {
      c.placement = { runner: "smart" };
    },
    "placement.runner: is not a known key (got string)",
  ],
  [
    "sampling rate above 1",
    (c) => {
      c.observability = { headSamplingRate: 2 };
    },
    "observability.headSamplingRate: must be between 0 and 1 (got number)",
  ],
  [
    "build timeout zero",
    (c) => {
      builds(c).timeoutMinutes = 0;
    },
    "builds.timeoutMinutes: must be between 1 and 120 (got number)",
  ],
  [
    "concurrency as a string",
    (c) => {
      builds(c).maxConcurrentPerAccount = "six";
    },
    "builds.maxConcurrentPerAccount: must be a number (got string)",
  ],
  [
    "global concurrency zero",
    (c) => {
      builds(c).maxConcurrentGlobal = 0;
    },
    "builds.maxConcurrentGlobal: must be between 1 and 1000 (got number)",
  ],
  [
    "start timeout below 5 seconds",
    (c) => {
      builds(c).startTimeoutSeconds = 4;
    },
    "builds.startTimeoutSeconds: must be between 5 and 900 (got number)",
  ],
  [
    "scheduler poll interval zero",
    (c) => {
      builds(c).scheduler = { pollIntervalSeconds: 0 };
    },
    "builds.scheduler.pollIntervalSeconds: must be between 1 and 3600 (got number)",
  ],
  [
    "scheduler shards zero",
    (c) => {
      builds(c).scheduler = { shards: 0 };
    },
    "builds.scheduler.shards: must be between 1 and 64 (got number)",
  ],
  [
    "scheduler shards above 64",
    (c) => {
      builds(c).scheduler = { shards: 65 };
    },
    "builds.scheduler.shards: must be between 1 and 64 (got number)",
  ],
  [
    "scheduler shards not whole",
    (c) => {
      builds(c).scheduler = { shards: 2.5 };
    },
    "builds.scheduler.shards: must be a whole number (got number)",
  ],
  [
    "lease shorter than 2 seconds",
    (c) => {
      builds(c).scheduler = { leaseSeconds: 1 };
    },
    "builds.scheduler.leaseSeconds: must be between 2 and 300 (got number)",
  ],
  [
    "scheduler wake as a string",
    (c) => {
      builds(c).scheduler = { wakeOnQueue: "yes" };
    },
    "builds.scheduler.wakeOnQueue: must be a boolean (got string)",
  ],
  [
    "compute backend docker",
    (c) => {
      compute(c).backend = "docker";
    },
    'builds.compute.backend: must be one of "http", "container" (got string)',
  ],
  [
    "runner URL over plain http",
    (c) => {
      compute(c).runnerUrl = "http://runner.example.net";
    },
    "builds.compute.runnerUrl: must be an https:// URL (got string)",
  ],
  [
    "an empty list of runners",
    (c) => {
      compute(c).runnerUrl = [];
    },
    "builds.compute.runnerUrl: must have at least 1 entry (got array)",
  ],
  [
    "a list of runners with one over plain http",
    (c) => {
      compute(c).runnerUrl = ["https://r1.example.net", "http://r2.example.net"];
    },
    "builds.compute.runnerUrl.1: must be an https:// URL (got string)",
  ],
  [
    "no local runners",
    (c) => {
      compute(c).localRunners = 0;
    },
    "builds.compute.localRunners: must be between 1 and 8 (got number)",
  ],
  [
    "callback URL over plain http",
    (c) => {
      compute(c).callbackUrl = "http://management.example.net";
    },
    "builds.compute.callbackUrl: must be an https:// URL (got string)",
  ],
  [
    "compute unknown key",
    (c) => {
      compute(c).region = "eu";
    },
    "builds.compute.region: is not a known key (got string)",
  ],
  [
    "domains without a zone",
    (c) => {
      c.domains = { client: "api.example.net" };
    },
    "domains.zoneId: is required (got missing)",
  ],
  [
    "domain host name invalid",
    (c) => {
      c.domains = { zoneId: "0123456789abcdef0123456789abcdef", client: "API_example" };
    },
    "domains.client: must be a lowercase host name (got string)",
  ],
  [
    "access with an http team domain",
    (c) => {
      c.access = {
        teamDomain: "http://team.cloudflareaccess.com",
        audience: "4714c1358e65fe4b408ad6d432a5f878",
      };
    },
    "access.teamDomain: must be an https:// URL, or http:// on 127.0.0.1, localhost or [::1] (a local key server) (got string)",
  ],
  [
    "access without an audience",
    (c) => {
      c.access = { teamDomain: "https://team.cloudflareaccess.com" };
    },
    "access.audience: is required (got missing)",
  ],
  [
    "access group mapped to a bad account id",
    (c) => {
      c.access = {
        teamDomain: "https://team.cloudflareaccess.com",
        audience: "4714c1358e65fe4b408ad6d432a5f878",
        accountGroups: { builders: "not an account" },
      };
    },
    "access.accountGroups.builders: must be an account id (got string)",
  ],
  [
    "unknown top-level key",
    (c) => {
      c.timeoutMinutes = 5;
    },
    "timeoutMinutes: is not a known key (got number)",
  ],
];

describe("parseStackConfig refuses invalid configs", () => {
  it.each(invalid)("%s", (_case, change, expected, secretKeys = SECRETS) => {
    const raw = withChange(change);
    const problems = problemsOf(raw, secretKeys);
    expect(problems).toEqual([expected]);
    for (const key of SECRET_KEYS) {
      const value = raw[key];
      if (typeof value === "string" && value !== "") expect(problems.join("\n")).not.toContain(value);
    }
  });

  it("reports every invalid key at once, in one message", () => {
    const raw = withChange((c) => {
      c.accountId = "x";
      Object.assign(builds(c), { timeoutMinutes: 0, cacheExpiryDays: 365 });
      pg(c).port = "5432";
    });
    const problems = problemsOf(raw);
    expect(problems).toEqual([
      "accountId: must be 32 lowercase hex characters (got string)",
      "postgres.port: must be a number (got string)",
      "builds.timeoutMinutes: must be between 1 and 120 (got number)",
      "builds.cacheExpiryDays: must be between 1 and 90 (got number)",
    ]);
    const message = new StackConfigError(problems).message;
    expect(message.split("\n")).toHaveLength(5);
  });

  it("never prints a secret's value", () => {
    const raw = withChange((c) => {
      c.apiJwtSecret = "hunter2";
      c.postgresAdminPassword = 12345;
      c.buildVariablesKey = "c2hvcnQta2V5";
      c.runnerToken = "tok3n";
    });
    const problems = problemsOf(raw);
    for (const value of ["hunter2", "12345", "c2hvcnQta2V5", "tok3n"]) {
      expect(problems.join("\n")).not.toContain(value);
    }
    expect(problems).toEqual([
      "postgresAdminPassword: must be a string (got number)",
      "apiJwtSecret: must be at least 32 characters (got string)",
      "buildVariablesKey: must be 32 bytes of base64 (openssl rand -base64 32) (got string)",
      "runnerToken: must be at least 32 characters (got string)",
    ]);
  });
});

const NEEDS_RUNNER_URL =
  "builds.compute.runnerUrl: must be the runner's https:// URL outside the local environment";
const NEEDS_CALLBACK_URL =
  "builds.compute.callbackUrl: is required outside the local environment (got missing)";

// The rules between keys, each case a config changed in one way → every problem line, none if accepted:
// outside the local environment, the http backend needs a runner URL other than `local` (the default), and
// every backend a callback URL.
const betweenKeys: [string, (c: Record<string, unknown>) => void, string[]][] = [
  ["dev with an https runner and a callback URL", () => {}, []],
  [
    "prod with a list of runners and a callback URL",
    (c) => {
      c.environment = "prod";
      compute(c).runnerUrl = ["https://r1.example.net", "https://r2.example.net"];
    },
    [],
  ],
  [
    "prod on the container backend without a runner URL",
    (c) => {
      c.environment = "prod";
      c.builds = { compute: { backend: "container", callbackUrl: CALLBACK_URL } };
    },
    [],
  ],
  [
    "prod on the container backend with runnerUrl local",
    (c) => {
      c.environment = "prod";
      c.builds = { compute: { backend: "container", runnerUrl: "local", callbackUrl: CALLBACK_URL } };
    },
    [],
  ],
  [
    "local with the default local runner and no callback URL",
    (c) => {
      c.environment = "local";
      delete c.builds;
    },
    [],
  ],
  [
    "local with an https runner and no callback URL",
    (c) => {
      c.environment = "local";
      delete compute(c).callbackUrl;
    },
    [],
  ],
  [
    "local on the container backend without either URL",
    (c) => {
      c.environment = "local";
      c.builds = { compute: { backend: "container" } };
    },
    [],
  ],
  [
    "prod with runnerUrl local",
    (c) => {
      c.environment = "prod";
      compute(c).runnerUrl = "local";
    },
    [`${NEEDS_RUNNER_URL} (got string)`],
  ],
  [
    "staging on the http backend named, runner URL left to the default",
    (c) => {
      c.environment = "staging";
      c.builds = { compute: { backend: "http", callbackUrl: CALLBACK_URL } };
    },
    [`${NEEDS_RUNNER_URL} (got missing)`],
  ],
  ["dev without a callback URL", (c) => delete compute(c).callbackUrl, [NEEDS_CALLBACK_URL]],
  [
    "staging with a list of runners and no callback URL",
    (c) => {
      c.environment = "staging";
      c.builds = { compute: { runnerUrl: ["https://r1.example.net"] } };
    },
    [NEEDS_CALLBACK_URL],
  ],
  [
    "prod on the container backend without a callback URL",
    (c) => {
      c.environment = "prod";
      c.builds = { compute: { backend: "container" } };
    },
    [NEEDS_CALLBACK_URL],
  ],
  [
    "prod without a builds key: both URLs",
    (c) => {
      c.environment = "prod";
      delete c.builds;
    },
    [`${NEEDS_RUNNER_URL} (got missing)`, NEEDS_CALLBACK_URL],
  ],
  [
    "dev with a compute that is not an object: both URLs, beside it",
    (c) => {
      builds(c).compute = "https://runner.example.net";
    },
    [
      "builds.compute: must be an object (got string)",
      `${NEEDS_RUNNER_URL} (got missing)`,
      NEEDS_CALLBACK_URL,
    ],
  ],
  [
    "beside another key's invalid content, not only once it is fixed",
    (c) => {
      c.accountId = "x";
      delete compute(c).callbackUrl;
    },
    ["accountId: must be 32 lowercase hex characters (got string)", NEEDS_CALLBACK_URL],
  ],
  [
    "beside another key's wrong type, not only once it is fixed",
    (c) => {
      c.accountId = 42;
      c.builds = { compute: {} };
    },
    ["accountId: must be a string (got number)", `${NEEDS_RUNNER_URL} (got missing)`, NEEDS_CALLBACK_URL],
  ],
  [
    "an invalid environment name is not local",
    (c) => {
      c.environment = "Local";
      delete c.builds;
    },
    [
      "environment: must be 1-16 of a-z, 0-9 and '-', starting with a letter (got string)",
      `${NEEDS_RUNNER_URL} (got missing)`,
      NEEDS_CALLBACK_URL,
    ],
  ],
  [
    "an environment that is not a string is no environment to compare",
    (c) => {
      c.environment = 5;
      delete c.builds;
    },
    ["environment: must be a string (got number)"],
  ],
];

describe("parseStackConfig applies the rules between keys", () => {
  it.each(betweenKeys)("%s", (_case, change, expected) => {
    const raw = withChange(change);
    if (expected.length === 0) expect(() => parseStackConfig(raw, SECRETS)).not.toThrow();
    else expect(problemsOf(raw)).toEqual(expected);
  });

  it("puts each rule in the schema, its issue at the key to change", () => {
    const raw = withChange((c) => {
      c.environment = "prod";
      c.builds = { compute: { runnerUrl: "local" } };
    });
    const result = stackConfigSchema.safeParse(raw);
    expect(result.error?.issues.map((i) => [i.code, i.path])).toEqual([
      ["custom", ["builds", "compute", "runnerUrl"]],
      ["custom", ["builds", "compute", "callbackUrl"]],
    ]);
  });
});

const TEAM_DOMAIN_RULE =
  "access.teamDomain: must be an https:// URL, or http:// on 127.0.0.1, localhost or [::1] (a local key server) (got string)";
const TEAM_DOMAIN_LOCAL_ONLY =
  "access.teamDomain: must be an https:// URL outside the local environment (a loopback key server is local only) (got string)";

// Each case: a team domain, the environment, and the problems (none: accepted).
const teamDomains: [string, string, string[]][] = [
  ["https://team.cloudflareaccess.com", "dev", []],
  ["https://team.cloudflareaccess.com", "local", []],
  ["http://127.0.0.1:8787", "local", []],
  ["http://localhost:8787", "local", []],
  ["http://[::1]:8787", "local", []],
  ["http://127.0.0.1", "local", []],
  ["https://127.0.0.1:8787", "dev", []],
  ["http://127.0.0.1:8787", "dev", [TEAM_DOMAIN_LOCAL_ONLY]],
  ["http://localhost:8787", "prod", [TEAM_DOMAIN_LOCAL_ONLY]],
  ["http://[::1]:8787", "dev", [TEAM_DOMAIN_LOCAL_ONLY]],
  ["http://example.com", "local", [TEAM_DOMAIN_RULE]],
  ["http://example.com", "dev", [TEAM_DOMAIN_RULE]],
  ["http://team.cloudflareaccess.com", "local", [TEAM_DOMAIN_RULE]],
  ["http://127.0.0.1.example.com:8787", "local", [TEAM_DOMAIN_RULE]],
  ["http://localhost.example.com", "local", [TEAM_DOMAIN_RULE]],
  ["http://10.0.0.5:8787", "local", [TEAM_DOMAIN_RULE]],
  ["http://[::2]:8787", "local", [TEAM_DOMAIN_RULE]],
  ["ftp://127.0.0.1:8787", "local", [TEAM_DOMAIN_RULE]],
  ["ws://localhost:8787", "local", [TEAM_DOMAIN_RULE]],
  ["127.0.0.1:8787", "local", [TEAM_DOMAIN_RULE]],
  ["team.cloudflareaccess.com", "dev", [TEAM_DOMAIN_RULE]],
  ["", "local", [TEAM_DOMAIN_RULE]],
];

describe("access.teamDomain: https, or plain http on a loopback host in the local environment only", () => {
  it.each(teamDomains)("%s in %s", (teamDomain, environment, expected) => {
    const raw = withChange((c) => {
      c.environment = environment;
      c.access = { teamDomain, audience: "4714c1358e65fe4b408ad6d432a5f878" };
    });
    if (expected.length === 0) {
      expect(parseStackConfig(raw, SECRETS).settings.access?.teamDomain).toBe(teamDomain);
    } else {
      expect(problemsOf(raw)).toEqual(expected);
    }
  });
});

describe("SECRET_KEYS", () => {
  it("lists the secrets in their declared order, every one a key of the schema", () => {
    expect(SECRET_KEYS).toEqual([
      "postgresAdminPassword",
      "apiJwtSecret",
      "buildVariablesKey",
      "runnerToken",
    ]);
    for (const key of SECRET_KEYS) expect(stackConfigSchema.shape).toHaveProperty(key);
  });
});

describe("rawStackConfig", () => {
  it.each([
    ["keeps string keys as strings even when numeric", { "p:accountId": "1234" }, { accountId: "1234" }],
    ["keeps the release a string even when numeric", { "p:release": "1.10" }, { release: "1.10" }],
    ["keeps secrets strings even when numeric", { "p:runnerToken": "1234" }, { runnerToken: "1234" }],
    ["parses structured values", { "p:postgres": '{"port":5432}' }, { postgres: { port: 5432 } }],
    ["parses scalars of non-string keys", { "p:protect": "true" }, { protect: true }],
    ["leaves unparseable text for the schema to reject", { "p:protect": "yes" }, { protect: "yes" }],
    [
      "ignores other namespaces",
      { "cloudflare:apiToken": "t", "p:environment": "dev" },
      { environment: "dev" },
    ],
  ])("%s", (_case, all, expected) => {
    expect(rawStackConfig(all, "p")).toEqual(expected);
  });
});
