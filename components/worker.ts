import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { BINDING_KINDS, type BindingArgs, type BindingKind, type BindingLiteral } from "./bindings";
import { bundleWorker, type WorkerBundle } from "./bundle";
import { cronProblem } from "./cron";
import { type DurableObjectMigration, planDurableObjectMigrations } from "./durable-objects";
import { defaultLiveState, type LiveStateSource } from "./live-state";
import { LocalService, type LocalServiceDeclaration } from "./local-service";
import { stackName } from "./naming";
import { alsoAfter, PACKAGE, type Transform, transformed } from "./options";

export type { BucketRef, DurableObjectBinding, IdRef, QueueRef, ScriptRef, ServiceBinding } from "./bindings";

export interface QueueConsumer {
  queue: { id: pulumi.Input<string> };
  /** @default 10 */
  batchSize?: number;
  /** @default 3 */
  maxRetries?: number;
  /** @default 5000 */
  maxWaitTimeMs?: number;
  /** Queue name that receives messages that ran out of retries. */
  deadLetterQueue?: pulumi.Input<string>;
}

export interface WorkerObservability {
  enabled: boolean;
  /** @default 1 */
  headSamplingRate?: number;
  /** @default true */
  invocationLogs?: boolean;
}

/**
 * A Worker's args. Its bindings are declared by kind (`kvNamespaces`, `d1Databases`, `r2Buckets`,
 * `hyperdrives`, `durableObjects`, `services`, `queues`, `analyticsEngineDatasets`, `vars`, `secrets`,
 * `ai`: binding name → what the kind takes), one field per kind of `components/bindings/`.
 */
export interface WorkerArgs extends BindingArgs {
  accountId: pulumi.Input<string>;
  /** Script name. @default `<project>-<stack>-<name>` */
  scriptName?: string;
  /** TypeScript or JavaScript entry module, bundled with esbuild at program time. */
  entry: string;
  compatibilityDate: string;
  /** @default [] */
  compatibilityFlags?: string[];
  /** Adds the `nodejs_compat` flag and resolves Node built-ins to workerd's `node:` modules. @default false */
  nodejsCompat?: boolean;
  /** Compile-time constants for the bundle (esbuild `define`). */
  define?: Record<string, string>;
  /** Append-only, tagged history of the Worker's Durable Object migrations. @default [] */
  durableObjectMigrations?: DurableObjectMigration[];
  /** @default "off" */
  placement?: "smart" | "off";
  observability?: WorkerObservability;
  /** Cron schedules. @default [] */
  crons?: string[];
  customDomains?: { hostname: pulumi.Input<string>; zoneId: pulumi.Input<string> }[];
  routes?: { pattern: pulumi.Input<string>; zoneId: pulumi.Input<string> }[];
  /** Serve on `<script>.<subdomain>.workers.dev`. @default true */
  workersDev?: boolean;
  queueConsumers?: QueueConsumer[];
  /**
   * What the Worker needs beside it when the program runs on the local target (build runners, development
   * tokens of its API): declared here, read by the target from the graph, inert on Cloudflare.
   */
  localServices?: LocalServiceDeclaration[];
  /** Where the live migration tag is read. @default chosen by `WORKERS_PLATFORM_LIVE_TAGS` (see live-state.ts) */
  liveState?: LiveStateSource;
  /** Adjusts the args of the underlying resources; `customDomain`, `route` and `queueConsumer` apply to each. */
  transform?: {
    script?: Transform<cloudflare.WorkersScriptArgs>;
    subdomain?: Transform<cloudflare.WorkersScriptSubdomainArgs>;
    crons?: Transform<cloudflare.WorkersCronTriggerArgs>;
    customDomain?: Transform<cloudflare.WorkersCustomDomainArgs>;
    route?: Transform<cloudflare.WorkersRouteArgs>;
    queueConsumer?: Transform<cloudflare.QueueConsumerArgs>;
  };
}

const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A Cloudflare Worker: its entry bundled at program time and uploaded as one `WorkersScript`, with
 * bindings, Durable Object migrations planned against the live tag, placement, observability, crons,
 * domains, routes, the workers.dev switch and queue consumers.
 */
