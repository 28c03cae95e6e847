import * as pulumi from "@pulumi/pulumi";
import { Postgres as PostgresComponent } from "../components";
import { childOptions } from "./child";
import type { SslMode } from "./enums";
import type { PostgresOrigin } from "./hyperdrive";

export interface PostgresArgs {
  /** Server the admin connects to. */
  host: pulumi.Input<string>;
  /** Port of `host`. Default: 5432. */
  port?: number;
  /** Role the component creates things as; it owns the database, the schema and the tables. */
  adminUser: pulumi.Input<string>;
  /** Password of `adminUser`, always handled as a secret. */
  adminPassword: pulumi.Input<string>;
  /** Database the admin connects to before the application's database exists. Default: "postgres". */
  adminDatabase?: string;
  /** TLS mode of the admin's connections. Default: `require`. */
  sslMode?: SslMode;
  /** The application's database, created here: a lowercase SQL identifier. */
  database: string;
  /** Schema that holds the application's tables: a lowercase SQL identifier. */
  schema: string;
  /** Login role the application connects as; its password is generated and kept secret. */
  appRole: string;
  /** Extensions created in the database. Default: none. */
  extensions?: string[];
  /**
   * Folder of numbered `.sql` migrations, applied at deploy as the admin. A relative path is resolved
   * against the provider's working directory (the one `pulumi` runs in).
   */
  migrationsDir?: string;
  /** Migration files allowed to destroy data (DROP TABLE, TRUNCATE, ...). Default: none. */
  allowDataLoss?: string[];
  /** Protect the database and schema, and keep them when removed from the program. Default: false. */
  protect?: boolean;
}

/**
 * An application's PostgreSQL footprint on an existing server (database, schema, a least-privilege login
 * role with a generated password, extensions, SQL migrations): the package's `Postgres` component, created
 * as this resource's child. Not exposed: `transform` (functions, which no schema type can carry) and the
 * `@pulumi/postgresql` resources the component holds (the provider passes names and ids, not resources).
 */
export class Postgres extends pulumi.ComponentResource {
  /** Generated password of the application role (secret). */
  readonly appPassword: pulumi.Output<string>;
  /**
   * How the application connects (as the application role, to the database), in the shape Hyperdrive's
   * `origin` takes. Only the password is secret, so that what takes it can show where it points.
   */
  readonly appConnection: PostgresOrigin;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:Postgres", name, {}, opts);
    const postgres = new PostgresComponent(
      name,
      {
        host: args.host,
        port: args.port,
        adminUser: args.adminUser,
        adminPassword: args.adminPassword,
        adminDatabase: args.adminDatabase,
        sslMode: args.sslMode,
        database: args.database,
        schema: args.schema,
        appRole: args.appRole,
        extensions: args.extensions,
        migrationsDir: args.migrationsDir,
        allowDataLoss: args.allowDataLoss,
        protect: args.protect,
      },
      childOptions(this, opts),
    );
    this.appPassword = postgres.appPassword;
    this.appConnection = postgres.appConnection;
    this.registerOutputs({ appPassword: this.appPassword, appConnection: this.appConnection });
  }
}
