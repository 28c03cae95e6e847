import { mkdirSync } from "node:fs";
import path from "node:path";
import { tokenSecret } from "../../cloudflare-api/secret";
import type { WorkerHost, WorkerVersion } from "../../cloudflare-api/types";
import { need, type TargetContext, type TargetService } from "./context";

/** Where the stand-in keeps what was deployed through it, under the state folder (`--reset` removes it). */
export const cloudflareStateDir = (stateDir: string) => path.join(stateDir, "cloudflare");

/** The stand-in's token secret (made by the first start; see `local/cloudflare-api/secret.ts`). */
export const cloudflareTokenSecret = (stateDir: string) => tokenSecret(cloudflareStateDir(stateDir));

/** What the Cloudflare API stand-in provides to the rest of the target. */
export interface LocalCloudflareApi {
  /** `http://127.0.0.1:<port>/client/v4`: what wrangler's `CLOUDFLARE_API_BASE_URL` is set to. */
  url: string;
  /** The stand-in's token for an account. */
  tokenFor(accountId: string): Promise<string>;
  /**
   * Script name → URL of its own port, for each Worker deployed through the stand-in; a name deployed in
   * more than one account is listed as `<script>@<account>` for every account but the first.
   */
  deployed(): Record<string, string>;
  /** Answers a request that came to the entry port for a `*.workers.dev` host name. */
  dispatch(request: Request): Promise<Response>;
}

/**
 * Wraps the host so that the target learns which scripts are deployed (the endpoints file lists them as
 * they appear); the API talks to the wrapper.
 */
function trackingHost(host: WorkerHost, onChange: () => void) {
  const scripts = new Map<string, { accountId: string; scriptName: string }>();
  const key = (accountId: string, scriptName: string) => `${accountId}\u0000${scriptName}`;
  const wrapped: WorkerHost = {
    check: (version) => host.check(version),
    preview: (version) => host.preview(version),
    migrate: (accountId, scriptName, steps) => host.migrate(accountId, scriptName, steps),
    dispatch: (request) => host.dispatch(request),
    urlOf: (accountId, scriptName) => host.urlOf(accountId, scriptName),
    close: () => host.close(),
    deploy: async (version: WorkerVersion) => {
      await host.deploy(version);
      const k = key(version.accountId, version.scriptName);
      if (!scripts.has(k)) {
        scripts.set(k, { accountId: version.accountId, scriptName: version.scriptName });
        onChange();
      }
    },
    remove: async (accountId, scriptName) => {
      await host.remove(accountId, scriptName);
      if (scripts.delete(key(accountId, scriptName))) onChange();
    },
  };
  const deployed = () => {
    const out: Record<string, string> = {};
    for (const { accountId, scriptName } of scripts.values()) {
      const url = host.urlOf(accountId, scriptName);
      if (!url) continue;
      out[scriptName in out ? `${scriptName}@${accountId}` : scriptName] = url;
    }
    return out;
  };
  return { wrapped, deployed };
}

/**
 * The local stand-in for the part of the Cloudflare API that wrangler deploys with, on the port chosen
 * for it (ports): Workers deployed through it run on workerd, each on a port of its own and by its
 * workers.dev host name on the entry port, and come back after a restart. Started beside workerd; what
 * was deployed before is running again before the target reports ready.
 */
export const cloudflareApi: TargetService = {
  name: "Cloudflare API",
  start: async (ctx: TargetContext) => {
    const port = need(ctx, "cloudflareApiPort");
    const root = cloudflareStateDir(ctx.stateDir);
    mkdirSync(root, { recursive: true });
    const { createWorkerHost } =
      require("../../cloudflare-api/host") as typeof import("../../cloudflare-api/host");
    const { startCloudflareApi } =
      require("../../cloudflare-api/api") as typeof import("../../cloudflare-api/api");
    let changed = () => {};
    const host = createWorkerHost({
      dataDir: path.join(root, "data"),
      portFile: path.join(root, "ports.json"),
      log: ctx.log,
    });
    const tracking = trackingHost(host, () => changed());
    let api: Awaited<ReturnType<typeof startCloudflareApi>>;
    try {
      api = await startCloudflareApi({ root, host: tracking.wrapped, log: ctx.log, port });
    } catch (error) {
      await host.close().catch(() => undefined);
      throw error;
    }
    const provided: LocalCloudflareApi = {
      url: api.url,
      tokenFor: (accountId) => api.tokenFor(accountId),
      deployed: tracking.deployed,
      dispatch: (request) => host.dispatch(request),
    };
    ctx.cloudflare = provided;
    // From now on, a Worker that appears is written to the endpoints file (once that was first written).
    changed = () => ctx.onDeployedChange?.();
    return {
      stop: async () => {
        changed = () => {};
        await api.close();
        await host.close();
      },
    };
  },
};
