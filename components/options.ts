import type * as pulumi from "@pulumi/pulumi";

/** Package name in every component's type token (`workers-platform:<module>:<Type>`). */
export const PACKAGE = "workers-platform";

/**
 * Lets a user adjust the args of an underlying resource without forking the component: mutate `args` in
 * place or return replacements. `opts` are that child's own options (a fresh object per child), so a
 * transform may also set options such as `ignoreChanges` on it.
 *
 * Every component takes `transform?: { <child>?: Transform<<Child>Args> }`, one camelCase entry per child
 * resource it creates, named after the component's property that holds it (or the resource's role); an
 * entry for a child created once per item (a Worker's domains) applies to each of them. A composition
 * takes one entry per component it creates, holding that component's own `transform` object.
 */
export type Transform<T> = (args: T, opts: pulumi.CustomResourceOptions) => T | undefined;

export function transformed<T>(
  transform: Transform<T> | undefined,
  args: T,
  opts: pulumi.CustomResourceOptions,
): [T, pulumi.CustomResourceOptions] {
  if (!transform) return [args, opts];
  return [transform(args, opts) ?? args, opts];
}

/**
 * `dependsOn` for a child that must wait for what its component waits for: its own dependencies and the
 * component's `dependsOn`. Pulumi does not give a component's children the component's `dependsOn`, so a
 * child that acts on something outside the component when it is created (connects to a database, starts
 * serving code that reads it) is given it explicitly.
 */
export function alsoAfter(
  own: pulumi.Input<pulumi.Resource>[],
  component: pulumi.ComponentResourceOptions | undefined,
): pulumi.CustomResourceOptions["dependsOn"] {
  const extra = component?.dependsOn;
  if (extra === undefined) return own;
  // Pulumi flattens nested lists, promises and outputs of resources in `dependsOn`.
  return [...own, ...(Array.isArray(extra) ? extra : [extra as pulumi.Input<pulumi.Resource>])];
}

/** Options of a resource that holds data: `protect` from the stack, and kept in place when unmanaged. */
export function statefulOptions(
  parent: pulumi.Resource,
  protect: boolean | undefined,
  extra: pulumi.CustomResourceOptions = {},
): pulumi.CustomResourceOptions {
  return { ...extra, parent, protect: protect ?? false, retainOnDelete: protect ?? false };
}
