import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { PostgresOrigin } from "./hyperdrive";
import { SqlMigrations, type SslMode } from "./migration-providers";
import { alsoAfter, PACKAGE, statefulOptions, type Transform, transformed } from "./options";
import { readSqlMigrations } from "./sql-migrations";

export interface PostgresArgs {
  /** Server the admin connects to. */
  host: pulumi.Input<string>;
  /** @default 5432 */
  port?: number;
  adminUser: pulumi.Input<string>;
  /** Always handled as a secret. */
  adminPassword: pulumi.Input<string>;
  /** Database the admin connects to before the application's database exists. @default "postgres" */
  adminDatabase?: string;
  /** @default "require" */
  sslMode?: SslMode;
  /** The application's database, created here. */
  database: string;
  /** Schema that holds the application's tables. */
  schema: string;
  /** Login role the application connects as; its password is generated and kept secret. */
  appRole: string;
  /** Extensions created in the database. @default [] */
  extensions?: string[];
  /** Folder of numbered `.sql` migrations, applied by the project's migration core at deploy. */
  migrationsDir?: string;
  /** Migration files allowed to destroy data (DROP TABLE, TRUNCATE, ...). @default [] */
  allowDataLoss?: string[];
  /** Protect the database and schema, and keep them when removed from the program. @default false */
  protect?: boolean;
  /**
   * Adjusts the args of the underlying resources; `grant` applies to both grants (CONNECT on the database,
   * USAGE on the schema), `defaultPrivileges` to both (tables, sequences), `extension` to each extension.
   */
  transform?: {
    provider?: Transform<postgresql.ProviderArgs>;
    appPassword?: Transform<random.RandomPasswordArgs>;
    appRole?: Transform<postgresql.RoleArgs>;
    database?: Transform<postgresql.DatabaseArgs>;
    schema?: Transform<postgresql.SchemaArgs>;
    grant?: Transform<postgresql.GrantArgs>;
    defaultPrivileges?: Transform<postgresql.DefaultPrivilegesArgs>;
    extension?: Transform<postgresql.ExtensionArgs>;
    migrations?: Transform<SqlMigrationsArgs>;
  };
}

type SqlMigrationsArgs = ConstructorParameters<typeof SqlMigrations>[1];

const TABLE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE"];
const SEQUENCE_PRIVILEGES = ["USAGE", "SELECT", "UPDATE"];

/**
 * An application's PostgreSQL footprint on an existing server: database, schema, a login role with a
 * generated password and least privileges (DML on the schema's tables, no DDL), extensions, and the SQL
 * migrations, which run as the admin so that the tables' owner is not the role the Workers use.
 */
