import { ai } from "./ai";
import { analyticsEngineDatasets } from "./analytics-engine";
import { d1Databases } from "./d1";
import { durableObjects } from "./durable-objects";
import { hyperdrives } from "./hyperdrive";
import type { BindingKind } from "./kind";
import { kvNamespaces } from "./kv";
import { queues } from "./queues";
import { r2Buckets } from "./r2";
import { services } from "./services";
import { secrets, vars } from "./text";

export type { DurableObjectBinding } from "./durable-objects";
export * from "./kind";
export type { ServiceBinding } from "./services";

/**
 * Every binding kind a Worker takes, in the order its bindings are uploaded. Each kind is one file: the
 * component, the mock runtime, the local plan and the masker all read it from here.
 */
export const BINDING_KINDS = [
  kvNamespaces,
  d1Databases,
  r2Buckets,
  hyperdrives,
  durableObjects,
  services,
  queues,
  analyticsEngineDatasets,
  vars,
  secrets,
  ai,
] as const;

type Kinds = (typeof BINDING_KINDS)[number];
type ArgOf<K> = K extends BindingKind<string, infer Arg> ? Arg : never;

/** The `WorkerArgs` fields of the binding kinds: binding name → what each kind takes. */
export type BindingArgs = {
  [K in Kinds as K["field"]]?: Record<string, ArgOf<K>>;
};

const byType = new Map<string, BindingKind>(BINDING_KINDS.map((k) => [k.type, k as BindingKind]));

/** The kind of a binding literal's `type`. */
export function bindingKindOf(type: unknown): BindingKind | undefined {
  return typeof type === "string" ? byType.get(type) : undefined;
}

/** Outputs the provider computes for a resource type, as the mock runtime makes them up. */
export function computedOutputsOf(type: string): BindingKind["resource"] {
  return BINDING_KINDS.map((k) => (k as BindingKind).resource).find((r) => r?.type === type);
}

/** Miniflare worker options the binding kinds land in (each an object of binding name → value). */
export const LOCAL_OPTIONS = [
  ...new Set(BINDING_KINDS.flatMap((k) => ("option" in k.local ? [k.local.option] : []))),
];
