import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import type pg from "pg";
import { applySqlMigrations } from "../../components/sql-migrations";
import type { CapturedResource } from "../graph";
import { DEFAULT_ON, GRANT_ON, planGraph, quoteIdent, quoteLiteral, ROLE_FLAGS } from "./postgres-graph";

export { quoteIdent, quoteLiteral } from "./postgres-graph";

/**
 * Applies the PostgreSQL part of a captured resource graph (roles, databases, extensions, schemas,
 * grants, default privileges, SQL migrations) to a real server, as the `postgresql` provider and the
 * `SqlMigrations` dynamic provider would at `pulumi up`, but against the local server's superuser.
 * Idempotent: what already matches the graph is left untouched, so a second run changes nothing.
 */

export interface ApplyPostgresOptions {
  /** Superuser URL of the local server, database "postgres". */
  adminUrl: string;
  /** Progress lines; they name objects, never passwords. */
  log?: (line: string) => void;
}

export interface ApplyPostgresResult {
  /** Databases of the graph, present after the run. */
  databases: string[];
  /** Roles of the graph, present after the run. */
  roles: string[];
  /** One entry per `SqlMigrations` resource, with the files this run applied. */
  migrated: { database: string; schema: string; applied: string[] }[];
  /** What this run changed, one line each; empty when the server already matched the graph. */
  changes: string[];
}

/** `postgres://user:password@host:port/database` with every part URL-encoded, for a local Hyperdrive. */
export function hyperdriveOriginUrl(
  origin: { user: string; password: string; database: string },
  server: { host: string; port: number },
): string {
  const host = server.host.includes(":") && !server.host.startsWith("[") ? `[${server.host}]` : server.host;
  const auth = `${encodeURIComponent(origin.user)}:${encodeURIComponent(origin.password)}`;
  return `postgres://${auth}@${host}:${server.port}/${encodeURIComponent(origin.database)}`;
}

/** Whether a password matches a stored SCRAM-SHA-256 or MD5 verifier, so an unchanged one is not reset. */
function passwordMatches(password: string, stored: string | null, role: string): boolean {
  if (!stored) return false;
  if (stored.startsWith("md5")) {
    const md5 = createHash("md5").update(`${password}${role}`).digest("hex");
    return stored === `md5${md5}`;
  }
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):/.exec(stored);
  if (!m) return false;
  const salted = pbkdf2Sync(
    password.normalize("NFKC"),
    Buffer.from(m[2] ?? "", "base64"),
    Number(m[1]),
    32,
    "sha256",
  );
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  return createHash("sha256").update(clientKey).digest("base64") === m[3];
}

