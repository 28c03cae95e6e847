import * as pulumi from "@pulumi/pulumi";
import { D1Database as D1DatabaseComponent } from "../components";
import { childOptions } from "./child";

export interface D1DatabaseArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Database name. Default: `<project>-<stack>-<name>`. */
  databaseName?: string;
  /**
   * Folder of `.sql` migrations applied at deploy and recorded in `d1_migrations` as wrangler does. A
   * relative path is resolved against the provider's working directory (the one `pulumi` runs in).
   */
  migrationsDir?: string;
  /** Migration files allowed to destroy data (DROP TABLE, ...). Default: none. */
  allowDataLoss?: string[];
  /** Serve reads from replicas. Default: false. */
  readReplication?: boolean;
  /** Protect the database (and keep it when removed from the program). Default: false. */
  protect?: boolean;
}

/**
 * A D1 database and, given a folder, its SQL migrations: the package's `D1Database` component, created as
 * this resource's child. The migrations authenticate with the `cloudflare:apiToken` config of the stack.
 * Not exposed: `transform` (a function, which no schema type can carry).
 */
export class D1Database extends pulumi.ComponentResource {
  /** Database uuid, as a Worker's `d1Databases` binding takes it. */
  readonly id: pulumi.Output<string>;
  /** Database name. */
  readonly databaseName: pulumi.Output<string>;

  constructor(name: string, args: D1DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:D1Database", name, {}, opts);
    const database = new D1DatabaseComponent(
      name,
      {
        accountId: args.accountId,
        databaseName: args.databaseName,
        migrationsDir: args.migrationsDir,
        allowDataLoss: args.allowDataLoss,
        readReplication: args.readReplication,
        protect: args.protect,
      },
      childOptions(this, opts),
    );
    this.id = database.id;
    this.databaseName = database.databaseName;
    this.registerOutputs({ id: this.id, databaseName: this.databaseName });
  }
}
