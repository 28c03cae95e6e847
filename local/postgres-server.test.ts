import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "./postgres-server";

const dir = mkdtempSync(path.join(tmpdir(), "wp-pgserver-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("startEmbeddedPostgres", () => {
  it("initialises a cluster once, keeps its data across restarts, and stops cleanly", async () => {
    const dataDir = path.join(dir, "keep");
    const first = await startEmbeddedPostgres({ dataDir });
    await query(first.url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)");
    await first.stop();
    await expect(query(first.url, "SELECT 1")).rejects.toThrow();
    const second = await startEmbeddedPostgres({ dataDir });
    expect(await query(second.url, "SELECT n FROM kept")).toEqual([{ n: 42 }]);
    await second.stop();
  }, 60_000);

  it("takes over a server that an earlier owner left running on the same data folder", async () => {
    const dataDir = path.join(dir, "takeover");
    const leftover = await startEmbeddedPostgres({ dataDir });
    const notices: string[] = [];
    const next = await startEmbeddedPostgres({ dataDir, onNotice: (l) => notices.push(l) });
    expect(notices).toEqual([expect.stringMatching(/^stopping a PostgreSQL \(pid \d+\) left running on /)]);
    await expect(query(leftover.url, "SELECT 1")).rejects.toThrow();
    expect(await query(next.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    await next.stop();
  }, 60_000);

  it("deletes an ephemeral cluster on stop", async () => {
    const dataDir = path.join(dir, "ephemeral");
    const server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    await server.stop();
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);
});
