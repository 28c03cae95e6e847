import type * as cloudflare from "@pulumi/cloudflare";
import type * as pulumi from "@pulumi/pulumi";

/**
 * One kind of Worker binding, all of it in one place: the `WorkerArgs` field that declares it, the
 * binding literal Cloudflare's API takes, what its resource computes under the mock runtime, which of
 * its fields are secret, and how the local target runs it (the Miniflare option it lands in) or why it
 * cannot. Adding a kind is adding a file beside this one and listing it in `index.ts`.
 */
export interface BindingKind<Field extends string = string, Arg = unknown> {
  /** Cloudflare's binding type. */
  type: string;
  /** The `WorkerArgs` field that declares these bindings: binding name → `Arg`. */
  field: Field;
  /** The binding literal for one declared binding, and the resources it must wait for. */
  literal(name: string, arg: Arg): { binding: BindingLiteral; dependsOn?: pulumi.Resource[] };
  /** Whether the literal's `text` is a secret (the plan lists such bindings as secret). */
  secret?: boolean;
  /**
   * The resource the binding refers to, and the outputs its provider computes, which the mock runtime
   * makes up from stable ids derived from the resource's URN.
   */
  resource?: { type: string; computed?(ids: MockIds): Record<string, unknown> };
  /** How the local target runs it. */
  local: LocalMapping;
}

export type BindingLiteral = pulumi.Input<cloudflare.types.input.WorkersScriptBinding>;

/** Where a binding goes in Miniflare's worker options, or why it has no local counterpart. */
export type LocalMapping =
  | {
      /** Miniflare (v4) worker option of the binding: binding name → `value`. */
      option: string;
      /** The option's value, from the binding literal as captured (secrets revealed). */
      value(binding: Record<string, unknown>, plan: PlanContext): unknown;
    }
  | {
      /** Why the local target cannot run it: the Worker starts without this binding. */
      notEmulated: string;
    };

/** Stable made-up ids of one resource under the mock runtime. */
export interface MockIds {
  /** Hex digits (32 unless told). */
  hex(length?: number): string;
  /** A version 4 UUID. */
  uuid(): string;
}

/** What the local plan knows when it maps a binding. */
export interface PlanContext {
  /** The Worker that has the binding. */
  scriptName: string;
  /** `Worker <script> binding <name>`, for messages. */
  where: string;
  /** A required string field of the binding; throws a plan error naming it. */
  str(binding: Record<string, unknown>, key: string): string;
  /** A script the program declares, else a plan error. */
  script(name: string | undefined): string;
  /** Whether a Durable Object class of a script stores in SQLite (from its uploads' migrations). */
  sqlite(scriptName: string, className: string): boolean;
  /** The D1 database a binding's id refers to (ids and uuids both accepted). */
  d1(id: string): string;
  /** Throws unless the program declares this Hyperdrive config. */
  hyperdrive(id: string): string;
}

/** Something with an id output (a `KvNamespace`, `D1Database`, `Hyperdrive`) or the id itself. */
export type IdRef = { id: pulumi.Input<string> } | pulumi.Input<string>;
/** An `R2Bucket` or a bucket name. */
export type BucketRef = { bucketName: pulumi.Input<string> } | pulumi.Input<string>;
/** A `Queue` or a queue name. */
export type QueueRef = { queueName: pulumi.Input<string>; id: pulumi.Input<string> } | pulumi.Input<string>;
/** A `Worker` (anything with its `scriptName` and `script`) or a script name. */
export type ScriptRef = { scriptName: pulumi.Input<string>; script: pulumi.Resource } | pulumi.Input<string>;

const has = <K extends string>(ref: unknown, key: K): ref is Record<K, unknown> =>
  typeof ref === "object" && ref !== null && key in ref && !("apply" in ref && "isKnown" in ref);

export function idOf(ref: IdRef): pulumi.Input<string> {
  return has(ref, "id") ? (ref.id as pulumi.Input<string>) : (ref as pulumi.Input<string>);
}

export function bucketOf(ref: BucketRef): pulumi.Input<string> {
  return has(ref, "bucketName") ? (ref.bucketName as pulumi.Input<string>) : (ref as pulumi.Input<string>);
}

export function queueNameOf(ref: QueueRef): pulumi.Input<string> {
  return has(ref, "queueName") ? (ref.queueName as pulumi.Input<string>) : (ref as pulumi.Input<string>);
}

/** A script reference's name, and the script resource a binding to it must wait for. */
export function scriptOf(ref: ScriptRef): { name: pulumi.Input<string>; dependsOn: pulumi.Resource[] } {
  return has(ref, "scriptName") && has(ref, "script")
    ? { name: ref.scriptName as pulumi.Input<string>, dependsOn: [ref.script as pulumi.Resource] }
    : { name: ref as pulumi.Input<string>, dependsOn: [] };
}

/** Defines a kind with its field name and argument type checked. */
export const bindingKind = <Field extends string, Arg>(kind: BindingKind<Field, Arg>) => kind;
