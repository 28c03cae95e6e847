import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_DEV_ACCOUNT, devTokenServiceOf, signDevToken } from "../../dev-token";
import { need, type TargetService } from "./context";

/**
 * `endpoints.json` in the state folder, for other processes: each Worker's URL, PostgreSQL's, the entry
 * port's (custom domains, routes and workers.dev host names, by `Host`), the Cloudflare API stand-in's,
 * and each Worker deployed through the stand-in, rewritten as they appear.
 */
export const endpointsFile: TargetService = {
  name: "endpoints file",
  start: async (ctx) => {
    const mf = need(ctx, "mf");
    const workers: Record<string, string> = {};
    for (const w of need(ctx, "plan").workers)
      workers[w.name] = (await mf.unsafeGetDirectURL(w.name)).toString().replace(/\/$/, "");
    ctx.workers = workers;
    const cloudflare = need(ctx, "cloudflare");
    const file = path.join(ctx.stateDir, "endpoints.json");
    const write = () => {
      const endpoints = {
        workers,
        postgres: need(ctx, "postgresUrl") ?? null,
        entry: need(ctx, "entryUrl").replace(/\/$/, ""),
        cloudflareApi: cloudflare.url,
        deployed: cloudflare.deployed(),
      };
      // Whole or not at all: a reader never sees half a file.
      writeFileSync(`${file}.tmp`, `${JSON.stringify(endpoints, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
    };
    write();
    ctx.onDeployedChange = write;
    return {
      stop: () => {
        ctx.onDeployedChange = () => {};
      },
    };
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
    const cloudflare = need(ctx, "cloudflare");
    log(`  ${"Cloudflare API (for wrangler)".padEnd(40)} ${cloudflare.url}`);
    for (const [name, url] of Object.entries(cloudflare.deployed()))
      log(`  ${`${name} (deployed)`.padEnd(40)} ${url}`);
    if (!need(ctx, "runners").isReady())
      log("build runner still starting: a build started meanwhile waits for it");
    return {};
  },
};

/** A development token of the builds platform's REST API, printed when the graph has one. */
export const devToken: TargetService = {
  name: "development token",
  start: async (ctx) => {
    const service = devTokenServiceOf(need(ctx, "plan").services);
    const token = service ? signDevToken(service.secret) : undefined;
    ctx.devToken = token;
    ctx.dashboard = undefined;
    if (service && token) {
      ctx.log(
        `development token (account ${DEFAULT_DEV_ACCOUNT}, 24 h; npm run token for another): ${token}`,
      );
      const api = need(ctx, "workers")[service.scriptName];
      if (api) {
        // The fragment never reaches a server; the page keeps the token for its tab and drops it from the URL.
        ctx.dashboard = `${api}/#token=${token}`;
        ctx.log(`builds dashboard (signed in as ${DEFAULT_DEV_ACCOUNT}): ${ctx.dashboard}`);
      }
    }
    return {};
  },
};
