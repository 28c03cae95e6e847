import path from "node:path";
import { miniflareOptions } from "../miniflare-plan";
import { tetherWorkerd } from "../workerd-tether";
import { need, type TargetService } from "./context";

/**
 * Miniflare takes about 0.4 s of one core to load. It is loaded only once PostgreSQL is spawned, so that
 * its start runs on the other cores meanwhile instead of after it.
 */
function loadMiniflare(): typeof import("miniflare") {
  return require("miniflare");
}

/** Every Worker of the plan on workerd (through Miniflare), on the ports chosen for them. */
export const workerd: TargetService = {
  name: "workerd",
  start: async (ctx) => {
    const plan = need(ctx, "plan");
    ctx.log(`starting workerd with ${plan.workers.length} Worker(s)`);
    const { Miniflare, convertV4MiniflareOptions } = loadMiniflare();
    const mfOptions = convertV4MiniflareOptions(
      miniflareOptions(plan, {
        persistencePath: path.join(ctx.stateDir, "miniflare"),
        hyperdriveUrls: need(ctx, "hyperdrives").urls,
        ports: need(ctx, "workerPorts"),
        vars: need(ctx, "runners").vars,
        // The stand-in starts beside workerd; a request before it is up is told so.
        workersDev: async (request) => {
          if (!ctx.cloudflare)
            return new Response("the Cloudflare API stand-in is still starting\n", { status: 503 });
          // workerd adds `Accept-Encoding` to every request it hands on; asked for identity, the deployed
          // Worker's Miniflare does not compress an answer the client may not have asked to be compressed.
          // (Miniflare's Request is its own undici's: the copy is made from its parts.)
          const headers = new Headers([...request.headers]);
          headers.set("accept-encoding", "identity");
          const bodyless = request.method === "GET" || request.method === "HEAD";
          const body = bodyless ? null : await request.arrayBuffer();
          return ctx.cloudflare.dispatch(new Request(request.url, { method: request.method, headers, body }));
        },
      }),
    );
    tetherWorkerd();
    const mf = new Miniflare(mfOptions);
    let entry: URL;
    try {
      entry = await mf.ready;
    } catch (err) {
      await mf.dispose().catch(() => undefined);
      throw err;
    }
    ctx.mf = mf;
    ctx.mfOptions = mfOptions;
    ctx.entryUrl = entry.toString();
    return { stop: () => mf.dispose() };
  },
};

/**
 * The build runners' processes, started once workerd is up so that their start does not compete with
 * workerd's. The target does not wait for them (`runnersReady` does). They stop before workerd, while
 * their builds can still report to it.
 */
export const buildRunners: TargetService = {
  name: "build runners",
  start: async (ctx) => {
    const runners = need(ctx, "runners");
    runners.start();
    return { stop: () => runners.stop(), signalStop: () => runners.signalStop() };
  },
};
