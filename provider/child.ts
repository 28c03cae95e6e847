import type * as pulumi from "@pulumi/pulumi";

/**
 * Options of the package's component a provider resource creates: its child, under the same name (so that
 * physical names, `<project>-<stack>-<name>`, are those a TypeScript program gets), and waiting for what
 * the provider resource waits for. Pulumi gives a component's children none of its `dependsOn`; the
 * components hand theirs on to the children that act at once (a Hyperdrive config connecting to its
 * database), so it is passed to the component.
 */
export function childOptions(
  parent: pulumi.ComponentResource,
  opts: pulumi.ComponentResourceOptions | undefined,
): pulumi.ComponentResourceOptions {
  return opts?.dependsOn === undefined ? { parent } : { parent, dependsOn: opts.dependsOn };
}
