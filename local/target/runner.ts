import { existsSync } from "node:fs";
import path from "node:path";
import type { Miniflare } from "miniflare";
import { programEntryPath } from "../cli-args";
import { projectRoot, REPO_ROOT } from "../stack-file";
import type { LocalBuildRunner } from "./build-runner";
import type { LocalPlan } from "./miniflare-plan";
import { cloudflareApi, type LocalCloudflareApi } from "./services/cloudflare-api";
import { type LocalTargetOptions, need, type TargetContext, type TargetService } from "./services/context";
import { resourceGraph } from "./services/graph";
import { lifecycle } from "./services/lifecycle";
import { ports } from "./services/ports";
import { hyperdrivePools, postgresResources, postgresServer } from "./services/postgres";
import { devToken, endpointsFile, readyReport } from "./services/report";
import { cronLoop, d1Migrations, r2Sweeps } from "./services/schedules";
import { exitSignal, stateFolder } from "./services/state";
import { buildRunners, workerd } from "./services/workerd";

export type { LocalTargetOptions } from "./services/context";
export { processAlive } from "./services/state";

export interface LocalTarget {
  /** Script name → URL of the Worker's own port. */
  workers: Record<string, string>;
  /** Superuser URL of the PostgreSQL the target uses; undefined when the graph needs none. */
  postgres: string | undefined;
  /** Hyperdrive config id → URL of the local pool its bindings connect to. */
  hyperdrives: Record<string, string>;
  /** Where requests for custom domains and routes go, by `Host`. */
  entryUrl: string;
  plan: LocalPlan;
  mf: Miniflare;
  /** Build runners started for the Workers that declared a `build-runner` local service. */
  runners: LocalBuildRunner[];
  /**
   * Resolves once every build runner answers its health check. The target reports ready before that
   * (nothing needs a runner until a build is admitted; a build admitted sooner waits for its runner), and
   * rejects when a runner cannot start.
   */
  runnersReady: Promise<void>;
  /** A development token of the builds platform's REST API (`npm run token`), when the graph has one. */
  devToken?: string;
  /** The builds dashboard's URL, signed in with `devToken` (`#token=` in its fragment), when the graph has one. */
  dashboard?: string;
  /** The Cloudflare API stand-in: its URL, its tokens, the Workers deployed through it. */
  cloudflareApi: Omit<LocalCloudflareApi, "dispatch">;
  /**
   * Restarts workerd on the same ports and data: every Durable Object loses its memory and keeps its
   * storage, as on an eviction or a deploy.
   */
  restartWorkerd(): Promise<void>;
  /** Fires the scheduled handlers whose crons match `date` (the target does this every minute). */
  fireCrons(date: Date): Promise<string[]>;
  /**
   * Deletes the R2 objects that the graph's lifecycle expiry rules expire at `now` (the target does this
   * a minute after start and then every hour); answers the keys deleted per bucket.
   */
  expireR2Objects(now: Date): Promise<{ bucketName: string; deleted: string[] }[]>;
  stop(): Promise<void>;
}

/**
 * The target's services in start order; each stops in reverse. PostgreSQL starts beside the Hyperdrive
 * pools and workerd (the Workers only need the server's port, chosen before), and its resources are
 * applied while workerd still starts; the build runners start once workerd is up; the D1 migrations wait
 * for both workerd and PostgreSQL's resources.
 */
function targetServices(signalStop: () => void): TargetService[] {
  return [
    exitSignal(signalStop),
    stateFolder,
    resourceGraph,
    ports,
    postgresServer,
    { ...hyperdrivePools, after: ["ports"] },
    workerd,
    { ...cloudflareApi, after: ["ports"] },
    { ...buildRunners, after: ["workerd"] },
    { ...postgresResources, after: ["PostgreSQL"] },
    { ...d1Migrations, after: ["workerd", "PostgreSQL resources"] },
    { ...cronLoop, after: ["D1 migrations", "Cloudflare API"] },
    r2Sweeps,
    endpointsFile,
    readyReport,
    devToken,
  ];
}

/**
 * Brings the program's resource graph up on this machine: PostgreSQL (embedded or external) with the
 * graph's roles, database, schema, grants and SQL migrations; every Worker on workerd through Miniflare
 * with its bindings, D1 migrations applied, Hyperdrive pointed at a pool in front of the local
 * PostgreSQL; crons fired on their schedules. Nothing starts when the graph has a resource type the target
 * does not know.
 */
export async function startLocalTarget(options: LocalTargetOptions = {}): Promise<LocalTarget> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  // A missing input is named before anything is created, locked or reset.
  if (options.entry !== undefined) programEntryPath(options.entry);
  if (options.configFile !== undefined && !existsSync(options.configFile)) {
    throw new Error(`the stack config file ${options.configFile} does not exist`);
  }
  // The state lives in the program's project (`.local` beside its Pulumi.yaml) unless told otherwise.
  const project =
    options.entry === undefined ? REPO_ROOT : projectRoot(path.dirname(path.resolve(options.entry)));
  const stateDir = path.resolve(options.stateDir ?? path.join(project, ".local"));
  const ctx: TargetContext = { options, log, stateDir, startedAt: Date.now() };
  const services = lifecycle(
    targetServices(() => services.signalStop()),
    { onStopError: (service, err) => log(`could not stop ${service}: ${(err as Error).message}`) },
  );
  await services.start(ctx);
  const mf = need(ctx, "mf");
  const mfOptions = need(ctx, "mfOptions");
  const runners = need(ctx, "runners");
  return {
    workers: need(ctx, "workers"),
    postgres: need(ctx, "postgresUrl"),
    hyperdrives: Object.fromEntries(need(ctx, "hyperdrives").urls),
    entryUrl: need(ctx, "entryUrl"),
    plan: need(ctx, "plan"),
    mf,
    runners: runners.runners,
    runnersReady: runners.ready,
    devToken: need(ctx, "devToken"),
    dashboard: need(ctx, "dashboard"),
    cloudflareApi: need(ctx, "cloudflare"),
    fireCrons: need(ctx, "fireCrons"),
    expireR2Objects: need(ctx, "expireR2Objects"),
    restartWorkerd: async () => {
      await mf.setOptions(mfOptions);
    },
    stop: () => services.stop(),
  };
}
