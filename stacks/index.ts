import { loadStackConfig } from "./config";
import { definePlatform } from "./program";

// Validated before anything is declared: a bad stack config registers no resource.
const config = loadStackConfig();
const { builds, demo } = definePlatform(config);

export const clientScript = builds.client.scriptName;
export const managementScript = builds.management.scriptName;
export const buildCacheBucket = builds.buildCache.bucketName;
export const hyperdriveId = builds.hyperdrive.id;
export const demoScript = demo.worker.scriptName;
