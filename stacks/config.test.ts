import { describe, expect, it } from "vitest";
import { ENCRYPTED_SECRET, parseStackConfig, rawStackConfig, SECRET_KEYS, StackConfigError } from "./config";

const SECRETS = new Set<string>(SECRET_KEYS);

/** A minimal valid config: only the keys without a default. */
function valid(): Record<string, unknown> {
  return {
    accountId: "0123456789abcdef0123456789abcdef",
    environment: "dev",
    postgres: { host: "db.example.net", adminUser: "admin", database: "builds" },
    postgresAdminPassword: "s3cret-admin-password",
    apiJwtSecret: "a-jwt-secret-that-is-long-enough-0123456789",
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
      hyperdrive: { caching: { enabled: true, maxAgeSeconds: 60, staleWhileRevalidateSeconds: 15 } },
      placement: { client: "smart", management: "off", demo: "off" },
      observability: { enabled: true, headSamplingRate: 1, invocationLogs: true },
      builds: { timeoutMinutes: 20, maxConcurrentPerAccount: 6, cacheExpiryDays: 7 },
    });
    expect(secretValues).toEqual({
      postgresAdminPassword: "s3cret-admin-password",
      apiJwtSecret: "a-jwt-secret-that-is-long-enough-0123456789",
    });
  });

  it("accepts the masked placeholder of an undecryptable secret without checking its content", () => {
    const raw = withChange((c) => {
      c.apiJwtSecret = ENCRYPTED_SECRET;
    });
    expect(parseStackConfig(raw, SECRETS).secretValues.apiJwtSecret).toBe(ENCRYPTED_SECRET);
  });

  it("accepts plain-text secrets in the local environment only", () => {
    const local = withChange((c) => {
      c.environment = "local";
    });
    expect(() => parseStackConfig(local, new Set())).not.toThrow();
    expect(problemsOf(valid(), new Set())).toEqual([
      "postgresAdminPassword: must be stored as a secret: pulumi config set --secret postgresAdminPassword <value> (got plain text)",
      "apiJwtSecret: must be stored as a secret: pulumi config set --secret apiJwtSecret <value> (got plain text)",
    ]);
  });
});

// Each case: a config broken in one way → the exact problem line (key path, rule, kind of value).
const invalid: [string, (c: Record<string, unknown>) => void, string][] = [
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
      c.builds = { timeoutMinutes: 0 };
    },
    "builds.timeoutMinutes: must be between 1 and 120 (got number)",
  ],
  [
    "concurrency as a string",
    (c) => {
      c.builds = { maxConcurrentPerAccount: "six" };
    },
    "builds.maxConcurrentPerAccount: must be a number (got string)",
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
    "unknown top-level key",
    (c) => {
      c.timeoutMinutes = 5;
    },
    "timeoutMinutes: is not a known key (got number)",
  ],
];

describe("parseStackConfig refuses invalid configs", () => {
  it.each(invalid)("%s", (_case, change, expected) => {
    expect(problemsOf(withChange(change))).toEqual([expected]);
  });

  it("reports every invalid key at once, in one message", () => {
    const raw = withChange((c) => {
      c.accountId = "x";
      c.builds = { timeoutMinutes: 0, cacheExpiryDays: 365 };
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
    });
    const problems = problemsOf(raw);
    expect(problems.join("\n")).not.toContain("hunter2");
    expect(problems.join("\n")).not.toContain("12345");
    expect(problems).toEqual([
      "postgresAdminPassword: must be a string (got number)",
      "apiJwtSecret: must be at least 32 characters (got string)",
    ]);
  });
});

describe("rawStackConfig", () => {
  it.each([
    ["keeps string keys as strings even when numeric", { "p:accountId": "1234" }, { accountId: "1234" }],
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
