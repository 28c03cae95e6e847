import type { WorkerVersion } from "../local/cloudflare-api/types";

/**
 * A stored version of a Worker for the Cloudflare API stand-in's tests: a plain ES-module Worker with no
 * bindings, Durable Objects or annotations, previewable, with what a test names.
 */
export function workerVersion(
  fields: Pick<WorkerVersion, "id" | "accountId" | "scriptName" | "modules"> & Partial<WorkerVersion>,
): WorkerVersion {
  return {
    number: 1,
    createdOn: "2026-01-01T00:00:00.000Z",
    mainModule: "index.js",
    compatibilityDate: "2025-06-01",
    compatibilityFlags: [],
    bindings: [],
    durableObjectClasses: [],
    migrationTag: undefined,
    annotations: {},
    hasPreview: true,
    ...fields,
  };
}