export class Worker extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:Worker`;
  readonly script: cloudflare.WorkersScript;
  readonly scriptName: pulumi.Output<string>;
  /** SHA-256 of the uploaded bundle. */
  readonly bundleSha256: pulumi.Output<string>;
  /** The migration this upload carries, if any (as sent to Cloudflare). */
  readonly migrations: pulumi.Output<cloudflare.types.input.WorkersScriptMigrations | undefined>;

  constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Worker.TYPE, name, {}, opts);
    const scriptName = args.scriptName ?? stackName(name);
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(scriptName)) {
      throw new Error(`Worker ${name}: script name "${scriptName}" must be 1-63 of a-z, 0-9, '-' and '_'`);
    }
    const { bindings, dependsOn } = collectBindings(name, args);
    for (const cron of args.crons ?? []) {
      const problem = cronProblem(cron);
      if (problem) throw new Error(`Worker ${name}: ${problem}`);
    }

    const flags = [
      ...new Set([...(args.compatibilityFlags ?? []), ...(args.nodejsCompat ? ["nodejs_compat"] : [])]),
    ];
    const bundle: pulumi.Output<WorkerBundle> = pulumi.output(
      bundleWorker(args.entry, { nodejsCompat: args.nodejsCompat ?? false, define: args.define }),
    );
    const history = args.durableObjectMigrations ?? [];
    const ownClasses = Object.values(args.durableObjects ?? {})
      .filter((b) => b.script === undefined)
      .map((b) => b.className);
    const liveState = args.liveState ?? defaultLiveState();
    const plan = pulumi.all([args.accountId, bundle]).apply(async ([accountId, b]) => {
      // A Worker without Durable Objects has nothing to plan, and need not ask Cloudflare anything.
      if (history.length === 0 && ownClasses.length === 0) return undefined;
      const liveTag = await liveState.migrationTag(accountId, scriptName);
      return planDurableObjectMigrations({
        scriptName,
        history,
        liveTag,
        boundClasses: ownClasses,
        exportedClasses: b.exports,
      });
    });
    this.migrations = plan.apply((p) => p?.upload);

    const observability = args.observability;
    this.script = new cloudflare.WorkersScript(
      name,
      ...transformed(
        args.transform?.script,
        {
          accountId: args.accountId,
          scriptName,
          mainModule: "index.js",
          content: bundle.content,
          compatibilityDate: args.compatibilityDate,
          compatibilityFlags: flags,
          bindings,
          migrations: this.migrations,
          placement: args.placement === "smart" ? { mode: "smart" } : undefined,
          observability: observability && {
            enabled: observability.enabled,
            headSamplingRate: observability.headSamplingRate ?? 1,
            logs: {
              enabled: observability.enabled,
              invocationLogs: observability.invocationLogs ?? true,
              headSamplingRate: observability.headSamplingRate ?? 1,
            },
          },
        },
        // The script serves as soon as it is uploaded: what the Worker waits for (a schema its code reads)
        // must come first for the script itself too.
        { parent: this, dependsOn: alsoAfter(dependsOn, opts) },
      ),
    );
    this.scriptName = this.script.scriptName;
    this.bundleSha256 = bundle.sha256;

    // A fresh options object per child, so a transform that changes one child's options changes no other.
    const after = (): pulumi.CustomResourceOptions => ({ parent: this, dependsOn: [this.script] });
    const transform = args.transform ?? {};
    new cloudflare.WorkersScriptSubdomain(
      `${name}-subdomain`,
      ...transformed(
        transform.subdomain,
        {
          accountId: args.accountId,
          scriptName: this.scriptName,
          enabled: args.workersDev ?? true,
          previewsEnabled: false,
        },
        after(),
      ),
    );
    if (args.crons && args.crons.length > 0) {
      new cloudflare.WorkersCronTrigger(
        `${name}-crons`,
        ...transformed(
          transform.crons,
          {
            accountId: args.accountId,
            scriptName: this.scriptName,
            schedules: args.crons.map((cron) => ({ cron })),
          },
          after(),
        ),
      );
    }
    (args.customDomains ?? []).forEach((domain, i) => {
      new cloudflare.WorkersCustomDomain(
        `${name}-domain-${i}`,
        ...transformed(
          transform.customDomain,
          {
            accountId: args.accountId,
            hostname: domain.hostname,
            service: this.scriptName,
            zoneId: domain.zoneId,
          },
          after(),
        ),
      );
    });
    (args.routes ?? []).forEach((route, i) => {
      new cloudflare.WorkersRoute(
        `${name}-route-${i}`,
        ...transformed(
          transform.route,
          { zoneId: route.zoneId, pattern: route.pattern, script: this.scriptName },
          after(),
        ),
      );
    });
    (args.queueConsumers ?? []).forEach((consumer, i) => {
      new cloudflare.QueueConsumer(
        `${name}-consumer-${i}`,
        ...transformed(
          transform.queueConsumer,
          {
            accountId: args.accountId,
            queueId: consumer.queue.id,
            scriptName: this.scriptName,
            type: "worker",
            deadLetterQueue: consumer.deadLetterQueue,
            settings: {
              batchSize: consumer.batchSize ?? 10,
              maxRetries: consumer.maxRetries ?? 3,
              maxWaitTimeMs: consumer.maxWaitTimeMs ?? 5000,
            },
          },
          after(),
        ),
      );
    });
    for (const service of args.localServices ?? []) {
      new LocalService(
        `${name}-${service.kind}`,
        { ...service, scriptName: this.scriptName },
        { parent: this },
      );
    }
    this.registerOutputs({ scriptName: this.scriptName, bundleSha256: this.bundleSha256 });
  }
}

/** Every binding the args declare, kind by kind in the registry's order, and what they must wait for. */
function collectBindings(
  name: string,
  args: WorkerArgs,
): { bindings: BindingLiteral[]; dependsOn: pulumi.Resource[] } {
  const bindings: BindingLiteral[] = [];
  const dependsOn: pulumi.Resource[] = [];
  const seen = new Set<string>();
  for (const kind of BINDING_KINDS as readonly BindingKind[]) {
    const declared = (args as unknown as Record<string, Record<string, unknown> | undefined>)[kind.field];
    for (const [binding, arg] of Object.entries(declared ?? {})) {
      if (!BINDING_NAME.test(binding)) {
        throw new Error(`Worker ${name}: binding name "${binding}" must be a JavaScript identifier`);
      }
      if (seen.has(binding)) throw new Error(`Worker ${name}: binding name "${binding}" is used twice`);
      seen.add(binding);
      const literal = kind.literal(binding, arg);
      bindings.push(literal.binding);
      dependsOn.push(...(literal.dependsOn ?? []));
    }
  }
  return { bindings, dependsOn };
}
