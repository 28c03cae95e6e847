/**
 * Push webhooks from GitHub and GitLab. A delivery is trusted only once its signature (GitHub) or token
 * (GitLab) verifies against the webhook secret of a connection to the repository it names; until then
 * nothing is written, and an unknown repository answers exactly like a bad signature.
 */
import { type Context, Hono } from "hono";
import { sha256Hex } from "../../lib/digest";
import { openSecret, sealingKey } from "../../lib/secret-box";
import { matchPush } from "../../lib/trigger-match";
import {
  deliveryIdOf,
  deliveryPayload,
  normalizeRepoUrl,
  parseGitHubPush,
  parseGitLabPush,
  verifyGitHubSignature,
  verifyGitLabToken,
  WebhookPayloadError,
} from "../../lib/webhooks";
import type { Db } from "../../shared/db";
import type { AppEnv } from "../env";
import { ApiError, ConflictError, ERROR_CODES, ok, ValidationError } from "../envelope";
import { logger } from "../logger";
import {
  commitTitle,
  type QueueBuildRequest,
  type QueuedBuilds,
  queueBuildsInTransaction,
  recordSuperseded,
  reportStatuses,
  wakeScheduler,
} from "../queue-build";
import { TRIGGER_SELECT, type TriggerRow } from "../records";
import { db } from "../request";
import { readBodyBytes, WEBHOOK_BODY_LIMIT } from "../validation";

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

/** What a delivery was answered, kept so that a redelivery is answered the same. */
interface Answer {
  status: 200 | 202;
  result: { builds: { build_uuid: string; trigger_id: string | null; status: string }[] } & (
    | { ignored: string }
    | { skipped: { trigger_id: string; reason: string }[] }
  );
}

/** How long a delivery id is remembered: past GitHub's 3-day and GitHub Enterprise Server's 7-day windows. */
export const DELIVERY_RETENTION_DAYS = 8;

async function receivePush(c: Context<AppEnv>, provider: Provider): Promise<Response> {
  const raw = await readBodyBytes(c.req.raw, WEBHOOK_BODY_LIMIT);
  const github = provider === "github";
  let payload: unknown;
  let deliveryId: string | null;
  try {
    payload = deliveryPayload(c.req.header("Content-Type") ?? null, raw);
    deliveryId = deliveryIdOf(provider, c.req.raw.headers);
  } catch (err) {
    if (err instanceof WebhookPayloadError) throw new ValidationError([err.message]);
    throw err;
  }
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

    return db.transaction(async (tx) => {
      const delivery =
        deliveryId === null
          ? null
          : {
              id: deliveryId,
              connections: verified
                .map((v) => v.id)
                .sort()
                .join(","),
              bodySha256: await sha256Hex(raw),
            };
      if (delivery !== null) {
        const first = await claimDelivery(tx, provider, delivery);
        if (first !== null)
          return { replayed: true as const, superseded: [], queued: [], accounts: [], answer: first };
      }
      const { answer, superseded, queued, accounts } = await handlePush(
        tx,
        provider,
        event,
        payload,
        verified,
      );
      if (delivery !== null) {
        await tx.query(
          `UPDATE webhook_deliveries SET response_status = $4, response = $5
            WHERE provider = $1 AND delivery_id = $2 AND connections = $3`,
          [provider, delivery.id, delivery.connections, answer.status, JSON.stringify(answer.result)],
        );
      }
      return { replayed: false as const, superseded, queued, accounts, answer };
    });
  });

  const { answer } = outcome;
  if (outcome.replayed) {
    logger.info(
      `${provider} delivery ${deliveryId} received again: answered as the first time, nothing started`,
    );
    c.header("X-Delivery-Replayed", "true");
    return c.json(ok(answer.result), answer.status);
  }
  recordSuperseded(c, outcome.superseded);
  if (outcome.accounts.length > 0) wakeScheduler(c, outcome.accounts);
  reportStatuses(c, outcome.queued, outcome.superseded);
  const r = answer.result;
  logger.info(
    "ignored" in r
      ? `${provider} delivery (${event ?? "no event"}) ignored: ${r.ignored}`
      : `${provider} push queued ${r.builds.length} builds, skipped ${r.skipped.length} triggers`,
  );
  return c.json(ok(answer.result), answer.status);
}

/**
 * Records a delivery as handled, or returns what it was answered when it already was. Concurrent
 * copies of one delivery wait on the row's key until the first commits, so only one of them queues
 * builds. Rows past the retention go as new deliveries arrive.
 */
async function claimDelivery(
  tx: Db,
  provider: Provider,
  delivery: { id: string; connections: string; bodySha256: string },
): Promise<Answer | null> {
  await tx.query(
    `DELETE FROM webhook_deliveries WHERE ctid IN (
       SELECT ctid FROM webhook_deliveries
        WHERE received_at < clock_timestamp() - make_interval(days => $1) LIMIT 100)`,
    [DELIVERY_RETENTION_DAYS],
  );
  const claimed = await tx.query(
    `INSERT INTO webhook_deliveries (provider, delivery_id, connections, body_sha256)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1`,
    [provider, delivery.id, delivery.connections, delivery.bodySha256],
  );
  if (claimed.length > 0) return null;
  const [seen] = await tx.query<{
    body_sha256: string;
    response_status: 200 | 202;
    response: Answer["result"];
  }>(
    `SELECT body_sha256, response_status, response FROM webhook_deliveries
      WHERE provider = $1 AND delivery_id = $2 AND connections = $3`,
    [provider, delivery.id, delivery.connections],
  );
  if (seen === undefined) throw new Error(`delivery ${delivery.id} is neither new nor recorded`);
  if (seen.body_sha256 !== delivery.bodySha256) {
    throw new ConflictError(
      `delivery ${delivery.id} was already received with a different body; a redelivery repeats the first body exactly`,
    );
  }
  return { status: seen.response_status, result: seen.response };
}

/** Matches a verified delivery against the triggers of its connections and queues what it asks for. */
async function handlePush(
  tx: Db,
  provider: Provider,
  event: string | null,
  payload: unknown,
  verified: Connection[],
): Promise<{ answer: Answer } & QueuedBuilds & { accounts: string[] }> {
  let parsed: ReturnType<typeof parseGitHubPush>;
  try {
    parsed = provider === "github" ? parseGitHubPush(event, payload) : parseGitLabPush(event, payload);
  } catch (err) {
    if (err instanceof WebhookPayloadError) throw new ValidationError([err.message]);
    throw err;
  }
  if (parsed.kind === "ignored")
    return {
      superseded: [],
      queued: [],
      accounts: [],
      answer: { status: 200, result: { builds: [], ignored: parsed.reason } },
    };
  const push = parsed.push;

  const triggers = await tx.query<TriggerRow>(
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
  const { queued: builds, superseded } = await queueBuildsInTransaction(tx, requests);
  return {
    superseded,
    queued: builds,
    accounts: builds.map((b) => b.account_id),
    answer: {
      status: 202,
      result: {
        builds: builds.map((b) => ({ build_uuid: b.build_uuid, trigger_id: b.trigger_id, status: b.status })),
        skipped,
      },
    },
  };
}
