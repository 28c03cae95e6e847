import net from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { dropCreated, dropLater, freshDatabase, rows, withClient } from "../../../test/postgres";
import { freePort } from "../../ports";
import type { Origin } from "./origin";
import { cancelRequest, startupMessage } from "./pg-wire";
import { type HyperdrivePool, type HyperdrivePoolOptions, startHyperdrivePool } from "./pool";

const adminUrl = inject("postgresUrl");
let origin: Origin;
let databaseUrl: string;
const pools: HyperdrivePool[] = [];
const clients: pg.Client[] = [];

beforeAll(async () => {
  databaseUrl = await freshDatabase(adminUrl, "hyperdrive_pool");
  const role = `hd_pool_${process.pid}`;
  const password = "pool p@ss'word";
  dropLater({ roles: [role] });
  await withClient(adminUrl, (c) =>
    c.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`),
  );
  await withClient(databaseUrl, (c) =>
    c.query(`CREATE TABLE items (id int PRIMARY KEY); GRANT ALL ON items TO ${pg.escapeIdentifier(role)}`),
  );
  const server = new URL(adminUrl);
  origin = {
    host: server.hostname,
    port: Number(server.port),
    database: decodeURIComponent(new URL(databaseUrl).pathname.slice(1)),
    user: role,
    password,
  };
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  for (const p of pools.splice(0)) await p.close();
  await withClient(databaseUrl, (c) => c.query("TRUNCATE items"));
});

afterAll(() => dropCreated(adminUrl));

async function pool(options: Partial<HyperdrivePoolOptions> = {}): Promise<HyperdrivePool> {
  const p = await startHyperdrivePool({ origin, ...options });
  pools.push(p);
  return p;
}

async function connect(p: HyperdrivePool, overrides: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: p.url, ...overrides });
  c.on("error", () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

/** One client for one query, as a Worker's request opens and closes its own. */
async function once<R extends pg.QueryResultRow>(p: HyperdrivePool, sql: string, params: unknown[] = []) {
  const c = await connect(p);
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const pidOf = async (c: pg.Client) =>
  (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;

/** Backends of the pool's role on the server, seen by the superuser. */
const originBackends = async () =>
  (
    await rows(adminUrl, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1", [origin.user])
  )[0]?.n as number;

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("local Hyperdrive pool", () => {
  it("serves sequential clients from one warm origin connection (the same backend pid)", async () => {
    const p = await pool();
    const pids = [];
    for (let i = 0; i < 5; i++)
      pids.push((await once<{ pid: number }>(p, "SELECT pg_backend_pid() AS pid"))[0]?.pid);
    expect(new Set(pids).size).toBe(1);
    await until("reset and idle", () => p.stats().idle === 1);
    expect(p.stats()).toMatchObject({ opened: 1, open: 1, clients: 0 });
    expect(await originBackends()).toBe(1);
  });

  it("leaves nothing of a client's session to the next one on the same backend", async () => {
    const p = await pool({ maxConnections: 1 });
    const a = await connect(p);
    const pid = await pidOf(a);
    await a.query(
      "SET statement_timeout = 4321; SET search_path = nowhere; PREPARE leaked AS SELECT 1; " +
        "CREATE TEMP TABLE leaked_temp (x int); SELECT pg_advisory_lock(42); LISTEN leaked_channel",
    );
    await a.query({ name: "leaked_named", text: "SELECT 1" });
    await a.end();

    const b = await connect(p);
    expect(await pidOf(b)).toBe(pid);
    const [state] = (
      await b.query(`SELECT current_setting('statement_timeout') AS timeout, current_setting('search_path') AS path,
        (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
        to_regclass('pg_temp.leaked_temp') IS NULL AS no_temp,
        (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
        (SELECT count(*)::int FROM pg_listening_channels()) AS channels`)
    ).rows;
    expect(state).toEqual({
      timeout: "0",
      path: '"$user", public',
      prepared: 0,
      no_temp: true,
      locks: 0,
      channels: 0,
    });
  });

  it("keeps SET for one transaction only, as Hyperdrive's transaction mode does", async () => {
    const p = await pool({ maxConnections: 1 });
    const c = await connect(p);
    await c.query("SET statement_timeout = 4321");
    expect((await c.query("SHOW statement_timeout")).rows[0]).toEqual({ statement_timeout: "0" });
    // One query string is one transaction: a SET in it applies to the rest of it.
    const [, shown] = (await c.query(
      "SET statement_timeout = 4321; SHOW statement_timeout",
    )) as unknown as pg.QueryResult[];
    expect(shown?.rows[0]).toEqual({ statement_timeout: "4321ms" });
    await c.query("BEGIN");
    await c.query("SET statement_timeout = 4321");
    expect((await c.query("SHOW statement_timeout")).rows[0]).toEqual({ statement_timeout: "4321ms" });
    await c.query("COMMIT");
    expect((await c.query("SHOW statement_timeout")).rows[0]).toEqual({ statement_timeout: "0" });
  });

  it.each([
    ["ends its session", (c: pg.Client) => c.end()],
    [
      "says Terminate in a failed transaction",
      async (c: pg.Client) => {
        await c.query("SELECT 1/0").catch(() => undefined);
        await c.end();
      },
    ],
  ])(
    "rolls back the open transaction of a client that %s, and reuses the connection",
    async (_what, leave) => {
      const p = await pool({ maxConnections: 1 });
      const a = await connect(p);
      const pid = await pidOf(a);
      await a.query("BEGIN");
      await a.query("INSERT INTO items VALUES (1)");
      await a.query("SELECT * FROM items WHERE id = 1 FOR UPDATE");
      await leave(a);

      const b = await connect(p);
      expect(await pidOf(b)).toBe(pid);
      expect((await b.query("SELECT count(*)::int AS n FROM items")).rows[0]).toEqual({ n: 0 });
      await b.query("INSERT INTO items VALUES (1)"); // the row lock is gone with the transaction
      expect(p.stats().opened).toBe(1);
    },
  );

  it("cancels the query of a client that vanishes mid-query, rolls its transaction back, and reuses the connection", async () => {
    const p = await pool({ maxConnections: 1 });
    const a = await connect(p);
    const pid = await pidOf(a);
    await a.query("BEGIN; INSERT INTO items VALUES (2)");
    const sleeping = a.query("SELECT pg_sleep(30)").catch((err: Error) => err);
    await until("sleeping", async () => {
      const found = await rows(
        adminUrl,
        "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%'",
        [pid],
      );
      return found.length > 0;
    });
    (a as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await sleeping;

    const started = Date.now();
    const b = await connect(p);
    expect(await pidOf(b)).toBe(pid);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await b.query("SELECT count(*)::int AS n FROM items")).rows[0]).toEqual({ n: 0 });
    expect(p.stats().opened).toBe(1);
  });

  it("queues clients beyond the pool size, and every one succeeds", async () => {
    const p = await pool({ maxConnections: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        once<{ pid: number }>(p, "SELECT pg_backend_pid() AS pid, pg_sleep(0.1)"),
      ),
    );
    const pids = new Set(results.map((r) => r[0]?.pid));
    expect(results).toHaveLength(12);
    expect(pids.size).toBeLessThanOrEqual(3);
    expect(p.stats().opened).toBeLessThanOrEqual(3);
    expect(p.stats().peakWaiting).toBeGreaterThan(0);
  });

  it("lets a transaction hold its connection: a client beyond the pool waits for the COMMIT", async () => {
    const p = await pool({ maxConnections: 1 });
    const a = await connect(p);
    const b = await connect(p);
    await a.query("BEGIN");
    await a.query("INSERT INTO items VALUES (3)");
    let seen: number | undefined;
    const waiting = b.query<{ n: number }>("SELECT count(*)::int AS n FROM items").then((r) => {
      seen = r.rows[0]?.n;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toBeUndefined();
    expect(p.stats().waiting).toBe(1);
    await a.query("COMMIT");
    await waiting;
    expect(seen).toBe(1);
  });

  it("prepares a client's named statements again on whichever connection it gets next", async () => {
    const p = await pool({ maxConnections: 2 });
    const a = await connect(p);
    const b = await connect(p);
    const named = (n: number) => a.query({ name: "add_one", text: "SELECT $1::int + 1 AS v", values: [n] });
    expect((await named(1)).rows).toEqual([{ v: 2 }]);
    // b's open transaction holds the connection a used; a's next statement runs on the other one.
    await b.query("BEGIN");
    await pidOf(b);
    expect((await named(41)).rows).toEqual([{ v: 42 }]);
    await b.query("COMMIT");
    expect((await named(9)).rows).toEqual([{ v: 10 }]);
    expect(p.stats().opened).toBe(2);
  });

  it("passes a cancel request to the origin backend running the client's query", async () => {
    const p = await pool();
    const c = await connect(p);
    const sleeping = c.query("SELECT pg_sleep(30)").catch((err: { code?: string }) => err);
    await new Promise((r) => setTimeout(r, 200));
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const socket = net.connect(p.port, p.host, () => socket.end(cancelRequest(processID, secretKey)));
    const started = Date.now();
    expect(await sleeping).toMatchObject({ code: "57014" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await c.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });

  it("answers an SSLRequest with N and goes on with the startup in clear", async () => {
    const p = await pool();
    const socket = net.connect(p.port, p.host);
    const replies: Buffer[] = [];
    socket.on("data", (d: Buffer) => replies.push(d));
    await new Promise((r) => socket.once("connect", r));
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8);
    ssl.writeInt32BE(80877103, 4);
    socket.write(ssl);
    await until("answered", () => replies.length > 0);
    expect(Buffer.concat(replies).toString()).toBe("N");
    socket.write(startupMessage({ user: origin.user, database: origin.database }));
    await until("asked for a password", () => Buffer.concat(replies).length >= 10);
    const auth = Buffer.concat(replies).subarray(1);
    expect(String.fromCharCode(auth[0] as number)).toBe("R");
    expect(auth.readInt32BE(5)).toBe(3); // cleartext password
    socket.destroy();
  });

  it.each([
    ["a wrong password", { password: "wrong" }, "28P01", /password authentication failed/],
    ["another user", { user: "postgres" }, "28000", /not the user of this Hyperdrive config/],
    ["another database", { database: "postgres" }, "3D000", /not the database of this Hyperdrive config/],
  ] as [string, { user?: string; password?: string; database?: string }, string, RegExp][])(
    "refuses a client with %s",
    async (_what, overrides, code, message) => {
      const p = await pool();
      const url = new URL(p.url);
      if (overrides.user) url.username = overrides.user;
      if (overrides.password) url.password = overrides.password;
      if (overrides.database) url.pathname = `/${overrides.database}`;
      const c = new pg.Client({ connectionString: url.toString() });
      c.on("error", () => undefined);
      await expect(c.connect()).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
      expect(p.stats().opened).toBe(0);
    },
  );

  it("tells the client clearly when the origin cannot be reached or refuses the pool", async () => {
    const port = await freePort();
    const down = await pool({ origin: { ...origin, port } });
    const err = await connect(down).catch((e: pg.DatabaseError) => e);
    expect(err).toMatchObject({
      code: "08001",
      message: "Server connection attempt failed: connection_refused",
    });
    expect((err as pg.DatabaseError).detail).toContain(`127.0.0.1:${port}`);

    const refused = await pool({ origin: { ...origin, password: "not the role's" } });
    const c = new pg.Client({ connectionString: refused.url });
    c.on("error", () => undefined);
    await expect(c.connect()).rejects.toMatchObject({
      message: `Server connection attempt failed: password authentication failed for user "${origin.user}"`,
    });
    expect(refused.stats().open).toBe(0);
  });

  it("closes connections that stay idle longer than the idle timeout", async () => {
    const p = await pool({ idleTimeoutMs: 200 });
    await once(p, "SELECT 1");
    expect(p.stats().open).toBe(1);
    await until("closed", () => p.stats().open === 0, 3000);
    await until("gone from the server", async () => (await originBackends()) === 0);
    expect((await once<{ one: number }>(p, "SELECT 1 AS one"))[0]).toEqual({ one: 1 });
    expect(p.stats().opened).toBe(2);
  });

  it("gives a client whose origin backend is terminated an error, and recovers", async () => {
    const p = await pool();
    const a = await connect(p);
    await a.query("BEGIN");
    const pid = await pidOf(a);
    await rows(adminUrl, "SELECT pg_terminate_backend($1)", [pid]);
    await expect(a.query("SELECT 1")).rejects.toThrow();
    expect((await once<{ one: number }>(p, "SELECT 1 AS one"))[0]).toEqual({ one: 1 });
  });

  it("closes cleanly: clients are told, origin connections end, the port is released", async () => {
    const p = await pool();
    const a = await connect(p);
    await a.query("SELECT 1");
    await p.close();
    await expect(a.query("SELECT 1")).rejects.toThrow();
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, clients: 0 });
    await until("gone from the server", async () => (await originBackends()) === 0);
    await expect(connect(p)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});
