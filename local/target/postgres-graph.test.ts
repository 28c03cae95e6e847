import { describe, expect, it } from "vitest";
import type { CapturedResource } from "../graph";
import { usesPostgres } from "./postgres-graph";

const resource = (type: string): CapturedResource => ({
  urn: `urn:pulumi:local::p::${type}::r`,
  type,
  name: "r",
  parent: null,
  custom: true,
  inputs: {},
  protect: false,
  retainOnDelete: false,
  dependsOn: [],
  provider: null,
});

describe("usesPostgres: whether the local target starts a PostgreSQL server for a graph", () => {
  it.each([
    [
      "Workers and KV only",
      [
        "cloudflare:index/workersScript:WorkersScript",
        "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
      ],
      0,
      false,
    ],
    [
      "D1 with its migrations (workerd's own SQLite)",
      ["cloudflare:index/d1Database:D1Database", "pulumi-nodejs:dynamic/workers-platform:D1Migrations"],
      0,
      false,
    ],
    ["an empty graph", [], 0, false],
    [
      "a Hyperdrive config, whose pool needs an origin",
      ["cloudflare:index/hyperdriveConfig:HyperdriveConfig"],
      1,
      true,
    ],
    ["a PostgreSQL role", ["postgresql:index/role:Role"], 0, true],
    ["the PostgreSQL provider alone", ["pulumi:providers:postgresql"], 0, true],
    ["SQL migrations", ["pulumi-nodejs:dynamic/workers-platform:SqlMigrations"], 0, true],
  ])("%s", (_case, types, hyperdrives, expected) => {
    expect(usesPostgres(types.map(resource), hyperdrives)).toBe(expected);
  });
});
