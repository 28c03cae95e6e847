import { writeFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_DEV_ACCOUNT, devTokenSecretOf, signDevToken } from "../../dev-token";
import { need, type TargetService } from "./context";

/** `endpoints.json` in the state folder: each Worker's URL and PostgreSQL's, for other processes. */
export const endpointsFile: TargetService = {
  name: "endpoints file",
  start: async (ctx) => {
    const mf = need(ctx, "mf");
    const workers: Record<string, string> = {};
    for (const w of need(ctx, "plan").workers)
      workers[w.name] = (await mf.unsafeGetDirectURL(w.name)).toString().replace(/\/$/, "");
    ctx.workers = workers;
    writeFileSync(
      path.join(ctx.stateDir, "endpoints.json"),
      `${JSON.stringify({ workers, postgres: need(ctx, "postgresUrl") ?? null }, null, 2)}\n`,
    );
    return {};
  },
};

/** "ready in": what is not emulated, how long the start took, where each Worker and host answers. */
export const readyReport: TargetService = {
  name: "ready report",
  start: async (ctx) => {
    const { log } = ctx;
    const plan = need(ctx, "plan");
    const entryUrl = need(ctx, "entryUrl");
    for (const n of plan.notEmulated) log(`not emulated locally: ${n.type} (${n.reason}): ${n.name}`);
    log(`ready in ${((Date.now() - ctx.startedAt) / 1000).toFixed(1)} s`);
    for (const [name, url] of Object.entries(need(ctx, "workers"))) log(`  ${name.padEnd(40)} ${url}`);
    for (const h of plan.hosts) log(`  ${h.host.padEnd(40)} ${entryUrl} (Host: ${h.host}) → ${h.scriptName}`);
    if (!need(ctx, "runners").isReady())
      log("build runner still starting: a build started meanwhile waits for it");
    return {};
  },
};

/** A development token of the builds platform's REST API, printed when the graph has one. */
export const devToken: TargetService = {
  name: "development token",
  start: async (ctx) => {
    const jwtSecret = devTokenSecretOf(need(ctx, "plan").services);
    const token = jwtSecret ? signDevToken(jwtSecret) : undefined;
    ctx.devToken = token;
    if (token)
      ctx.log(
        `development token (account ${DEFAULT_DEV_ACCOUNT}, 24 h; npm run token for another): ${token}`,
      );
    return {};
  },
};
