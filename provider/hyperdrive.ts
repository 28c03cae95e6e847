import * as pulumi from "@pulumi/pulumi";
import { Hyperdrive as HyperdriveComponent } from "../components";
import { childOptions } from "./child";

/** A PostgreSQL login: what Hyperdrive connects with, and what `Postgres.appConnection` gives. */
export interface PostgresOrigin {
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  database: pulumi.Input<string>;
  user: pulumi.Input<string>;
  /** Always handled as a secret. */
  password: pulumi.Input<string>;
}

/** How Hyperdrive caches reads. */
export interface HyperdriveCaching {
  /** Default: true. */
  enabled?: boolean;
  /** Seconds a cached read stays fresh. Default: 60. */
  maxAgeSeconds?: number;
  /** Seconds a stale read may be served while it is refreshed. Default: 15. */
  staleWhileRevalidateSeconds?: number;
}

export interface HyperdriveArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Config name. Default: `<project>-<stack>-<name>`. */
  configName?: string;
  /** The database Hyperdrive connects to, e.g. a `Postgres` resource's `appConnection`. */
  origin: pulumi.Input<PostgresOrigin>;
  /** How reads are cached. Default: on, 60 s fresh, 15 s stale-while-revalidate. */
  caching?: HyperdriveCaching;
  /** Most connections Hyperdrive opens to the origin. Default: Cloudflare's. */
  originConnectionLimit?: number;
}

/**
 * A Hyperdrive config in front of a PostgreSQL database: the package's `Hyperdrive` component, created as
 * this resource's child. Not exposed: `transform` (a function, which no schema type can carry).
 */
export class Hyperdrive extends pulumi.ComponentResource {
  /** Config id, as a Worker's `hyperdrives` binding takes it. */
  readonly id: pulumi.Output<string>;

  constructor(name: string, args: HyperdriveArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:Hyperdrive", name, {}, opts);
    const hyperdrive = new HyperdriveComponent(
      name,
      {
        accountId: args.accountId,
        configName: args.configName,
        origin: args.origin,
        caching: args.caching,
        originConnectionLimit: args.originConnectionLimit,
      },
      childOptions(this, opts),
    );
    this.id = hyperdrive.id;
    this.registerOutputs({ id: this.id });
  }
}
