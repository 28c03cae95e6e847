import { beforeAll, describe, expect, it } from "vitest";
import { MASK } from "../local/mask";
import { projectName, readStackFile, stackFilePath } from "../local/stack-file";
import { type SynthGraph, synth } from "../local/synth";
import { rawStackConfig } from "../stacks/config";
import { ancestorTypesOfUrn, stackOfUrn } from "./policies";
import {
  BUILDS_PLATFORM_TYPE,
  checkResource,
  checkResources,
  nameLooksSecret,
  RULES,
  type RuleContext,
  recordsFromSynthGraph,
} from "./rules";
import {
  CASES,
  contextOf,
  DATABASE,
  HYPERDRIVE,
  HYPERDRIVE_COMPONENT,
  ROLE,
  SCRIPT,
  script,
} from "./rules.fixtures";

const STACKS = ["local", "dev", "staging", "prod"] as const;

describe.each(RULES.map((rule) => [rule.id, rule] as const))("rule %s", (id, rule) => {
  it("has fixtures that break it and fixtures that keep it", () => {
    expect(CASES[id].filter((c) => c.expected.length > 0).length).toBeGreaterThan(0);
    expect(CASES[id].filter((c) => c.expected.length === 0).length).toBeGreaterThan(0);
  });

  it.each(CASES[id].map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(rule.check(c.resource, contextOf(c))).toEqual(c.expected);
  });
});

describe("rule helpers", () => {
  it.each([
    ["RUNNER_TOKEN", true],
    ["apiKey", true],
    ["DB_PASSWORD", true],
    ["JWT_SECRET", true],
    ["PRIVATE_KEY", true],
    ["RELEASE", false],
    ["MONKEY", false],
    ["HEARTBEAT_TIMEOUT_SECONDS", false],
    ["keyboardLayout", false],
  ] as const)("nameLooksSecret(%s) is %s", (name, expected) => {
    expect(nameLooksSecret(name)).toBe(expected);
  });

  it("refuses a malformed compatibility-date setting instead of passing every Worker", () => {
    const worker = script({});
    expect(() => checkResource(worker, { stack: "prod", minimumCompatibilityDate: "soon" })).toThrow(
      "policy config minimumCompatibilityDate must be a date like 2024-09-23 (got soon)",
    );
    expect(() => checkResource(worker, { stack: "prod", maxCompatibilityDateAgeDays: -1 })).toThrow(
      "policy config maxAgeDays must be a whole number of days, 0 or more (got -1)",
    );
  });

  it("reads a synth graph's parent links into each record's ancestor types, nearest first", () => {
    const node = (urn: string, type: string, parent: string | null) => ({
      urn,
      type,
      name: urn,
      parent,
      inputs: {},
      protect: false,
      retainOnDelete: false,
    });
    const records = recordsFromSynthGraph({
      resources: [
        node("p", BUILDS_PLATFORM_TYPE, null),
        node("h", HYPERDRIVE_COMPONENT, "p"),
        node("c", HYPERDRIVE, "h"),
      ],
    });
    expect(records.map((r) => r.ancestorTypes)).toEqual([
      [],
      [BUILDS_PLATFORM_TYPE],
      [HYPERDRIVE_COMPONENT, BUILDS_PLATFORM_TYPE],
    ]);
  });

  it("reads a URN's stack and parent types as the engine writes them", () => {
    const urn = `urn:pulumi:prod::workers-platform::${BUILDS_PLATFORM_TYPE}$${HYPERDRIVE_COMPONENT}$${HYPERDRIVE}::builds-hyperdrive`;
    expect(stackOfUrn(urn)).toBe("prod");
    expect(ancestorTypesOfUrn(urn)).toEqual([HYPERDRIVE_COMPONENT, BUILDS_PLATFORM_TYPE]);
    expect(ancestorTypesOfUrn(`urn:pulumi:dev::p::${SCRIPT}::api`)).toEqual([]);
    expect(() => stackOfUrn("prod::api")).toThrow("not a Pulumi URN");
  });
});

/** Whether the stack file states that the builds platform's Hyperdrive caches (the config key, not its default). */
function cachingStated(stack: string): boolean {
  const project = projectName();
  const raw = rawStackConfig(readStackFile(stackFilePath(stack), project).config, project);
  const hyperdrive = raw.hyperdrive as { caching?: { enabled?: unknown } } | undefined;
  return hyperdrive?.caching?.enabled === true;
}

const stackContext = (stack: string): RuleContext => ({
  stack,
  secretMask: MASK,
  buildsHyperdriveCaching: cachingStated(stack),
});

describe("every stack's synth graph", () => {
  const graphs = new Map<string, SynthGraph>();
  beforeAll(async () => {
    for (const stack of STACKS) graphs.set(stack, await synth({ stack }));
  }, 180_000);
  const recordsOf = (stack: string) => recordsFromSynthGraph(graphs.get(stack)!);

  it.each(STACKS)("%s breaks no rule", (stack) => {
    expect(checkResources(recordsOf(stack), stackContext(stack))).toEqual([]);
  });

  it.each(STACKS)("%s gives every rule something to check", (stack) => {
    const records = recordsOf(stack);
    const ofType = (type: string) => records.filter((r) => r.type === type);
    expect(ofType(HYPERDRIVE).filter((r) => r.ancestorTypes?.includes(BUILDS_PLATFORM_TYPE))).toHaveLength(1);
    expect(ofType(SCRIPT).map((r) => r.name)).toEqual(["builds-client", "builds-management", "demo-worker"]);
    expect(ofType(SCRIPT).filter((r) => r.inputs.migrations !== undefined)).toHaveLength(2);
    expect(ofType(ROLE).map((r) => r.inputs.password)).toEqual([MASK]);
    expect(ofType(DATABASE).map((r) => [r.protect, r.retainOnDelete])).toEqual([
      [stack === "prod", stack === "prod"],
    ]);
  });

  it("catches each rule broken in the prod graph", () => {
    const records = structuredClone(recordsOf("prod"));
    const find = (type: string, name: string) => records.find((r) => r.type === type && r.name === name)!;
    const database = find(DATABASE, "builds-postgres-database");
    database.protect = false;
    const client = find(SCRIPT, "builds-client");
    const bindings = client.inputs.bindings as { name: string; text?: string }[];
    bindings.find((b) => b.name === "API_JWT_SECRET")!.text = "leaked";
    client.inputs.compatibilityDate = "2024-01-01";
    const demo = find(SCRIPT, "demo-worker");
    (demo.inputs.migrations as { steps: unknown[] }).steps.push({ deletedClasses: ["KvWriter"] });
    (find(HYPERDRIVE, "builds-hyperdrive").inputs.caching as { disabled: boolean }).disabled = false;

    const found = checkResources(records, stackContext("prod")).map((v) => [v.rule, v.urn]);
    expect(found).toEqual([
      ["builds-hyperdrive-cache-off", find(HYPERDRIVE, "builds-hyperdrive").urn],
      ["secrets-stay-secret", client.urn],
      ["compatibility-date-floor", client.urn],
      ["durable-object-deletion-approved", demo.urn],
      ["prod-stateful-protected", database.urn],
    ]);
  });
});
