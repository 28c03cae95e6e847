import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { readD1Migrations } from "./d1-migrations";
import { D1Migrations } from "./migration-providers";
import { stackName } from "./naming";
import { PACKAGE, statefulOptions, type Transform, transformed } from "./options";

export interface D1DatabaseArgs {
  accountId: pulumi.Input<string>;
  /** Database name. @default `<project>-<stack>-<name>` */
  databaseName?: string;
  /** Folder of `.sql` migrations applied at deploy, recorded in `d1_migrations` as wrangler does. */
  migrationsDir?: string;
  /** Migration files allowed to destroy data (DROP TABLE, ...). @default [] */
  allowDataLoss?: string[];
  /** Serve reads from replicas. @default false */
  readReplication?: boolean;
  /** Protect the database (and keep it when removed from the program). @default false */
  protect?: boolean;
  transform?: {
    database?: Transform<cloudflare.D1DatabaseArgs>;
    migrations?: Transform<D1MigrationsArgs>;
  };
}

type D1MigrationsArgs = ConstructorParameters<typeof D1Migrations>[1];

/** A D1 database and, when given a folder, its SQL migrations. */
export class D1Database extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:D1Database`;
  readonly database: cloudflare.D1Database;
  readonly migrations?: D1Migrations;
  /** Database uuid, as a `d1` binding takes it. */
  readonly id: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;

  constructor(name: string, args: D1DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super(D1Database.TYPE, name, {}, opts);
    this.database = new cloudflare.D1Database(
      name,
      ...transformed(
        args.transform?.database,
        {
          accountId: args.accountId,
          name: args.databaseName ?? stackName(name),
          readReplication: { mode: args.readReplication ? "auto" : "disabled" },
        },
        statefulOptions(this, args.protect),
      ),
    );
    this.id = this.database.uuid;
    this.databaseName = this.database.name;
    if (args.migrationsDir) {
      const token = pulumi.runtime.getConfig("cloudflare:apiToken");
      this.migrations = new D1Migrations(
        `${name}-migrations`,
        ...transformed<D1MigrationsArgs>(
          args.transform?.migrations,
          {
            accountId: args.accountId,
            databaseId: this.database.uuid,
            migrations: readD1Migrations(args.migrationsDir),
            allowDataLoss: args.allowDataLoss ?? [],
            ...(token ? { apiToken: pulumi.secret(token) } : {}),
          },
          { parent: this, dependsOn: [this.database] },
        ),
      );
    }
    this.registerOutputs({ id: this.id, databaseName: this.databaseName });
  }
}
