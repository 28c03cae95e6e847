/**
 * The wire contract between the Build Management Worker and a build runner (the HTTP runner service or a
 * container). Both sides validate what they receive with these schemas.
 *
 * management → runner
 *   GET    {runner}/health                                                   → 200 | 503 RunnerHealth
 *   POST   {runner}/builds            Authorization: Bearer <runner token>   body: StartBuildRequest → 202
 *                                                                           (503: busy or shutting down)
 *   DELETE {runner}/builds/:uuid      Authorization: Bearer <runner token>   → 202 (kills the sandbox)
 *
 * runner → management (callback_url, Authorization: Bearer <the build's callback token>)
 *   POST {callback}/api/builds/:uuid/status   body: StatusCallback (`running` again every heartbeat_seconds)
 *   POST {callback}/api/builds/:uuid/logs     body: LogBatch
 *   GET  {callback}/api/builds/:uuid/cache    → 200 tar.gz bytes | 404 (no entry)
 *   PUT  {callback}/api/builds/:uuid/cache    body: tar.gz bytes
 */
// zod's functional "mini" build: the Build Management Worker validates only these messages, and the full
// build would make up most of its script (a larger script is a slower start).
import * as z from "zod/mini";
import { isDeployUrl, MAX_DEPLOY_URL_LENGTH } from "./deploy-output";

export const BUILD_STATUSES = ["queued", "initializing", "running", "stopped"] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

export const BUILD_OUTCOMES = ["success", "failed", "cancelled", "skipped", "terminated"] as const;
export type BuildOutcome = (typeof BUILD_OUTCOMES)[number];

/** Why a build failed, as users are told. */
export const FAILURE_CLASSES = [
  "initialization",
  "clone",
  "install",
  "build_command",
  "deploy_command",
  "timeout",
  "health_check",
  /** The build went over one of its sandbox's limits (memory, processes, CPU time, disk); its log names it. */
  "resource_limit",
  "internal",
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** Largest log line the platform stores; longer lines are cut. */
export const MAX_LOG_LINE_BYTES = 8 * 1024;
/** Largest batch a runner sends in one callback. */
export const MAX_LOG_BATCH_LINES = 5000;

export const startBuildRequestSchema = z.strictObject({
  build_uuid: z.uuid(),
  /** Base URL of the callback API; absent when the runner was configured with one. */
  callback_url: z.optional(z.url()),
  callback_token: z.string().check(z.minLength(32)),
  repo_url: z.string().check(z.minLength(1)),
  commit_hash: z.nullable(z.string().check(z.regex(/^[0-9a-f]{7,64}$/))),
  branch: z.string().check(z.minLength(1)),
  /** Folder inside the repository that the commands run in; "" is the root. */
  root_directory: z.string(),
  build_command: z.nullable(z.string()),
  deploy_command: z.string(),
  /** Build variables, text and secret; secret values are masked in every log line. */
  env: z.record(z.string(), z.string()),
  secret_names: z.array(z.string()),
  cache_enabled: z.boolean(),
  timeout_seconds: z.int().check(z.positive()),
  /**
   * While the build runs, the runner reports `running` again at this interval (a heartbeat); a build
   * that stops reporting is failed with the failure class `health_check`.
   */
  heartbeat_seconds: z.optional(z.int().check(z.positive())),
});
export type StartBuildRequest = z.infer<typeof startBuildRequestSchema>;

/** A URL a build deployed to: http(s) only, at most `MAX_DEPLOY_URL_LENGTH` characters. */
const deployUrlSchema = z.string().check(z.maxLength(MAX_DEPLOY_URL_LENGTH), z.refine(isDeployUrl));

export const statusCallbackSchema = z.discriminatedUnion("status", [
  z.strictObject({
    status: z.literal("running"),
    /** The commit the runner checked out, once it has (a build asked for a branch learns its commit). */
    commit_hash: z.optional(z.string().check(z.regex(/^[0-9a-f]{40,64}$/))),
  }),
  z.strictObject({
    status: z.literal("stopped"),
    outcome: z.enum(["success", "failed", "cancelled", "terminated"]),
    failure_class: z.optional(z.enum(FAILURE_CLASSES)),
    /** Sequence number of the last log batch the runner sent (0: none); readers are done once all arrived. */
    last_log_seq: z.int().check(z.minimum(0)),
    /** Where the production deploy went (from wrangler's output file), when it told. */
    deployment_url: z.optional(deployUrlSchema),
    /** The preview URL of a non-production version upload (from wrangler's output file), when it told. */
    preview_url: z.optional(deployUrlSchema),
  }),
]);
export type StatusCallback = z.infer<typeof statusCallbackSchema>;

export const logLineSchema = z.strictObject({
  /** Milliseconds since the epoch. */
  ts: z.int().check(z.minimum(0)),
  line: z.string(),
});
export type LogLine = z.infer<typeof logLineSchema>;

export const logBatchSchema = z.strictObject({
  /** 1, 2, 3, ... per build; a resent batch keeps its number and is stored once. */
  seq: z.int().check(z.minimum(1)),
  lines: z.array(logLineSchema).check(z.maxLength(MAX_LOG_BATCH_LINES)),
});
export type LogBatch = z.infer<typeof logBatchSchema>;

/** What a runner's `GET /health` answers (503 while it shuts down): the platform picks runners with it. */
export const runnerHealthSchema = z.object({
  ok: z.boolean(),
  /** Builds running now. */
  active: z.int().check(z.minimum(0)),
  /** Builds it runs at once. */
  capacity: z.int().check(z.minimum(0)),
  /** Shutting down: it takes no new builds. */
  draining: z.boolean(),
  /** Every build runs in a sandbox of its own. */
  isolated: z.boolean(),
});
export type RunnerHealth = z.infer<typeof runnerHealthSchema>;
