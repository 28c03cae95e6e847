import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { stackName } from "./naming";
import { alsoAfter, PACKAGE, type Transform, transformed } from "./options";

/** A PostgreSQL login Hyperdrive connects with; `Postgres.appConnection` has this shape. */
export interface PostgresOrigin {
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  database: pulumi.Input<string>;
  user: pulumi.Input<string>;
  /** Always handled as a secret. */
  password: pulumi.Input<string>;
}

export interface HyperdriveCaching {
  /** @default true */
  enabled?: boolean;
  /** Seconds a cached read stays fresh. @default 60 */
  maxAgeSeconds?: number;
  /** Seconds a stale read may be served while it is refreshed. @default 15 */
  staleWhileRevalidateSeconds?: number;
}

export interface HyperdriveArgs {
  accountId: pulumi.Input<string>;
  /** Config name. @default `<project>-<stack>-<name>` */
  configName?: string;
  origin: pulumi.Input<PostgresOrigin>;
  caching?: HyperdriveCaching;
  /** Most connections Hyperdrive opens to the origin. */
  originConnectionLimit?: number;
  transform?: { config?: Transform<cloudflare.HyperdriveConfigArgs> };
}

/** A Hyperdrive config in front of a PostgreSQL database. */
export class Hyperdrive extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:Hyperdrive`;
  readonly config: cloudflare.HyperdriveConfig;
  /** Config id, as a `hyperdrive` binding takes it. */
  readonly id: pulumi.Output<string>;

  constructor(name: string, args: HyperdriveArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Hyperdrive.TYPE, name, {}, opts);
    const caching = args.caching ?? {};
    // Each field keeps the secrecy it was given, and the password is always secret: an origin given field
    // by field (as `Postgres.appConnection` is) shows its host, database and user in a diff, while one
    // given as a single secret stays secret whole.
    const field = <K extends keyof PostgresOrigin>(key: K): pulumi.Input<pulumi.Unwrap<PostgresOrigin[K]>> =>
      pulumi.Output.isInstance(args.origin) ||
      typeof (args.origin as PromiseLike<unknown>).then === "function"
        ? pulumi.output(args.origin).apply((o) => o[key])
        : ((args.origin as PostgresOrigin)[key] as pulumi.Input<pulumi.Unwrap<PostgresOrigin[K]>>);
    const origin = {
      scheme: "postgres",
      host: field("host"),
      port: field("port"),
      database: field("database"),
      user: field("user"),
      password: pulumi.secret(field("password")),
    };
    this.config = new cloudflare.HyperdriveConfig(
      name,
      ...transformed(
        args.transform?.config,
        {
          accountId: args.accountId,
          name: args.configName ?? stackName(name),
          origin,
          caching: {
            disabled: caching.enabled === false,
            maxAge: caching.maxAgeSeconds ?? 60,
            staleWhileRevalidate: caching.staleWhileRevalidateSeconds ?? 15,
          },
          originConnectionLimit: args.originConnectionLimit,
        },
        // The config connects to the origin as soon as it exists: whatever the component waits for (the
        // schema's migrations, the role) must come first for the config itself too.
        { parent: this, dependsOn: alsoAfter([], opts) },
      ),
    );
    this.id = this.config.id;
    this.registerOutputs({ id: this.id });
  }
}
