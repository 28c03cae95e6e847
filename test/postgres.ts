import pg from "pg";

/** Databases and roles the tests made on the shared server, until `dropCreated`. */
const created = { databases: [] as string[], roles: [] as string[] };

/** Runs `fn` with a client connected to `url`, and closes it. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The rows of one query on `url`. */
export const rows = (url: string, sql: string, params: unknown[] = []) =>
  withClient(url, async (c) => (await c.query(sql, params)).rows);

/** Whether the relation `name` (optionally schema-qualified) exists on `url`. */
export const tableExists = async (url: string, name: string) =>
  (await rows(url, `SELECT to_regclass('${name}') AS t`))[0]?.t !== null;

/**
 * A new, empty database `<prefix>_<pid>_<n>_<ms>` on the server of `superuserUrl`, so that tests never see
 * each other's tables; returns its URL. `dropCreated` drops it.
 */
export async function freshDatabase(superuserUrl: string, prefix = "test"): Promise<string> {
  const name = `${prefix}_${process.pid}_${created.databases.length}_${Date.now()}`;
  await withClient(superuserUrl, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  created.databases.push(name);
  const url = new URL(superuserUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Remembers databases and roles a test makes (or has made) itself, for `dropCreated`. */
export function dropLater(objects: { databases?: string[]; roles?: string[] }): void {
  created.databases.push(...(objects.databases ?? []));
  created.roles.push(...(objects.roles ?? []));
}

/** Drops every database (`WITH (FORCE)`) and then every role that `freshDatabase` and `dropLater` remembered. */
export async function dropCreated(superuserUrl: string): Promise<void> {
  const databases = created.databases.splice(0);
  const roles = created.roles.splice(0);
  await withClient(superuserUrl, async (c) => {
    for (const name of databases)
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  });
}
