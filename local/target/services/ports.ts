import { freePort } from "../../ports";
import { startLocalBuildRunners } from "../build-runner";
import { usesPostgres } from "../postgres-graph";
import { cloudflareTokenSecret } from "./cloudflare-api";
import { need, type TargetService } from "./context";

/**
 * Every port, chosen up front: the embedded PostgreSQL's (when the graph needs one) (the Workers only need its port to be known, so
 * workerd starts beside it), each Worker's (so that a Worker keeps its URL when workerd restarts), and the
 * build runners' (their Workers' vars name them; the runners themselves start once workerd is up), and
 * the Cloudflare API stand-in's (the runners' builds deploy through it).
 */
export const ports: TargetService = {
  name: "ports",
  start: async (ctx) => {
    const plan = need(ctx, "plan");
    const { databaseUrl } = ctx.options;
    if (!usesPostgres(need(ctx, "resources"), plan.hyperdrives.length)) {
      ctx.postgresAddress = undefined;
    } else if (databaseUrl) {
      const url = new URL(databaseUrl);
      ctx.postgresAddress = { host: url.hostname, port: Number(url.port || 5432) };
    } else {
      ctx.postgresAddress = { host: "127.0.0.1", port: await freePort() };
    }
    const workerPorts = new Map<string, number>();
    for (const w of plan.workers) workerPorts.set(w.name, await freePort());
    const workerUrls = Object.fromEntries(
      [...workerPorts].map(([name, port]) => [name, `http://127.0.0.1:${port}`]),
    );
    ctx.workerPorts = workerPorts;
    // The Cloudflare API stand-in's, so that the builds platform's runners can be pointed at it.
    const cloudflareApiPort = await freePort();
    ctx.cloudflareApiPort = cloudflareApiPort;
    ctx.runners = await startLocalBuildRunners(plan.services, workerUrls, ctx.stateDir, ctx.log, {
      cloudflareApi: {
        url: `http://127.0.0.1:${cloudflareApiPort}/client/v4`,
        tokenSecret: cloudflareTokenSecret(ctx.stateDir),
      },
    });
    return {};
  },
};
