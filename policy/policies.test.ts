import type { PolicyPackArgs, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { UnknownValueError, unknownCheckingProxy } from "@pulumi/policy";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { MASK } from "../local/mask";
import { dataSafetyPolicies, PACK_NAME } from "./policies";
import {
  BUILDS_PLATFORM_TYPE,
  checkResource,
  checkResources,
  type ResourceRecord,
  RULES,
  type RuleContext,
  type RuleId,
  type Violation,
} from "./rules";
import {
  buildsHyperdrive,
  CASES,
  contextOf,
  HYPERDRIVE,
  HYPERDRIVE_COMPONENT,
  NOW,
  R2,
  record,
  script,
  UNKNOWN_STRING,
} from "./rules.fixtures";

type PackConfig = Record<string, Record<string, unknown>>;

/** The policy config that states what `context` states. */
function packConfig(context: RuleContext): PackConfig {
  return {
    "prod-stateful-protected": context.prodStacks ? { prodStacks: context.prodStacks } : {},
    "durable-object-deletion-approved": context.approvedDurableObjectDataLoss
      ? { approved: context.approvedDurableObjectDataLoss }
      : {},
    "builds-hyperdrive-cache-off": context.buildsHyperdriveCaching
      ? { cachingAllowedStacks: [context.stack] }
      : {},
    "compatibility-date-floor": {
      ...(context.minimumCompatibilityDate
        ? { minimumCompatibilityDate: context.minimumCompatibilityDate }
        : {}),
      ...(context.maxCompatibilityDateAgeDays !== undefined
        ? { maxAgeDays: context.maxCompatibilityDateAgeDays }
        : {}),
    },
  };
}

/** Runs each policy's validateResource as the pack's server does: inputs behind the SDK's unknown-checking proxy. */
function runPack(
  policies: ResourceValidationPolicy[],
  resource: ResourceRecord,
  config: PackConfig,
): Violation[] {
  const found: Violation[] = [];
  for (const policy of policies) {
    const args = {
      type: resource.type,
      name: resource.name,
      urn: resource.urn,
      props: unknownCheckingProxy(resource.inputs),
      opts: {
        protect: resource.protect,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
      },
      stackTags: new Map<string, string>(),
      getConfig: () => config[policy.name] ?? {},
    } as unknown as ResourceValidationArgs;
    const validations = [policy.validateResource ?? []].flat();
    for (const validate of validations) {
      validate(args, (message) => found.push({ rule: policy.name as RuleId, urn: resource.urn, message }));
    }
  }
  return found;
}

/** What the pack can see of a record: no retainOnDelete, no secretness. */
const packView = (resource: ResourceRecord): ResourceRecord => ({ ...resource, retainOnDelete: undefined });

describe("the policy pack", () => {
  let made: { name: string; args: PolicyPackArgs }[] = [];
  beforeAll(async () => {
    made = [];
    vi.doMock("@pulumi/policy", () => ({
      PolicyPack: class {
        constructor(name: string, args: PolicyPackArgs) {
          made.push({ name, args });
        }
      },
    }));
    await import("./index");
    vi.doUnmock("@pulumi/policy");
  });
  const packPolicies = () => made[0]!.args.policies as ResourceValidationPolicy[];

  it("index.ts makes one PolicyPack with one policy per rule, mandatory where data or a secret is at stake", () => {
    expect(made).toHaveLength(1);
    expect(made[0]!.name).toBe(PACK_NAME);
    expect(packPolicies().map((p) => [p.name, p.enforcementLevel])).toEqual([
      ["prod-stateful-protected", "mandatory"],
      ["secrets-stay-secret", "mandatory"],
      ["durable-object-deletion-approved", "mandatory"],
      ["builds-hyperdrive-cache-off", "advisory"],
      ["compatibility-date-floor", "advisory"],
    ]);
    expect(packPolicies().map((p) => p.name)).toEqual(RULES.map((r) => r.id));
  });

  const allCases = Object.values(CASES).flat();

  it("reports on every fixture exactly what the rules report on what the pack sees", () => {
    let reported = 0;
    for (const c of allCases.filter((c) => c.context?.now === undefined)) {
      const context = { ...contextOf(c), secretMask: undefined };
      const expected = checkResources([packView(c.resource)], context);
      expect(runPack(packPolicies(), c.resource, packConfig(context)), c.name).toEqual(expected);
      reported += expected.length;
    }
    // Fewer than the tables list: the pack sees neither a value's secretness nor retainOnDelete.
    expect(reported).toBe(13);
  });

  it("measures maxAgeDays from the time it is given", () => {
    const policies = dataSafetyPolicies({ now: () => NOW });
    for (const c of allCases.filter((c) => c.context?.now !== undefined)) {
      const context = { ...contextOf(c), secretMask: undefined };
      expect(runPack(policies, c.resource, packConfig(context)), c.name).toEqual(
        checkResources([packView(c.resource)], context),
      );
    }
    const old = script({ compatibilityDate: "2025-12-02" });
    expect(runPack(policies, old, { "compatibility-date-floor": { maxAgeDays: 365 } })).toEqual([
      {
        rule: "compatibility-date-floor",
        urn: old.urn,
        message: `Worker script "api": compatibilityDate 2025-12-02 is older than 2025-12-03 (365 days before 2026-12-03): move the stack config's compatibilityDate forward and test the Workers on it`,
      },
    ]);
  });

  it("cannot see a secret in plain text or a missing retainOnDelete (what only the synth check catches)", () => {
    const plainSecret = script({
      bindings: [{ type: "secret_text", name: "API_JWT_SECRET", text: "hunter2" }],
    });
    expect(runPack(packPolicies(), plainSecret, {})).toEqual([]);
    expect(checkResource(plainSecret, { stack: "prod", secretMask: MASK }).map((v) => v.rule)).toEqual([
      "secrets-stay-secret",
    ]);
    expect(runPack(packPolicies(), record(R2, "cache", {}, { protect: true }), {})).toEqual([]);
  });

  it("reads no value that is unknown during preview", () => {
    expect(() => (unknownCheckingProxy({ id: UNKNOWN_STRING }) as { id: unknown }).id).toThrow(
      UnknownValueError,
    );
    const worker = script({
      bindings: [
        { type: "hyperdrive", name: "HYPERDRIVE", id: UNKNOWN_STRING },
        { type: "secret_text", name: "API_JWT_SECRET", text: UNKNOWN_STRING },
        { type: "plain_text", name: "RELEASE", text: UNKNOWN_STRING },
      ],
    });
    const hyperdrive = record(
      HYPERDRIVE,
      "builds-hyperdrive",
      { caching: { disabled: true }, origin: { host: UNKNOWN_STRING, password: UNKNOWN_STRING } },
      { ancestors: [HYPERDRIVE_COMPONENT, BUILDS_PLATFORM_TYPE] },
    );
    expect(runPack(packPolicies(), worker, {})).toEqual([]);
    expect(runPack(packPolicies(), hyperdrive, {})).toEqual([]);
  });

  it("takes prod stacks, approvals and stated caching from each policy's own config", () => {
    const bucket = record(R2, "cache", {}, { stack: "live" });
    expect(
      runPack(packPolicies(), bucket, { "prod-stateful-protected": { prodStacks: ["live"] } }).map(
        (v) => v.rule,
      ),
    ).toEqual(["prod-stateful-protected"]);
    const cached = buildsHyperdrive({ disabled: false });
    expect(
      runPack(packPolicies(), cached, { "builds-hyperdrive-cache-off": { cachingAllowedStacks: ["prod"] } }),
    ).toEqual([]);
    expect(
      runPack(packPolicies(), cached, { "builds-hyperdrive-cache-off": { cachingAllowedStacks: ["dev"] } }),
    ).toHaveLength(1);
  });
});
