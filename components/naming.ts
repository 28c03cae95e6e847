import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** Longest name every Cloudflare resource kind this package creates accepts (Workers, R2, D1, ...). */
export const MAX_PHYSICAL_NAME = 63;

/**
 * The one place physical names are made: `<project>-<stack>-<name>`, lowercased, anything outside
 * `[a-z0-9-]` turned into `-`, and capped at `maxLength`. A capped name keeps a hash of the full name at
 * its end, so two long names that share a prefix stay distinct.
 */
export function physicalName(
  project: string,
  stack: string,
  name: string,
  maxLength: number = MAX_PHYSICAL_NAME,
): string {
  const full = `${project}-${stack}-${name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-|-$/g, "");
  if (full.length <= maxLength) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 8);
  return `${full.slice(0, maxLength - hash.length - 1).replace(/-$/, "")}-${hash}`;
}

/** `physicalName` for the program's own project and stack. */
export function stackName(name: string, maxLength?: number): string {
  return physicalName(pulumi.getProject(), pulumi.getStack(), name, maxLength);
}
