import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { capture, find, revealSecrets, shape } from "../test/mock-program";
import { Hyperdrive } from "./hyperdrive";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const CONFIG = "cloudflare:index/hyperdriveConfig:HyperdriveConfig";

describe("Hyperdrive", () => {
  it("registers a config whose origin password is a secret and caching maps to the provider's fields", async () => {
    const resources = await capture(
      () =>
        new Hyperdrive("db", {
          accountId: ACCOUNT,
          origin: { host: "db.example.net", port: 5432, database: "builds", user: "app", password: "pw" },
          caching: { maxAgeSeconds: 30 },
          originConnectionLimit: 20,
        }),
    );
    const config = find(resources, "cloudflare:index/hyperdriveConfig:HyperdriveConfig", "db");
    expect(revealSecrets(config.inputs)).toEqual({
      accountId: ACCOUNT,
      name: "proj-test-db",
      // Only the password is secret: which database the config points at shows in a diff.
      origin: {
        scheme: "postgres",
        host: "db.example.net",
        port: 5432,
        database: "builds",
        user: "app",
        password: { secret: "pw" },
      },
      caching: { disabled: false, maxAge: 30, staleWhileRevalidate: 15 },
      originConnectionLimit: 20,
    });
  });

  it("transform.config adjusts the config's args", async () => {
    const origin = { host: "h", port: 5432, database: "d", user: "u", password: "p" };
    const plain = await capture(() => new Hyperdrive("db", { accountId: ACCOUNT, origin }));
    const changed = await capture(
      () =>
        new Hyperdrive("db", {
          accountId: ACCOUNT,
          origin,
          transform: { config: (args) => ({ ...args, mtls: { sslmode: "verify-full" } }) },
        }),
    );
    expect(shape(changed)).toEqual(shape(plain));
    expect(shape(plain)).toEqual([`${CONFIG}::db`, "workers-platform:cloudflare:Hyperdrive::db"]);
    expect(find(changed, CONFIG, "db").inputs).toEqual({
      ...find(plain, CONFIG, "db").inputs,
      mtls: { sslmode: "verify-full" },
    });
  });

  it("has the config wait for what the component waits for (it connects to the origin when created)", async () => {
    const resources = await capture(() => {
      const migrations = new (class extends pulumi.CustomResource {})(
        "test:index:Migrations",
        "migrations",
        {},
      );
      return new Hyperdrive(
        "db",
        { accountId: ACCOUNT, origin: { host: "h", port: 5432, database: "d", user: "u", password: "p" } },
        { dependsOn: [migrations] },
      );
    });
    expect(find(resources, CONFIG, "db").dependsOn).toEqual([
      find(resources, "test:index:Migrations", "migrations").urn,
    ]);
  });

  it("disables caching when asked", async () => {
    const resources = await capture(
      () =>
        new Hyperdrive("db", {
          accountId: ACCOUNT,
          origin: { host: "h", port: 5432, database: "d", user: "u", password: "p" },
          caching: { enabled: false },
        }),
    );
    expect(
      find(resources, "cloudflare:index/hyperdriveConfig:HyperdriveConfig", "db").inputs.caching,
    ).toEqual({
      disabled: true,
      maxAge: 60,
      staleWhileRevalidate: 15,
    });
  });
});
