import { BuildsPlatform } from "../components/builds-platform";
import { FrameworkDemo } from "../components/framework-demo";
import type { StackConfig } from "./config";

/** Declares the whole platform for one stack's validated config. */
export function definePlatform(config: StackConfig): { builds: BuildsPlatform; demo: FrameworkDemo } {
  const observability = {
    enabled: config.observability.enabled,
    headSamplingRate: config.observability.headSamplingRate,
    invocationLogs: config.observability.invocationLogs,
  };
  const domain = (hostname: string | undefined) =>
    hostname && config.domains ? { hostname, zoneId: config.domains.zoneId } : undefined;
  const builds = new BuildsPlatform("builds", {
    accountId: config.accountId,
    compatibilityDate: config.compatibilityDate,
    postgres: { ...config.postgres, adminPassword: config.secrets.postgresAdminPassword },
    hyperdrive: config.hyperdrive,
    placement: { client: config.placement.client, management: config.placement.management },
    observability,
    builds: config.builds,
    apiJwtSecret: config.secrets.apiJwtSecret,
    buildVariablesKey: config.secrets.buildVariablesKey,
    runnerToken: config.secrets.runnerToken,
    release: config.release,
    allowFileRepos: config.environment === "local",
    clientDomain: domain(config.domains?.client),
    workersDev: config.workersDev,
    protect: config.protect,
  });
  const demo = new FrameworkDemo("demo", {
    accountId: config.accountId,
    compatibilityDate: config.compatibilityDate,
    placement: config.placement.demo,
    observability,
    domain: domain(config.domains?.demo),
    workersDev: config.workersDev,
    protect: config.protect,
  });
  return { builds, demo };
}
