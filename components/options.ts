import type * as pulumi from "@pulumi/pulumi";

/** Package name in every component's type token (`workers-platform:<module>:<Type>`). */
export const PACKAGE = "workers-platform";

/**
 * Lets a user adjust the args of an underlying resource without forking the component: mutate `args` in
 * place or return replacements.
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

/** Options of a resource that holds data: `protect` from the stack, and kept in place when unmanaged. */
export function statefulOptions(
  parent: pulumi.Resource,
  protect: boolean | undefined,
  extra: pulumi.CustomResourceOptions = {},
): pulumi.CustomResourceOptions {
  return { ...extra, parent, protect: protect ?? false, retainOnDelete: protect ?? false };
}
