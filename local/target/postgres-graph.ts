import { SQL_MIGRATIONS_TYPE } from "../../components/migration-types";
import type { SqlMigration } from "../../components/sql-migrations";
import { type CapturedResource, reveal } from "../graph";

/**
 * Reads the PostgreSQL part of a captured resource graph into a plan of what must exist (roles,
 * databases, extensions, schemas, grants, default privileges, SQL migrations), validating every input
 * before anything touches a server. postgres-apply.ts carries the plan out.
 */

/** A PostgreSQL identifier, double-quoted, so that any name (mixed case, spaces, quotes) is taken as is. */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes("\0"))
    throw new Error(`invalid SQL identifier ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** A PostgreSQL string literal; `E'...'` with doubled backslashes when the value has a backslash. */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("a SQL string literal cannot hold a NUL character");
  const body = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${body.replace(/\\/g, "\\\\")}'` : `'${body}'`;
}

const PG = "postgresql:index/";
const TYPES = {
  role: `${PG}role:Role`,
  database: `${PG}database:Database`,
  extension: `${PG}extension:Extension`,
  schema: `${PG}schema:Schema`,
  grant: `${PG}grant:Grant`,
  defaultPrivileges: `${PG}defaultPrivileges:DefaultPrivileges`,
} as const;
const KNOWN = new Set<string>(Object.values(TYPES));

/** Role inputs of the provider → `pg_roles` column and the CREATE/ALTER ROLE keyword. */
export const ROLE_FLAGS = [
  ["login", "rolcanlogin", "LOGIN"],
  ["createDatabase", "rolcreatedb", "CREATEDB"],
  ["createRole", "rolcreaterole", "CREATEROLE"],
  ["superuser", "rolsuper", "SUPERUSER"],
  ["inherit", "rolinherit", "INHERIT"],
  ["replication", "rolreplication", "REPLICATION"],
  ["bypassRowLevelSecurity", "rolbypassrls", "BYPASSRLS"],
] as const;

/** Object types of a Grant: the ACL that holds them and how GRANT names them. */
export const GRANT_ON = {
  database: "DATABASE",
  schema: "SCHEMA",
  table: "TABLE",
  sequence: "SEQUENCE",
} as const;
/** Object types of DefaultPrivileges: `pg_default_acl.defaclobjtype` and the keyword. */
export const DEFAULT_ON = {
  table: ["r", "TABLES"],
  sequence: ["S", "SEQUENCES"],
  function: ["f", "FUNCTIONS"],
  type: ["T", "TYPES"],
  schema: ["n", "SCHEMAS"],
} as const;

type Inputs = Record<string, unknown>;

/** Typed reads of a resource's unwrapped inputs, with errors that name the resource and the input. */
function reader(r: CapturedResource, defaultDatabase: string) {
  const inputs = reveal(r.inputs) as Inputs;
  const fail = (key: string, what: string): never => {
    throw new Error(`${r.type} "${r.name}": input "${key}" must be ${what}`);
  };
  const opt = (key: string) => {
    const v = inputs[key];
    return v === undefined || v === null || v === ""
      ? undefined
      : typeof v === "string"
        ? v
        : fail(key, "a string");
  };
  const req = (key: string) => opt(key) ?? fail(key, "a non-empty string");
  const bool = (key: string) => {
    const v = inputs[key];
    return v === undefined || v === null ? undefined : typeof v === "boolean" ? v : fail(key, "a boolean");
  };
  const list = (key: string) => {
    const v = inputs[key] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return fail(key, "a list of strings");
    return v as string[];
  };
  return { inputs, opt, req, bool, list, database: () => opt("database") ?? defaultDatabase };
}

export interface RoleSpec {
  name: string;
  password?: string;
  flags: Map<string, boolean>;
  connectionLimit?: number;
  /** The role's own `search_path`, as `ALTER ROLE ... SET search_path` keeps it. */
  searchPaths?: string[];
}
export interface DatabaseSpec {
  name: string;
  owner?: string;
  options: string[];
}
export interface ExtensionSpec {
  name: string;
  database: string;
  schema?: string;
  version?: string;
}
export interface SchemaSpec {
  name: string;
  database: string;
  owner?: string;
}
export interface GrantSpec {
  label: string;
  database: string;
  role: string;
  objectType: keyof typeof GRANT_ON;
  schema?: string;
  objects: string[];
  privileges: string[];
  withGrantOption: boolean;
}
export interface DefaultPrivilegesSpec {
  label: string;
  database: string;
  owner: string;
  role: string;
  objectType: keyof typeof DEFAULT_ON;
  schema?: string;
  privileges: string[];
  withGrantOption: boolean;
}
export interface MigrationSpec {
  database: string;
  schema: string;
  user: string;
  migrations: SqlMigration[];
  allowDataLoss: string[];
}

export interface Plan {
  roles: RoleSpec[];
  databases: DatabaseSpec[];
  extensions: ExtensionSpec[];
  schemas: SchemaSpec[];
  grants: GrantSpec[];
  defaults: DefaultPrivilegesSpec[];
  migrations: MigrationSpec[];
}

const privilegeNames = (list: string[]) =>
  list.map((p) => (p.toUpperCase() === "TEMP" ? "TEMPORARY" : p.toUpperCase()));

