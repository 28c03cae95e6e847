import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { stackName } from "./naming";
import { PACKAGE, statefulOptions, type Transform, transformed } from "./options";

export interface KvNamespaceArgs {
  accountId: pulumi.Input<string>;
  /** Namespace title. @default `<project>-<stack>-<name>` */
  title?: pulumi.Input<string>;
  /** Protect the namespace (and keep it when removed from the program). @default false */
  protect?: boolean;
  transform?: { namespace?: Transform<cloudflare.WorkersKvNamespaceArgs> };
}

/** A Workers KV namespace. */
export class KvNamespace extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:KvNamespace`;
  readonly namespace: cloudflare.WorkersKvNamespace;
  /** Namespace id, as a `kv_namespace` binding takes it. */
  readonly id: pulumi.Output<string>;
  readonly title: pulumi.Output<string>;

  constructor(name: string, args: KvNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(KvNamespace.TYPE, name, {}, opts);
    const [nsArgs, nsOpts] = transformed(
      args.transform?.namespace,
      { accountId: args.accountId, title: args.title ?? stackName(name, 512) },
      statefulOptions(this, args.protect),
    );
    this.namespace = new cloudflare.WorkersKvNamespace(name, nsArgs, nsOpts);
    this.id = this.namespace.id;
    this.title = this.namespace.title;
    this.registerOutputs({ id: this.id, title: this.title });
  }
}
