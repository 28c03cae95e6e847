import { Client, type QueryResultRow } from "pg";

export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs `fn` in a transaction; it is rolled back when `fn` throws. */
  transaction<T>(fn: (db: Db) => Promise<T>): Promise<T>;
}

/**
 * A connection through Hyperdrive for the length of `fn`. Hyperdrive pools the connections to the origin,
 * so a Worker opens one per request. The application role's search_path names the platform's schema.
 */
export async function withDb<T>(hyperdrive: Hyperdrive, fn: (db: Db) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: hyperdrive.connectionString });
  // A socket the origin closes after `end()` may still report an error: it is not the caller's.
  client.on("error", () => undefined);
  await client.connect();
  const db: Db = {
    async query<R extends QueryResultRow>(sql: string, params?: unknown[]) {
      return (await client.query<R>(sql, params as unknown[])).rows;
    },
    async transaction<T2>(inner: (tx: Db) => Promise<T2>): Promise<T2> {
      await client.query("BEGIN");
      try {
        const result = await inner(db);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    },
  };
  try {
    return await fn(db);
  } finally {
    await client.end().catch(() => undefined);
  }
}