/**
 * Whether a graph needs a PostgreSQL server: it declares PostgreSQL resources (the provider's, or SQL
 * migrations) or Hyperdrive configs, whose local pools connect to one. A graph with none starts none.
 */
export function usesPostgres(resources: readonly CapturedResource[], hyperdriveCount: number): boolean {
  return (
    hyperdriveCount > 0 ||
    resources.some(
      (r) =>
        r.type === SQL_MIGRATIONS_TYPE ||
        r.type.startsWith("postgresql:") ||
        r.type === "pulumi:providers:postgresql",
    )
  );
}

/** Reads the graph into what to apply; throws before anything changes on a type or input it cannot apply. */
export function planGraph(resources: CapturedResource[], adminDatabase: string): Plan {
  const plan: Plan = {
    roles: [],
    databases: [],
    extensions: [],
    schemas: [],
    grants: [],
    defaults: [],
    migrations: [],
  };
  const providerDatabase = new Map<string, string>();
  for (const r of resources) {
    if (r.type !== "pulumi:providers:postgresql") continue;
    const db = (reveal(r.inputs) as Inputs).database;
    if (typeof db === "string" && db) providerDatabase.set(r.urn, db);
  }
  for (const r of resources) {
    if (r.type === SQL_MIGRATIONS_TYPE) {
      const inputs = reveal(r.inputs) as Inputs;
      const c = (inputs.connection ?? {}) as Inputs;
      if (typeof c.database !== "string" || typeof c.user !== "string" || typeof inputs.schema !== "string") {
        throw new Error(`${r.type} "${r.name}": needs connection.database, connection.user and schema`);
      }
      plan.migrations.push({
        database: c.database,
        schema: inputs.schema,
        user: c.user,
        migrations: (inputs.migrations ?? []) as SqlMigration[],
        allowDataLoss: (inputs.allowDataLoss ?? []) as string[],
      });
      continue;
    }
    if (!r.type.startsWith("postgresql:")) continue;
    if (!KNOWN.has(r.type)) {
      throw new Error(`the local target cannot apply PostgreSQL resource type ${r.type} ("${r.name}")`);
    }
    const providerUrn = r.provider?.slice(0, r.provider.lastIndexOf("::"));
    const x = reader(r, (providerUrn && providerDatabase.get(providerUrn)) || adminDatabase);
    const label = `${r.type.split(":").at(-1)} "${r.name}"`;
    switch (r.type) {
      case TYPES.role: {
        const flags = new Map<string, boolean>();
        for (const [input] of ROLE_FLAGS) {
          const v = x.bool(input);
          if (v !== undefined) flags.set(input, v);
        }
        const limit = x.inputs.connectionLimit;
        if (limit !== undefined && !Number.isInteger(limit))
          throw new Error(`${label}: connectionLimit must be an integer`);
        plan.roles.push({
          name: x.req("name"),
          password: x.opt("password"),
          flags,
          connectionLimit: limit as number,
          searchPaths: x.inputs.searchPaths === undefined ? undefined : x.list("searchPaths"),
        });
        break;
      }
      case TYPES.database: {
        const options: string[] = [];
        for (const [input, keyword] of [
          ["template", "TEMPLATE"],
          ["encoding", "ENCODING"],
          ["lcCollate", "LC_COLLATE"],
          ["lcCtype", "LC_CTYPE"],
        ]) {
          const v = x.opt(input as string);
          if (v !== undefined && v !== "DEFAULT")
            options.push(`${keyword} ${keyword === "TEMPLATE" ? quoteIdent(v) : quoteLiteral(v)}`);
        }
        plan.databases.push({ name: x.req("name"), owner: x.opt("owner"), options });
        break;
      }
      case TYPES.extension:
        plan.extensions.push({
          name: x.req("name"),
          database: x.database(),
          schema: x.opt("schema"),
          version: x.opt("version"),
        });
        break;
      case TYPES.schema:
        plan.schemas.push({ name: x.req("name"), database: x.database(), owner: x.opt("owner") });
        break;
      case TYPES.grant: {
        const objectType = x.req("objectType");
        if (!Object.hasOwn(GRANT_ON, objectType))
          throw new Error(`${label}: objectType "${objectType}" is not supported locally`);
        const schema = x.opt("schema");
        if (objectType !== "database" && !schema)
          throw new Error(`${label}: objectType "${objectType}" needs a schema`);
        plan.grants.push({
          label,
          database: x.database(),
          role: x.req("role"),
          objectType: objectType as keyof typeof GRANT_ON,
          schema,
          objects: x.list("objects"),
          privileges: privilegeNames(x.list("privileges")),
          withGrantOption: x.bool("withGrantOption") ?? false,
        });
        break;
      }
      case TYPES.defaultPrivileges: {
        const objectType = x.req("objectType");
        if (!Object.hasOwn(DEFAULT_ON, objectType))
          throw new Error(`${label}: objectType "${objectType}" is not supported locally`);
        plan.defaults.push({
          label,
          database: x.database(),
          owner: x.req("owner"),
          role: x.req("role"),
          objectType: objectType as keyof typeof DEFAULT_ON,
          schema: x.opt("schema"),
          privileges: privilegeNames(x.list("privileges")),
          withGrantOption: x.bool("withGrantOption") ?? false,
        });
        break;
      }
    }
  }
  return plan;
}
