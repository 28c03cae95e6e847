import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { captureProgram } from "../local/capture";
import {
  D1_MIGRATIONS_TYPE,
  D1Migrations,
  d1MigrationsProvider,
  SQL_MIGRATIONS_TYPE,
  SqlMigrations,
  sqlMigrationsProvider,
} from "./migration-providers";
import { shippedProvider } from "./provider-cache";

let cacheDir: string;
beforeAll(() => {
  cacheDir = mkdtempSync(path.join(tmpdir(), "provider-cache-"));
  vi.stubEnv("WORKERS_PLATFORM_CACHE_DIR", cacheDir);
});
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(cacheDir, { recursive: true, force: true });
});

const outputValue = <T>(output: pulumi.Output<T>) =>
  new Promise<T>((resolve) => {
    output.apply((value) => {
      resolve(value);
      return value;
    });
  });

const connection = {
  host: "db.example",
  port: 5432,
  user: "app",
  password: "p",
  database: "app",
  sslMode: "disable" as const,
};

/** The SDK's own dynamic resource (abstract in its typings only), to compare registrations with. */
class SdkDynamicResource extends pulumi.dynamic.Resource {}

describe("the migration resources register as pulumi.dynamic.Resource registers them", () => {
  it("same type token and the same __provider text, and the text is cached", async () => {
    const { resources } = await captureProgram(
      { project: "proj", stack: "test", config: {}, secretKeys: [] },
      () => {
        const inputs = { connection, schema: "app", migrations: [], allowDataLoss: [] };
        const d1 = { accountId: "acc", databaseId: "db", apiToken: "t", migrations: [], allowDataLoss: [] };
        new SqlMigrations("ours-sql", inputs);
        new D1Migrations("ours-d1", d1);
        new SdkDynamicResource(
          sqlMigrationsProvider,
          "sdk-sql",
          inputs,
          {},
          "workers-platform",
          "SqlMigrations",
        );
        new SdkDynamicResource(d1MigrationsProvider, "sdk-d1", d1, {}, "workers-platform", "D1Migrations");
      },
    );
    const byName = (name: string) => {
      const found = resources.find((r) => r.name === name);
      if (!found) throw new Error(`${name} was not registered`);
      return found;
    };
    for (const [ours, sdk, type] of [
      ["ours-sql", "sdk-sql", SQL_MIGRATIONS_TYPE],
      ["ours-d1", "sdk-d1", D1_MIGRATIONS_TYPE],
    ] as const) {
      expect(byName(ours).type).toBe(type);
      expect(byName(sdk).type).toBe(type);
      expect(byName(ours).inputs.__provider).toEqual(expect.any(String));
      expect(byName(ours).inputs.__provider).toBe(byName(sdk).inputs.__provider);
    }
    expect(readdirSync(path.join(cacheDir, "providers"))).toHaveLength(2);
  });

  it("uses the cached text while the provider, its module and what it captures are unchanged", async () => {
    const make = (): pulumi.dynamic.ResourceProvider => ({
      create: async (inputs) => ({ id: "x", outs: inputs }),
    });
    const providers = path.join(cacheDir, "providers");
    mkdirSync(providers, { recursive: true });
    const before = new Set(readdirSync(providers));
    const fresh = await outputValue(
      shippedProvider(make(), { definedIn: __filename, name: "test", captures: ["runtime v1"] }),
    );
    expect(fresh).toContain("create");
    const [added, ...others] = readdirSync(providers).filter((f) => !before.has(f));
    expect(others).toEqual([]);
    if (!added) throw new Error("the provider was not cached");
    const record = path.join(providers, added);
    writeFileSync(record, JSON.stringify({ ...JSON.parse(readFileSync(record, "utf8")), text: "cached" }));
    // Another object with the same code: the serializer would give the same text, so the cache answers.
    expect(
      await outputValue(
        shippedProvider(make(), { definedIn: __filename, name: "test", captures: ["runtime v1"] }),
      ),
    ).toBe("cached");
    // A captured value changed (a new bundled runtime): serialized again.
    expect(
      await outputValue(
        shippedProvider(make(), { definedIn: __filename, name: "test", captures: ["runtime v2"] }),
      ),
    ).toBe(fresh);
    // Replaced, not added to: one record per provider.
    expect(readdirSync(providers).filter((f) => !before.has(f))).toEqual([added]);
  });
});
