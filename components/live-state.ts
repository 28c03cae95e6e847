import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { CloudflareApi } from "./cloudflare-api";

/** Where a Worker learns the state Cloudflare holds for it before it plans an upload. */
export interface LiveStateSource {
  /** The script's live Durable Object migration tag, or undefined when it has none (or does not exist). */
  migrationTag(accountId: string, scriptName: string): Promise<string | undefined>;
}

/**
 * Selects the default source: `none`, or the path of a JSON file `{ "<script name>": "<tag>" }`, or (unset)
 * the Cloudflare API.
 */
export const LIVE_TAGS_ENV = "WORKERS_PLATFORM_LIVE_TAGS";

/** For a program that has never been deployed (and for synth without a tags file). */
export const noLiveState: LiveStateSource = { migrationTag: async () => undefined };

/** Live tags from a JSON file mapping script names to tags, as synth takes them. */
export function liveStateFromFile(file: string): LiveStateSource {
  let tags: Record<string, unknown>;
  try {
    tags = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`live tags file ${file}: ${(err as Error).message}`);
  }
  if (tags === null || typeof tags !== "object" || Array.isArray(tags)) {
    throw new Error(`live tags file ${file}: must be a JSON object of script name to migration tag`);
  }
  return {
    migrationTag: async (_accountId, scriptName) => {
      const tag = tags[scriptName];
      if (tag === undefined || tag === null) return undefined;
      if (typeof tag !== "string")
        throw new Error(`live tags file ${file}: tag of "${scriptName}" must be a string`);
      return tag;
    },
  };
}

/**
 * Reads live tags from Cloudflare with the same token the provider uses (`CLOUDFLARE_API_TOKEN`, or the
 * `cloudflare:apiToken` config secret).
 */
export function liveStateFromCloudflare(apiToken?: string): LiveStateSource {
  let api: CloudflareApi | undefined;
  return {
    migrationTag: async (accountId, scriptName) => {
      if (!api) {
        const token =
          apiToken ?? process.env.CLOUDFLARE_API_TOKEN ?? pulumi.runtime.getConfig("cloudflare:apiToken");
        if (!token) {
          throw new Error(
            `reading the live migration tag of Worker "${scriptName}" needs a Cloudflare API token: set CLOUDFLARE_API_TOKEN or the cloudflare:apiToken config secret`,
          );
        }
        api = new CloudflareApi({ apiToken: token, baseUrl: process.env.CLOUDFLARE_API_BASE_URL });
      }
      return api.getScriptMigrationTag(accountId, scriptName);
    },
  };
}

/** The source a Worker uses when none is given, chosen by `WORKERS_PLATFORM_LIVE_TAGS`. */
export function defaultLiveState(): LiveStateSource {
  const setting = process.env[LIVE_TAGS_ENV];
  if (setting === "none") return noLiveState;
  if (setting) return liveStateFromFile(setting);
  return liveStateFromCloudflare();
}
