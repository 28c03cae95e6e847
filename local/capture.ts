import * as pulumi from "@pulumi/pulumi";
import { deserializeProperty } from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { computedOutputsOf } from "../components/bindings";
import { type CapturedResource, SECRET_SIG, SECRET_VALUE, stableId, uuidOfFlatUrn } from "./graph";

export {
  type CapturedResource,
  isSecretWrapper,
  mockD1Uuid,
  mockIdOf,
  SECRET_SIG,
  SECRET_VALUE,
  stableId,
} from "./graph";

// Exported by the SDK at run time but missing from its typings: resolves once every RPC has settled.
const waitForRPCs = (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs;

export interface CaptureOptions {
  project: string;
  stack: string;
  /** Config as Pulumi hands it to programs: `project:key` → string (objects JSON-encoded). */
  config: Record<string, string>;
  secretKeys: string[];
  /** Evaluate as a preview rather than an update. @default false */
  preview?: boolean;
}

/**
 * Outputs that a provider computes and the program reads back. Stable values derived from the URN, so
 * the same program always yields the same graph.
 */
function computedState(type: string, urn: string): Record<string, unknown> {
  if (type === "random:index/randomPassword:RandomPassword") return { result: `dev-${stableId(urn, 24)}` };
  return (
    computedOutputsOf(type)?.computed?.({
      hex: (length) => stableId(urn, length),
      uuid: () => uuidOfFlatUrn(urn),
    }) ?? {}
  );
}

/**
 * A resource's inputs as the engine receives them, each secret wrapped where the program made it secret.
 * Pulumi's own deserializer lifts a secret to the top-level property that holds it (a Worker's whole
 * `bindings` list when one binding is a secret), because a plain value cannot be partly secret; the
 * request itself carries the secret where it is, and so does the captured graph. Other special values
 * (unknowns, assets, resource references) are read as Pulumi reads them.
 */
/** Pulumi's signature of a resource reference among serialized inputs. */
const RESOURCE_REFERENCE = "5cf8f73096256a8f31e491e813e4eb8e";

function inputsOf(struct: unknown): Record<string, unknown> {
  const raw = (struct as { toJavaScript(): Record<string, unknown> }).toJavaScript();
  const read = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(read);
    if (typeof value === "object" && value !== null) {
      const rec = value as Record<string, unknown>;
      if (rec[SECRET_SIG] === SECRET_VALUE) return { [SECRET_SIG]: SECRET_VALUE, value: read(rec.value) };
      // A resource given as an input: its id (a custom resource) or URN, as the engine would take it.
      if (rec[SECRET_SIG] === RESOURCE_REFERENCE) return read(rec.id || rec.urn);
      if (rec[SECRET_SIG] !== undefined) return deserializeProperty(rec);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rec)) {
        const inner = read(v);
        if (inner !== undefined) out[k] = inner;
      }
      return out;
    }
    return deserializeProperty(value);
  };
  return read(raw) as Record<string, unknown>;
}

type RegisterRequest = {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): unknown;
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDependenciesList(): string[];
  getProvider(): string;
};
type MonitorLike = {
  registerResource(req: RegisterRequest, cb: unknown): unknown;
  newUrn(parent: string, type: string, name: string): string;
};

/**
 * Runs a Pulumi program under Pulumi's mock runtime and returns every resource it registers, in
 * registration order, with parent, protect, retainOnDelete and dependsOn as the engine would see them.
 * An error raised while the program or its outputs resolve (a refused migration, a failed bundle)
 * rejects the capture with that error.
 */
export async function captureProgram<T>(
  options: CaptureOptions,
  program: () => T,
): Promise<{ resources: CapturedResource[]; result: T }> {
  pulumi.runtime.setAllConfig(options.config, options.secretKeys);
  // The graph reads components' inputs (a Worker's local services): they must be sent whatever this says.
  delete process.env.PULUMI_NODEJS_SKIP_COMPONENT_INPUTS;
  const resources: CapturedResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const urn = `urn:pulumi:${options.stack}::${options.project}::${args.type}::${args.name}`;
        return {
          id: args.custom ? stableId(urn) : undefined,
          state: { ...args.inputs, ...computedState(args.type, urn) },
        };
      },
      call: (args) => args.inputs,
    },
    options.project,
    options.stack,
    options.preview ?? false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const parent = req.getParent() || null;
    resources.push({
      urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
      type: req.getType(),
      name: req.getName(),
      parent,
      custom: req.getCustom(),
      inputs: inputsOf(req.getObject()),
      protect: req.getProtect() ?? false,
      retainOnDelete: req.getRetainondelete() ?? false,
      dependsOn: [...req.getDependenciesList()].sort(),
      provider: req.getProvider() || null,
    });
    return register(req, cb);
  };
  // A failed registration (a refused migration, a bundle that does not build) leaves the outputs that
  // depend on it unresolved forever, so the program never settles: the first failure ends the capture,
  // as it ends a `pulumi up`.
  let fail: (reason: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const onRejection = (reason: unknown) => fail(reason);
  process.on("unhandledRejection", onRejection);
  const settled = async () => {
    await waitForRPCs();
    // Outputs that settle after the last registration (component outputs) get one more turn.
    await new Promise((resolve) => setImmediate(resolve));
    await waitForRPCs();
  };
  try {
    let result: T;
    try {
      result = program();
      await Promise.race([settled(), failed]);
    } catch (err) {
      // Whether the program threw in a constructor or a registration failed later, let the work the
      // runtime already queued (a component's registerOutputs, sibling registrations) drain, so it does
      // not land in the next capture's runtime; what waits on the failure never settles, hence the bound.
      await Promise.race([settled(), new Promise((resolve) => setTimeout(resolve, 250))]);
      throw err;
    }
    return { resources, result };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}
