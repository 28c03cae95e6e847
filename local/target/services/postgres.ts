import path from "node:path";
import { startEmbeddedPostgres } from "../../postgres-server";
import { startHyperdrivePools } from "../hyperdrive/pool";
import { applyPostgresGraph } from "../postgres-apply";
import { need, type TargetService } from "./context";

/**
 * The embedded server on the port chosen for it, or the external one given by URL (nothing to stop), or
 * none when the graph needs no PostgreSQL.
 */
export const postgresServer: TargetService = {
  name: "PostgreSQL",
  start: async (ctx) => {
    const { databaseUrl } = ctx.options;
    const address = need(ctx, "postgresAddress");
    if (address === undefined) {
      ctx.postgresUrl = undefined;
      return {};
    }
    if (databaseUrl) {
      ctx.log("using external PostgreSQL");
      ctx.postgresUrl = databaseUrl;
      return {};
    }
    ctx.log("starting PostgreSQL (embedded)");
    const server = await startEmbeddedPostgres({
      dataDir: path.join(ctx.stateDir, "postgres"),
      port: address.port,
      onNotice: ctx.log,
    });
    ctx.postgresUrl = server.url;
    return { stop: () => server.stop(), signalStop: () => server.signalStop() };
  },
};

/** The graph's PostgreSQL roles, database, schema, grants and SQL migrations, applied to the server. */
export const postgresResources: TargetService = {
  name: "PostgreSQL resources",
  start: async (ctx) => {
    const adminUrl = need(ctx, "postgresUrl");
    if (adminUrl === undefined) return {};
    ctx.log("applying PostgreSQL roles, database, schema, grants and SQL migrations");
    const applied = await applyPostgresGraph(need(ctx, "resources"), {
      adminUrl,
      log: ctx.log,
    });
    for (const m of applied.migrated) {
      const what = m.applied.length === 0 ? "up to date" : `applied ${m.applied.join(", ")}`;
      ctx.log(`  ${m.database}.${m.schema}: ${what}`);
    }
    return {};
  },
};

/**
 * As Hyperdrive keeps warm connections to its origin, each config gets a pool in front of the server. A
 * pool only needs the server's address: it connects when a Worker does.
 */
export const hyperdrivePools: TargetService = {
  name: "Hyperdrive pools",
  start: async (ctx) => {
    const { hyperdrives } = need(ctx, "plan");
    const address = need(ctx, "postgresAddress");
    // A graph with Hyperdrive configs always gets a server (ports); without one there is nothing to pool.
    if (address === undefined && hyperdrives.length > 0)
      throw new Error("Hyperdrive configs need a PostgreSQL server");
    const pools = await startHyperdrivePools(hyperdrives, address ?? { host: "127.0.0.1", port: 0 });
    ctx.hyperdrives = pools;
    return { stop: () => pools.close() };
  },
};
