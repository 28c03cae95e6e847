import * as pulumi from "@pulumi/pulumi";
import { R2Bucket as R2BucketComponent } from "../components";
import { childOptions } from "./child";

/** Deletes objects under `prefix` some days after they were last written. */
export interface R2ExpiryRule {
  /** Rule id, unique within the bucket. */
  id: string;
  /** Key prefix the rule applies to; "" for the whole bucket. Default: "". */
  prefix?: string;
  /** Age in whole days (at least 1) after which objects are deleted. */
  expireAfterDays: number;
}

export interface R2BucketArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Bucket name: 3 to 63 of a-z, 0-9 and '-'. Default: `<project>-<stack>-<name>`. */
  bucketName?: string;
  /** Location hint (`wnam`, `enam`, `weur`, `eeur`, `apac`, `oc`). */
  location?: pulumi.Input<string>;
  /** Object expiry rules, applied as the bucket's lifecycle configuration. Default: none. */
  expiryRules?: R2ExpiryRule[];
  /** Protect the bucket (and keep it when removed from the program). Default: false. */
  protect?: boolean;
}

/**
 * An R2 bucket with optional expiry rules: the package's `R2Bucket` component, created as this
 * resource's child. Not exposed: `transform` (a function, which no schema type can carry).
 */
export class R2Bucket extends pulumi.ComponentResource {
  /** Bucket name, as a Worker's `r2Buckets` binding takes it. */
  readonly bucketName: pulumi.Output<string>;

  constructor(name: string, args: R2BucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:R2Bucket", name, {}, opts);
    const bucket = new R2BucketComponent(
      name,
      {
        accountId: args.accountId,
        bucketName: args.bucketName,
        location: args.location,
        expiryRules: args.expiryRules,
        protect: args.protect,
      },
      childOptions(this, opts),
    );
    this.bucketName = bucket.bucketName;
    this.registerOutputs({ bucketName: this.bucketName });
  }
}
