import { type BucketRef, bindingKind, bucketOf } from "./kind";

/** R2: `r2Buckets: { NAME: r2Bucket | bucket name }`. */
export const r2Buckets = bindingKind({
  type: "r2_bucket",
  field: "r2Buckets",
  literal: (name, ref: BucketRef) => ({ binding: { type: "r2_bucket", name, bucketName: bucketOf(ref) } }),
  resource: { type: "cloudflare:index/r2Bucket:R2Bucket" },
  local: { option: "r2Buckets", value: (b, plan) => plan.str(b, "bucketName") },
});
