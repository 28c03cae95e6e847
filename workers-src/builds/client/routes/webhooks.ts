/**
 * Push webhooks from GitHub and GitLab. A delivery is trusted only once its signature (GitHub) or token
 * (GitLab) verifies against the webhook secret of a connection to the repository it names; until then
 * nothing is written, and an unknown repository answers exactly like a bad signature.
 */
import { type Context, Hono } from "hono";
import { openSecret, sealingKey } from "../../lib/secret-box";
import { matchPush } from "../../lib/trigger-match";
import {
  normalizeRepoUrl,
  parseGitHubPush,
  parseGitLabPush,
  verifyGitHubSignature,
  verifyGitLabToken,
  WebhookPayloadError,
} from "../../lib/webhooks";
import type { AppEnv } from "../env";
import { ApiError, ERROR_CODES, ok, ValidationError } from "../envelope";
import { logger } from "../logger";
import {
  commitTitle,
  type QueueBuildRequest,
  queueBuilds,
  recordSuperseded,
  wakeScheduler,
} from "../queue-build";
import { TRIGGER_SELECT, type TriggerRow } from "../records";
import { db } from "../request";
import { parseJsonBytes, readBodyBytes, WEBHOOK_BODY_LIMIT } from "../validation";

type Provider = "github" | "gitlab";

export const webhookRoutes = new Hono<AppEnv>();

webhookRoutes.post("/webhooks/github", (c) => receivePush(c, "github"));
webhookRoutes.post("/webhooks/gitlab", (c) => receivePush(c, "gitlab"));

/** Where each provider names the repository of a delivery, push or not (a ping names it too). */
const REPO_URL_FIELDS: Record<Provider, [string, string][]> = {
  github: [
    ["repository", "clone_url"],
    ["repository", "html_url"],
    ["repository", "ssh_url"],
    ["repository", "git_url"],
  ],
  gitlab: [
    ["project", "git_http_url"],
    ["project", "git_ssh_url"],
    ["project", "web_url"],
    ["repository", "git_http_url"],
    ["repository", "git_ssh_url"],
    ["repository", "homepage"],
  ],
};

/** The repository keys a delivery names, to find the connections whose secret may have signed it. */
export function deliveryRepoKeys(provider: Provider, payload: unknown): string[] {
  const keys = new Set<string>();
  for (const [object, field] of REPO_URL_FIELDS[provider]) {
    const holder = (payload as Record<string, unknown> | null)?.[object];
    const url =
      typeof holder === "object" && holder !== null ? (holder as Record<string, unknown>)[field] : undefined;
    if (typeof url === "string" && url !== "" && url.length <= 2048) keys.add(normalizeRepoUrl(url));
  }
  return [...keys];
}

function rejected(): ApiError {
  return new ApiError(401, [
    {
      code: ERROR_CODES.unauthorized,
      message: "webhook signature does not verify for any connected repository",
    },
  ]);
}

interface Connection {
  id: string;
  account_id: string;
  webhook_secret_sealed: string;
}

async function receivePush(c: Context<AppEnv>, provider: Provider): Promise<Response> {
  const raw = await readBodyBytes(c.req.raw, WEBHOOK_BODY_LIMIT);
  const payload = parseJsonBytes(raw);
  const github = provider === "github";
  const event = c.req.header(github ? "X-GitHub-Event" : "X-Gitlab-Event") ?? null;
  const credential = c.req.header(github ? "X-Hub-Signature-256" : "X-Gitlab-Token") ?? null;
  const repoKeys = deliveryRepoKeys(provider, payload);
  if (credential === null || credential === "" || repoKeys.length === 0) throw rejected();
  const key = await sealingKey(c.env.BUILD_VARIABLES_KEY);

  const outcome = await db(c, async (db) => {
    const candidates = await db.query<Connection>(
      `SELECT id, account_id, webhook_secret_sealed FROM repo_connections
       WHERE repo_key = ANY($1::text[]) AND provider = $2`,
      [repoKeys, provider],
    );
    const verified: Connection[] = [];
    for (const conn of candidates) {
      const secret = await openSecret(key, conn.webhook_secret_sealed, conn.id);
      const valid = github
        ? await verifyGitHubSignature(secret, raw, credential)
        : verifyGitLabToken(secret, credential);
      if (valid) verified.push(conn);
    }
    if (verified.length === 0) throw rejected();
    logger.setTags({ account_id: [...new Set(verified.map((v) => v.account_id))].join(",") });

    let parsed: ReturnType<typeof parseGitHubPush>;
    try {
      parsed = github ? parseGitHubPush(event, payload) : parseGitLabPush(event, payload);
    } catch (err) {
      if (err instanceof WebhookPayloadError) throw new ValidationError([err.message]);
      throw err;
    }
    if (parsed.kind === "ignored")
      return { status: 200 as const, superseded: [], result: { builds: [], ignored: parsed.reason } };
    const push = parsed.push;

    const triggers = await db.query<TriggerRow>(
      `${TRIGGER_SELECT} WHERE t.repo_connection_id = ANY($1::uuid[]) ORDER BY t.created_at, t.id`,
      [verified.map((v) => v.id)],
    );
    const requests: QueueBuildRequest[] = [];
    const skipped: { trigger_id: string; reason: string }[] = [];
    for (const t of triggers) {
      const match = matchPush(
        {
          productionBranch: t.production_branch,
          buildNonProductionBranches: t.build_non_production_branches,
          pathIncludes: t.path_includes,
          pathExcludes: t.path_excludes,
        },
        push,
      );
      if (!match.build) {
        skipped.push({ trigger_id: t.id, reason: match.reason });
        continue;
      }
      requests.push({
        accountId: t.account_id,
        workerId: t.worker_id,
        triggerId: t.id,
        source: "webhook",
        branch: push.branch,
        commitHash: push.commitHash,
        commitMessage: commitTitle(push.headCommitMessage),
        production: match.production,
      });
    }
    const { queued: builds, superseded } = await queueBuilds(db, requests);
    return {
      status: 202 as const,
      superseded,
      result: {
        builds: builds.map((b) => ({ build_uuid: b.build_uuid, trigger_id: b.trigger_id, status: b.status })),
        skipped,
      },
    };
  });

  recordSuperseded(c, outcome.superseded);
  if (outcome.result.builds.length > 0) wakeScheduler(c);
  const r = outcome.result;
  logger.info(
    "ignored" in r
      ? `${provider} delivery (${event ?? "no event"}) ignored: ${r.ignored}`
      : `${provider} push queued ${r.builds.length} builds, skipped ${r.skipped.length} triggers`,
  );
  return c.json(ok(outcome.result), outcome.status);
}
