import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { stackName } from "./naming";
import { PACKAGE, statefulOptions, type Transform, transformed } from "./options";

/** Deletes objects under `prefix` some days after they were last written. */
export interface R2ExpiryRule {
  /** Rule id, unique within the bucket. */
  id: string;
  /** Key prefix the rule applies to; "" for the whole bucket. @default "" */
  prefix?: string;
  /** Age in days after which objects are deleted. */
  expireAfterDays: number;
}

export interface R2BucketArgs {
  accountId: pulumi.Input<string>;
  /** Bucket name. @default `<project>-<stack>-<name>` */
  bucketName?: string;
  /** Location hint (`wnam`, `enam`, `weur`, `eeur`, `apac`, `oc`). */
  location?: pulumi.Input<string>;
  /** Object expiry rules, applied as the bucket's lifecycle configuration. @default [] */
  expiryRules?: R2ExpiryRule[];
  /** Protect the bucket (and keep it when removed from the program). @default false */
  protect?: boolean;
  transform?: {
    bucket?: Transform<cloudflare.R2BucketArgs>;
    lifecycle?: Transform<cloudflare.R2BucketLifecycleArgs>;
  };
}

/** An R2 bucket with optional expiry rules (e.g. a cache whose entries expire). */
export class R2Bucket extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:R2Bucket`;
  readonly bucket: cloudflare.R2Bucket;
  readonly lifecycle?: cloudflare.R2BucketLifecycle;
  /** Bucket name, as an `r2_bucket` binding takes it. */
  readonly bucketName: pulumi.Output<string>;

  constructor(name: string, args: R2BucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super(R2Bucket.TYPE, name, {}, opts);
    const bucketName = args.bucketName ?? stackName(name);
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucketName)) {
      throw new Error(`R2Bucket ${name}: bucket name "${bucketName}" must be 3-63 of a-z, 0-9 and '-'`);
    }
    const rules = args.expiryRules ?? [];
    const ids = new Set<string>();
    for (const rule of rules) {
      if (ids.has(rule.id)) throw new Error(`R2Bucket ${name}: expiry rule id "${rule.id}" is used twice`);
      ids.add(rule.id);
      if (!Number.isInteger(rule.expireAfterDays) || rule.expireAfterDays < 1) {
        throw new Error(
          `R2Bucket ${name}: expiry rule "${rule.id}" expireAfterDays must be a whole number of days >= 1 (got ${rule.expireAfterDays})`,
        );
      }
    }
    this.bucket = new cloudflare.R2Bucket(
      name,
      ...transformed(
        args.transform?.bucket,
        { accountId: args.accountId, name: bucketName, location: args.location },
        statefulOptions(this, args.protect),
      ),
    );
    this.bucketName = this.bucket.name;
    if (rules.length > 0) {
      this.lifecycle = new cloudflare.R2BucketLifecycle(
        `${name}-lifecycle`,
        ...transformed(
          args.transform?.lifecycle,
          {
            accountId: args.accountId,
            bucketName: this.bucket.name,
            rules: rules.map((rule) => ({
              id: rule.id,
              enabled: true,
              conditions: { prefix: rule.prefix ?? "" },
              deleteObjectsTransition: { condition: { type: "Age", maxAge: rule.expireAfterDays * 86_400 } },
            })),
          },
          { parent: this },
        ),
      );
    }
    this.registerOutputs({ bucketName: this.bucketName });
  }
}
