/**
 * What a build deployed, read from wrangler's output file (`WRANGLER_OUTPUT_FILE_PATH`): wrangler appends
 * one JSON record a line; a `deploy` record names the deployed version and its routes (`targets`), a
 * `version-upload` record the preview URL of the uploaded version. Pure; shared by the runner (which reads
 * the file) and the Build Management Worker (which checks the URLs again before storing them).
 */

/** Longest URL the platform stores. */
export const MAX_DEPLOY_URL_LENGTH = 2048;
/** The most of wrangler's output file the runner reads; the rest is ignored. */
export const MAX_WRANGLER_OUTPUT_BYTES = 1024 * 1024;

/** What the output file told: each field absent when no record named it. */
export interface DeployOutput {
  deploymentUrl?: string;
  versionId?: string;
  previewUrl?: string;
}

/** An absolute http(s) URL of at most `MAX_DEPLOY_URL_LENGTH` characters, with no spaces or control characters. */
export function isDeployUrl(value: unknown): value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_DEPLOY_URL_LENGTH) return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\s\u0000-\u001f\u007f]/.test(value)) return false;
  if (!/^https?:\/\//i.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

const VERSION_ID = /^[A-Za-z0-9-]{1,64}$/;

function record(line: string): Record<string, unknown> | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads wrangler's NDJSON output: malformed lines and other record types are skipped, text past
 * `MAX_WRANGLER_OUTPUT_BYTES` (counted in UTF-16 units, a bound either way) is ignored, and the last
 * record of each kind that names one wins (a command that deploys twice reports its last deploy).
 * `deploymentUrl` is the first http(s) entry of a `deploy` record's `targets`; `previewUrl` a
 * `version-upload` record's `preview_url`, or its `preview_alias_url` when it has none.
 */
export function parseWranglerOutput(text: string): DeployOutput {
  const out: DeployOutput = {};
  const capped = text.length > MAX_WRANGLER_OUTPUT_BYTES ? text.slice(0, MAX_WRANGLER_OUTPUT_BYTES) : text;
  for (const line of capped.split("\n")) {
    const r = record(line);
    if (!r) continue;
    if (r.type === "deploy") {
      const targets = Array.isArray(r.targets) ? r.targets : [];
      const url = targets.find(isDeployUrl);
      if (url !== undefined) out.deploymentUrl = url;
      if (typeof r.version_id === "string" && VERSION_ID.test(r.version_id)) out.versionId = r.version_id;
    } else if (r.type === "version-upload") {
      const url = isDeployUrl(r.preview_url)
        ? r.preview_url
        : isDeployUrl(r.preview_alias_url)
          ? r.preview_alias_url
          : undefined;
      if (url !== undefined) out.previewUrl = url;
    }
  }
  return out;
}
