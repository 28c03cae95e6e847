/**
 * The rules of `rules.ts` as @pulumi/policy resource policies: each policy adapts the engine's view of a
 * resource into a `ResourceRecord`, its own policy config into a `RuleContext`, and reports what the rule
 * returns. Kept apart from `index.ts`, whose `new PolicyPack` starts the pack's gRPC server.
 */
import type {
  EnforcementLevel,
  PolicyConfigSchema,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  Severity,
} from "@pulumi/policy";
import {
  DEFAULT_MINIMUM_COMPATIBILITY_DATE,
  type ResourceRecord,
  RULES,
  type RuleContext,
  type RuleId,
} from "./rules";

export const PACK_NAME = "workers-platform-data-safety";

const URN_PREFIX = "urn:pulumi:";

function urnParts(urn: string): { stack: string; qualifiedType: string } {
  const parts = urn.split("::");
  if (!parts[0]?.startsWith(URN_PREFIX) || parts.length < 4) {
    throw new Error(`not a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>): ${urn}`);
  }
  return { stack: parts[0].slice(URN_PREFIX.length), qualifiedType: parts[2] ?? "" };
}

/** The stack of a URN: policies are not told it otherwise. */
export function stackOfUrn(urn: string): string {
  return urnParts(urn).stack;
}

/**
 * The types of a resource's parents, nearest first, from its URN: the engine qualifies a child's type with
 * its parent's (`<grandparent>$<parent>$<type>`), so the URN carries the whole chain.
 */
export function ancestorTypesOfUrn(urn: string): string[] {
  return urnParts(urn).qualifiedType.split("$").slice(0, -1).reverse();
}

/**
 * The engine's view of a resource as a record. `props` is kept as given (a proxy that throws on a value
 * unknown during preview), so a rule reads only the fields it needs.
 */
export function recordFromPolicyArgs(
  args: Pick<ResourceValidationArgs, "type" | "name" | "urn" | "props" | "opts">,
): ResourceRecord {
  return {
    type: args.type,
    name: args.name,
    urn: args.urn,
    inputs: args.props,
    protect: args.opts.protect,
    retainOnDelete: undefined,
    ancestorTypes: ancestorTypesOfUrn(args.urn),
  };
}

type PolicyConfig = Record<string, unknown>;

function stringList(config: PolicyConfig, key: string, fallback: string[]): string[] {
  const value = config[key];
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new Error(`policy config ${key} must be a list of strings (got ${JSON.stringify(value)})`);
  }
  return value;
}

const stackList = (description: string, fallback: string[]) => ({
  type: "array" as const,
  items: { type: "string" as const },
  default: fallback,
  description,
});

interface PolicySettings {
  enforcementLevel: EnforcementLevel;
  severity: Severity;
  configSchema?: PolicyConfigSchema;
  /** The part of the rule context this policy's config gives. */
  context(config: PolicyConfig, stack: string): Partial<RuleContext>;
}

/** Mandatory where a deploy could destroy data or publish a secret; advisory where it could misbehave. */
const SETTINGS: Record<RuleId, PolicySettings> = {
  "prod-stateful-protected": {
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: {
      properties: {
        prodStacks: stackList("Stacks whose stateful resources must be protected.", ["prod"]),
      },
    },
    context: (config) => ({ prodStacks: stringList(config, "prodStacks", ["prod"]) }),
  },
  "secrets-stay-secret": {
    enforcementLevel: "mandatory",
    severity: "high",
    context: () => ({}),
  },
  "durable-object-deletion-approved": {
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: {
      properties: {
        approved: {
          type: "array",
          items: { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*\\.[A-Za-z_$][A-Za-z0-9_$]*$" },
          default: [],
          description:
            "Durable Object classes whose deletion or transfer is approved, as <script>.<Class> (for a transfer, the script and class the objects leave).",
        },
      },
    },
    context: (config) => ({ approvedDurableObjectDataLoss: stringList(config, "approved", []) }),
  },
  "builds-hyperdrive-cache-off": {
    enforcementLevel: "advisory",
    severity: "medium",
    configSchema: {
      properties: {
        cachingAllowedStacks: stackList(
          "Stacks whose builds platform Hyperdrive may cache (their stack config sets hyperdrive.caching.enabled: true).",
          [],
        ),
      },
    },
    context: (config, stack) => ({
      buildsHyperdriveCaching: stringList(config, "cachingAllowedStacks", []).includes(stack),
    }),
  },
  "compatibility-date-floor": {
    enforcementLevel: "advisory",
    severity: "low",
    configSchema: {
      properties: {
        minimumCompatibilityDate: {
          type: "string",
          pattern: "^\\d{4}-\\d{2}-\\d{2}$",
          default: DEFAULT_MINIMUM_COMPATIBILITY_DATE,
          description: "No Worker's compatibility date may be older.",
        },
        maxAgeDays: {
          type: "integer",
          minimum: 0,
          description: "Nor older than this many days before the preview (no limit when unset).",
        },
      },
    },
    context: (config) => {
      const minimum = config.minimumCompatibilityDate;
      const maxAge = config.maxAgeDays;
      return {
        ...(typeof minimum === "string" ? { minimumCompatibilityDate: minimum } : {}),
        ...(typeof maxAge === "number" ? { maxCompatibilityDateAgeDays: maxAge } : {}),
      };
    },
  },
};

export interface DataSafetyPolicyOptions {
  /** The time the compatibility-date policy measures `maxAgeDays` from. @default the current time */
  now?: () => Date;
}

/** One resource policy per rule of `RULES`, in its order. */
export function dataSafetyPolicies(options: DataSafetyPolicyOptions = {}): ResourceValidationPolicy[] {
  const now = options.now ?? (() => new Date());
  return RULES.map((rule) => {
    const settings = SETTINGS[rule.id];
    return {
      name: rule.id,
      description: rule.description,
      enforcementLevel: settings.enforcementLevel,
      severity: settings.severity,
      ...(settings.configSchema ? { configSchema: settings.configSchema } : {}),
      validateResource: (args, reportViolation) => {
        const stack = stackOfUrn(args.urn);
        const context: RuleContext = {
          ...settings.context(args.getConfig<PolicyConfig>(), stack),
          stack,
          now: now(),
        };
        for (const message of rule.check(recordFromPolicyArgs(args), context)) reportViolation(message);
      },
    };
  });
}