/** Runs statements; a failure names the step, never the SQL (which may hold a password). */
async function run(client: pg.Client, what: string, sql: string | string[], params?: unknown[]) {
  const statements = Array.isArray(sql) ? sql : [sql];
  const tx = statements.length > 1;
  try {
    if (tx) await client.query("BEGIN");
    let result: pg.QueryResult | undefined;
    for (const s of statements) result = await client.query(s, params);
    if (tx) await client.query("COMMIT");
    return result as pg.QueryResult;
  } catch (err) {
    if (tx) await client.query("ROLLBACK").catch(() => {});
    throw new Error(`${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

const grantee = (role: string) => (role.toLowerCase() === "public" ? "PUBLIC" : quoteIdent(role));
/** SQL for the oid of role `$n` as ACLs name it (0 for PUBLIC). */
const granteeOid = (n: number) =>
  `(CASE WHEN lower($${n}) = 'public' THEN 0::oid ELSE (SELECT oid FROM pg_roles WHERE rolname = $${n}) END)`;
/** ACL entries of a database or schema by name ($1). */
const ACL_SQL = {
  database: "SELECT a.* FROM pg_database o, aclexplode(o.datacl) a WHERE o.datname = $1",
  schema: "SELECT a.* FROM pg_namespace o, aclexplode(o.nspacl) a WHERE o.nspname = $1",
};
const aclKey = (rows: { privilege_type: string; is_grantable: boolean }[]) =>
  [...new Set(rows.map((r) => `${r.privilege_type}${r.is_grantable ? "*" : ""}`))].sort().join(",");
const wantedKey = (privileges: string[], withGrant: boolean) =>
  [...new Set(privileges.map((p) => `${p}${withGrant ? "*" : ""}`))].sort().join(",");

/** Applies the PostgreSQL resources and SQL migrations of a captured graph to the server at `adminUrl`. */
export async function applyPostgresGraph(
  resources: CapturedResource[],
  options: ApplyPostgresOptions,
): Promise<ApplyPostgresResult> {
  const log = options.log ?? (() => {});
  const admin = new URL(options.adminUrl);
  const plan = planGraph(resources, decodeURIComponent(admin.pathname.slice(1)) || "postgres");
  const changes: string[] = [];
  const change = (line: string) => {
    changes.push(line);
    log(`  ${line}`);
  };
  const urlFor = (database: string) => {
    const url = new URL(options.adminUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url;
  };
  const clients = new Map<string, pg.Client>();
  // Loaded here rather than with the module: a start loads it while workerd starts, not before.
  const { Client } = require("pg") as typeof pg;
  const connect = async (url: string) => {
    const client = new Client({ connectionString: url, ssl: false });
    client.on("error", () => {});
    await client.connect();
    return client;
  };
  const inDatabase = async (database: string) => {
    let client = clients.get(database);
    if (!client) {
      client = await connect(urlFor(database).toString());
      clients.set(database, client);
    }
    return client;
  };
  const root = await connect(options.adminUrl);
  try {
    // Concurrent runs against one server (two targets, parallel tests) take turns.
    await root.query("SELECT pg_advisory_lock(hashtext('workers-platform:local-postgres-apply'))");
    const me = await root.query<{ u: string; s: boolean }>(
      "SELECT current_user AS u, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS s",
    );
    const adminUser = me.rows[0]?.u ?? "";
    // Only a superuser reads stored password verifiers; otherwise a password is set on every run.
    const storedPassword = me.rows[0]?.s ? "(SELECT rolpassword FROM pg_authid WHERE rolname = $1)" : "NULL";

    const self = plan.roles.find((role) => role.name === adminUser);
    if (self)
      throw new Error(
        `Role "${self.name}" is the local server's admin user: the local target does not alter it`,
      );
    for (const role of plan.roles) {
      const { rows } = await root.query(
        `SELECT *, ${storedPassword} AS pw FROM pg_roles WHERE rolname = $1`,
        [role.name],
      );
      const current = rows[0] as Record<string, unknown> | undefined;
      const attrs = ROLE_FLAGS.filter(
        ([input, column]) => role.flags.has(input) && current?.[column] !== role.flags.get(input),
      ).map(([input, , keyword]) => (role.flags.get(input) ? keyword : `NO${keyword}`));
      if (role.connectionLimit !== undefined && current?.rolconnlimit !== role.connectionLimit) {
        attrs.push(`CONNECTION LIMIT ${role.connectionLimit}`);
      }
      const setPassword =
        role.password !== undefined &&
        !passwordMatches(role.password, (current?.pw as string) ?? null, role.name);
      if (setPassword) attrs.push(`PASSWORD ${quoteLiteral(role.password as string)}`);
      if (!current) {
        await run(
          root,
          `creating role ${role.name}`,
          `CREATE ROLE ${quoteIdent(role.name)} ${attrs.join(" ")}`,
        );
        change(`created role ${role.name}`);
      } else if (attrs.length > 0) {
        await run(
          root,
          `altering role ${role.name}`,
          `ALTER ROLE ${quoteIdent(role.name)} ${attrs.join(" ")}`,
        );
        change(`altered role ${role.name}${setPassword ? " (new password)" : ""}`);
      }
      if (role.searchPaths) {
        const wanted = role.searchPaths.map(quoteIdent).join(", ");
        const { rows: settings } = await root.query(
          "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1 AND s.setdatabase = 0",
          [role.name],
        );
        const current = ((settings[0]?.setconfig as string[] | undefined) ?? []).find((c) =>
          c.startsWith("search_path="),
        );
        // PostgreSQL keeps simple names unquoted: compare with the quotes it drops dropped.
        const plain = (v: string | undefined) => v?.replace(/"([a-z_][a-z0-9_$]*)"/g, "$1");
        if (plain(current) !== plain(`search_path=${wanted}`)) {
          await run(
            root,
            `setting the search_path of role ${role.name}`,
            `ALTER ROLE ${quoteIdent(role.name)} SET search_path TO ${wanted}`,
          );
          change(`set the search_path of role ${role.name} to ${wanted}`);
        }
      }
    }

    // Owners the graph names (its admin user) may not exist on this server: they own objects, never log in.
    const owners = new Set(
      [
        ...plan.databases,
        ...plan.schemas,
        ...plan.defaults,
        ...plan.migrations.map((m) => ({ owner: m.user })),
      ]
        .map((o) => o.owner)
        .filter((o): o is string => !!o && o !== adminUser && !plan.roles.some((r) => r.name === o)),
    );
    for (const owner of owners) {
      const exists = await root.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [owner]);
      if (exists.rowCount) continue;
      await run(root, `creating role ${owner}`, `CREATE ROLE ${quoteIdent(owner)} NOLOGIN`);
      change(`created role ${owner} (NOLOGIN, owner of objects)`);
    }

    for (const db of plan.databases) {
      const { rows } = await root.query(
        "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
        [db.name],
      );
      if (rows.length === 0) {
        const owner = db.owner ? [`OWNER ${quoteIdent(db.owner)}`] : [];
        await run(
          root,
          `creating database ${db.name}`,
          `CREATE DATABASE ${quoteIdent(db.name)} ${[...owner, ...db.options].join(" ")}`,
        );
        change(`created database ${db.name}`);
      } else if (db.owner && rows[0]?.owner !== db.owner) {
        await run(
          root,
          `changing the owner of database ${db.name}`,
          `ALTER DATABASE ${quoteIdent(db.name)} OWNER TO ${quoteIdent(db.owner)}`,
        );
        change(`database ${db.name} now owned by ${db.owner}`);
      }
    }

    for (const ext of plan.extensions) {
      const client = await inDatabase(ext.database);
      if ((await client.query("SELECT 1 FROM pg_extension WHERE extname = $1", [ext.name])).rowCount)
        continue;
      const schema = ext.schema ? ` SCHEMA ${quoteIdent(ext.schema)}` : "";
      const version = ext.version ? ` VERSION ${quoteLiteral(ext.version)}` : "";
      await run(
        client,
        `creating extension ${ext.name} in ${ext.database}`,
        `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(ext.name)}${schema}${version}`,
      );
      change(`created extension ${ext.name} in database ${ext.database}`);
    }

    for (const s of plan.schemas) {
      const client = await inDatabase(s.database);
      const { rows } = await client.query(
        "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1",
        [s.name],
      );
      if (rows.length === 0) {
        const owner = s.owner ? ` AUTHORIZATION ${quoteIdent(s.owner)}` : "";
        await run(
          client,
          `creating schema ${s.name}`,
          `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s.name)}${owner}`,
        );
        change(`created schema ${s.name} in database ${s.database}`);
      } else if (s.owner && rows[0]?.owner !== s.owner) {
        await run(
          client,
          `changing the owner of schema ${s.name}`,
          `ALTER SCHEMA ${quoteIdent(s.name)} OWNER TO ${quoteIdent(s.owner)}`,
        );
        change(`schema ${s.name} in database ${s.database} now owned by ${s.owner}`);
      }
    }

    // Like the provider, a grant is authoritative: the role ends with exactly the listed privileges.
    for (const g of plan.grants) {
      const client = await inDatabase(g.database);
      const targets =
        g.objectType === "database"
          ? [quoteIdent(g.database)]
          : g.objectType === "schema"
            ? [quoteIdent(g.schema as string)]
            : g.objects.map((o) => `${quoteIdent(g.schema as string)}.${quoteIdent(o)}`);
      const on =
        g.objectType === "database" || g.objectType === "schema" || g.objects.length > 0
          ? `${GRANT_ON[g.objectType]} ${targets.join(", ")}`
          : `ALL ${GRANT_ON[g.objectType]}S IN SCHEMA ${quoteIdent(g.schema as string)}`;
      // Table and sequence grants are re-applied on every run; database and schema ones only when they differ.
      const aclSql = ACL_SQL[g.objectType as keyof typeof ACL_SQL];
      const current = aclSql
        ? await client.query(`${aclSql} AND a.grantee = ${granteeOid(2)}`, [
            g.objectType === "database" ? g.database : g.schema,
            g.role,
          ])
        : undefined;
      if (
        current &&
        !g.privileges.includes("ALL") &&
        aclKey(current.rows) === wantedKey(g.privileges, g.withGrantOption)
      )
        continue;
      const statements = [`REVOKE ALL ON ${on} FROM ${grantee(g.role)}`];
      if (g.privileges.length > 0) {
        statements.push(
          `GRANT ${g.privileges.join(", ")} ON ${on} TO ${grantee(g.role)}${g.withGrantOption ? " WITH GRANT OPTION" : ""}`,
        );
      }
      await run(client, g.label, statements);
      change(
        `granted ${g.privileges.join(", ") || "nothing"} on ${g.objectType} ${g.objectType === "database" ? g.database : g.schema} to ${g.role}`,
      );
    }

    for (const d of plan.defaults) {
      const client = await inDatabase(d.database);
      const [code, keyword] = DEFAULT_ON[d.objectType];
      const current = await client.query(
        `SELECT a.* FROM pg_default_acl x, aclexplode(x.defaclacl) a WHERE x.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1) AND x.defaclnamespace = coalesce((SELECT oid FROM pg_namespace WHERE nspname = $2), 0) AND x.defaclobjtype = $3 AND a.grantee = ${granteeOid(4)}`,
        [d.owner, d.schema ?? null, code, d.role],
      );
      if (
        !d.privileges.includes("ALL") &&
        aclKey(current.rows) === wantedKey(d.privileges, d.withGrantOption)
      )
        continue;
      const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(d.owner)}${d.schema ? ` IN SCHEMA ${quoteIdent(d.schema)}` : ""}`;
      const statements = [`${head} REVOKE ALL ON ${keyword} FROM ${grantee(d.role)}`];
      if (d.privileges.length > 0) {
        statements.push(
          `${head} GRANT ${d.privileges.join(", ")} ON ${keyword} TO ${grantee(d.role)}${d.withGrantOption ? " WITH GRANT OPTION" : ""}`,
        );
      }
      await run(client, d.label, statements);
      change(
        `default privileges of ${d.owner} in ${d.schema ?? d.database}: ${d.privileges.join(", ") || "nothing"} on ${keyword.toLowerCase()} to ${d.role}`,
      );
    }

    const migrated: ApplyPostgresResult["migrated"] = [];
    for (const m of plan.migrations) {
      // As the admin of the local server, acting as the graph's admin user, so that the tables are owned by
      // the role whose default privileges give the application its access, as in the cloud.
      const url = urlFor(m.database);
      if (m.user !== adminUser)
        url.searchParams.set("options", `-c role=${m.user.replace(/[\\\s]/g, "\\$&")}`);
      const result = await applySqlMigrations({
        connectionString: url.toString(),
        ssl: false,
        schema: m.schema,
        migrations: m.migrations,
        allowDataLoss: m.allowDataLoss,
        log: (line) => log(`  ${m.database}.${line}`),
      });
      const applied = result.applied.map((a) => a.name);
      for (const name of applied) changes.push(`applied ${name} to ${m.database}.${m.schema}`);
      migrated.push({ database: m.database, schema: m.schema, applied });
    }
    return {
      databases: plan.databases.map((d) => d.name),
      roles: plan.roles.map((r) => r.name),
      migrated,
      changes,
    };
  } finally {
    for (const client of clients.values()) await client.end().catch(() => {});
    await root.end().catch(() => {});
  }
}
