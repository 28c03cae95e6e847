import * as pulumi from "@pulumi/pulumi";
import { KvNamespace as KvNamespaceComponent } from "../components";
import { childOptions } from "./child";

export interface KvNamespaceArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Namespace title. Default: `<project>-<stack>-<name>`. */
  title?: pulumi.Input<string>;
  /** Protect the namespace (and keep it when removed from the program). Default: false. */
  protect?: boolean;
}

/**
 * A Workers KV namespace: the package's `KvNamespace` component, created as this resource's child.
 * Not exposed: `transform` (a function, which no schema type can carry).
 */
export class KvNamespace extends pulumi.ComponentResource {
  /** Namespace id, as a Worker's `kvNamespaces` binding takes it. */
  readonly id: pulumi.Output<string>;
  /** Namespace title. */
  readonly title: pulumi.Output<string>;

  constructor(name: string, args: KvNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:KvNamespace", name, {}, opts);
    const namespace = new KvNamespaceComponent(
      name,
      { accountId: args.accountId, title: args.title, protect: args.protect },
      childOptions(this, opts),
    );
    this.id = namespace.id;
    this.title = namespace.title;
    this.registerOutputs({ id: this.id, title: this.title });
  }
}
