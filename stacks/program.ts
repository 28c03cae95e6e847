import { BuildsPlatform } from "../components/builds-platform";
import { FrameworkApp } from "../components/framework-app";
import type { StackConfig } from "./config";
import { FRAMEWORK_APP } from "./framework-app";

/** Declares the whole platform for one stack's validated config. */
export function definePlatform(config: StackConfig): { builds: BuildsPlatform; demo: FrameworkApp } {
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
    ...(config.access ? { access: config.access } : {}),
    workersDev: config.workersDev,
    protect: config.protect,
  });
  // The framework app (workers-src/demo), under the name its resources have always had.
  const demo = new FrameworkApp("demo", {
    app: FRAMEWORK_APP,
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