export class Postgres extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:postgres:Postgres`;
  readonly provider: postgresql.Provider;
  readonly database: postgresql.Database;
  readonly schema: postgresql.Schema;
  readonly appRole: postgresql.Role;
  readonly migrations?: SqlMigrations;
  /** Generated password of the application role (secret). */
  readonly appPassword: pulumi.Output<string>;
  /**
   * How the application (e.g. Hyperdrive) connects: as the application role, to the database. Only the
   * password is secret, so that what takes it can show where it points.
   */
  readonly appConnection: {
    [K in keyof PostgresOrigin]-?: pulumi.Output<pulumi.Unwrap<PostgresOrigin[K]>>;
  };

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Postgres.TYPE, name, {}, opts);
    for (const [key, value] of Object.entries({
      database: args.database,
      schema: args.schema,
      appRole: args.appRole,
    })) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
        throw new Error(`Postgres ${name}: ${key} "${value}" must be a lowercase SQL identifier`);
      }
    }
    for (const ext of args.extensions ?? []) {
      if (!/^[a-z0-9_-]+$/.test(ext))
        throw new Error(`Postgres ${name}: extension "${ext}" must be an extension name`);
    }
    const port = args.port ?? 5432;
    const sslMode = args.sslMode ?? "require";
    const adminPassword = pulumi.secret(args.adminPassword);
    const transform = args.transform ?? {};
    this.provider = new postgresql.Provider(
      `${name}-provider`,
      ...transformed(
        transform.provider,
        {
          host: args.host,
          port,
          username: args.adminUser,
          password: adminPassword,
          database: args.adminDatabase ?? "postgres",
          sslmode: sslMode,
          superuser: false,
        },
        { parent: this },
      ),
    );
    // A fresh options object per child, so a transform that changes one child's options changes no other.
    const inDb = (dependsOn: pulumi.CustomResourceOptions["dependsOn"]): pulumi.CustomResourceOptions => ({
      parent: this,
      provider: this.provider,
      dependsOn,
    });
    const password = new random.RandomPassword(
      `${name}-app-password`,
      ...transformed(transform.appPassword, { length: 40, special: false }, { parent: this }),
    );
    this.appPassword = password.result;
    // The role and the database are the first to reach the server: they (and through them everything
    // after them) wait for what the component waits for (a server being started, say).
    this.appRole = new postgresql.Role(
      `${name}-app-role`,
      ...transformed(
        transform.appRole,
        // The application's queries name tables without a schema.
        { name: args.appRole, login: true, password: password.result, searchPaths: [args.schema] },
        inDb(alsoAfter([], opts)),
      ),
    );
    this.database = new postgresql.Database(
      `${name}-database`,
      ...transformed(
        transform.database,
        { name: args.database, owner: args.adminUser },
        statefulOptions(this, args.protect, { provider: this.provider, dependsOn: alsoAfter([], opts) }),
      ),
    );
    this.schema = new postgresql.Schema(
      `${name}-schema`,
      ...transformed(
        transform.schema,
        { name: args.schema, database: this.database.name, owner: args.adminUser },
        statefulOptions(this, args.protect, { provider: this.provider, dependsOn: [this.database] }),
      ),
    );
    const grants: pulumi.Resource[] = [
      new postgresql.Grant(
        `${name}-grant-connect`,
        ...transformed(
          transform.grant,
          {
            database: this.database.name,
            role: this.appRole.name,
            objectType: "database",
            privileges: ["CONNECT"],
          },
          inDb([this.database, this.appRole]),
        ),
      ),
      new postgresql.Grant(
        `${name}-grant-usage`,
        ...transformed(
          transform.grant,
          {
            database: this.database.name,
            schema: this.schema.name,
            role: this.appRole.name,
            objectType: "schema",
            privileges: ["USAGE"],
          },
          inDb([this.schema, this.appRole]),
        ),
      ),
      ...(
        [
          ["tables", "table", TABLE_PRIVILEGES],
          ["sequences", "sequence", SEQUENCE_PRIVILEGES],
        ] as const
      ).map(
        ([suffix, objectType, privileges]) =>
          new postgresql.DefaultPrivileges(
            `${name}-default-${suffix}`,
            ...transformed(
              transform.defaultPrivileges,
              {
                database: this.database.name,
                schema: this.schema.name,
                owner: args.adminUser,
                role: this.appRole.name,
                objectType,
                privileges: [...privileges],
              },
              inDb([this.schema, this.appRole]),
            ),
          ),
      ),
    ];
    const extensions = (args.extensions ?? []).map(
      (ext) =>
        new postgresql.Extension(
          `${name}-ext-${ext}`,
          ...transformed(
            transform.extension,
            { name: ext, database: this.database.name },
            inDb([this.database, this.appRole]),
          ),
        ),
    );
    if (args.migrationsDir) {
      this.migrations = new SqlMigrations(
        `${name}-migrations`,
        ...transformed<SqlMigrationsArgs>(
          transform.migrations,
          {
            connection: {
              host: args.host,
              port,
              user: args.adminUser,
              password: adminPassword,
              database: args.database,
              sslMode,
            },
            schema: args.schema,
            migrations: readSqlMigrations(args.migrationsDir),
            allowDataLoss: args.allowDataLoss ?? [],
          },
          { parent: this, dependsOn: [this.schema, ...grants, ...extensions] },
        ),
      );
    }
    this.appConnection = {
      host: pulumi.output(args.host),
      port: pulumi.output(port),
      database: pulumi.output(args.database),
      user: this.appRole.name,
      password: pulumi.secret(password.result),
    };
    this.registerOutputs({ appConnection: this.appConnection });
  }
}
