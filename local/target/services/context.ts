import type { Miniflare } from "miniflare";
import type { CapturedResource } from "../../graph";
import type { LocalBuildRunners } from "../build-runner";
import type { HyperdrivePools } from "../hyperdrive/pool";
import type { LocalPlan } from "../miniflare-plan";
import type { LocalCloudflareApi } from "./cloudflare-api";
import type { Service } from "./lifecycle";

export interface LocalTargetOptions {
  /** @default "local" */
  stack?: string;
  configFile?: string;
  /** Entry module of another Pulumi program (see `captureStack`). */
  entry?: string;
  /** The program as a function (tests use fixture programs). @default the project's entry module */
  program?: () => unknown;
  /** Where data, the lock and endpoints.json live. @default `.local` in the program's project */
  stateDir?: string;
  /** Start from empty data. @default false */
  reset?: boolean;
  /** Superuser URL of an external PostgreSQL instead of the embedded one. */
  databaseUrl?: string;
  log?: (line: string) => void;
}

/** What the local target's services provide, each set by the service that starts it. */
export interface Provided {
  /** The program's resource graph (resource graph). */
  resources: CapturedResource[];
  plan: LocalPlan;
  /**
   * Where PostgreSQL listens, known before it accepts connections (ports); undefined when the graph has
   * no PostgreSQL resources and no Hyperdrive configs, and so no server is started.
   */
  postgresAddress: { host: string; port: number } | undefined;
  /** Script name → port of the Worker's own socket, kept across `restartWorkerd` (ports). */
  workerPorts: Map<string, number>;
  /** The build runners, their ports chosen, started once workerd is up (ports, build runners). */
  runners: LocalBuildRunners;
  /** Superuser URL, once the server accepts connections (PostgreSQL); undefined when none is needed. */
  postgresUrl: string | undefined;
  /** (Hyperdrive pools.) */
  hyperdrives: HyperdrivePools;
  /** (workerd.) */
  mf: Miniflare;
  /** The options `mf` was started with, to restart it with (workerd). */
  mfOptions: ConstructorParameters<typeof Miniflare>[0];
  /** Where requests for custom domains and routes go, by `Host` (workerd). */
  entryUrl: string;
  /** (cron loop.) */
  fireCrons: (date: Date) => Promise<string[]>;
  /** (R2 lifecycle sweeps.) */
  expireR2Objects: (now: Date) => Promise<{ bucketName: string; deleted: string[] }[]>;
  /** Script name → URL of the Worker's own port (endpoints file). */
  workers: Record<string, string>;
  /** (development token.) */
  devToken: string | undefined;
  /** The builds dashboard's URL, signed in with `devToken`, when the graph has a REST API that takes it. */
  dashboard: string | undefined;
  /** The port of the Cloudflare API stand-in, chosen before the build runners are planned (ports). */
  cloudflareApiPort: number;
  /** (Cloudflare API.) */
  cloudflare: LocalCloudflareApi;
  /** Rewrites the endpoints file when a Worker is deployed or removed through the stand-in (endpoints file). */
  onDeployedChange: () => void;
}

/** What every service of the local target gets: the target's options, and what earlier services provided. */
export interface TargetContext extends Partial<Provided> {
  readonly options: LocalTargetOptions;
  readonly log: (line: string) => void;
  /** Absolute; data, the lock and endpoints.json live there. */
  readonly stateDir: string;
  /** When the start began (for "ready in"). */
  readonly startedAt: number;
}

export type TargetService = Service<TargetContext>;

/** What an earlier service provided; throws when none did (a service placed before its provider). */
export function need<K extends keyof Provided>(ctx: TargetContext, key: K): Provided[K] {
  if (!(key in ctx)) throw new Error(`no service provided ${key} before it was needed`);
  return ctx[key] as Provided[K];
}
