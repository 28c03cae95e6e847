import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as esbuild from "esbuild";
import type * as Runtime from "./migration-runtime";
import type { D1MigrationsInputs, SqlMigrationsInputs } from "./migration-runtime";

export {
  type D1MigrationsInputs,
  type PostgresConnection,
  pgClientSettings,
  type SqlMigrationsInputs,
  type SslMode,
} from "./migration-runtime";

/**
 * Dynamic providers that apply the project's migration cores at `pulumi up`. Pulumi serializes a
 * provider's closure into the deployment and runs it in a provider host that cannot load TypeScript, and
 * the serializer cannot follow imports made through every loader (vitest's, for one). So the runtime
 * (migration-runtime.ts) is bundled once into a CommonJS string, and each provider captures only that
 * string and evaluates it where it runs, requiring `pg` and `zod` from the project's dependencies.
 */

const MODULE = "workers-platform";

export { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "./migration-types";

const RUNTIME_SOURCE = esbuild.buildSync({
  entryPoints: [path.join(__dirname, "migration-runtime.ts")],
  bundle: true,
  write: false,
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["pg", "zod"],
  logLevel: "silent",
}).outputFiles[0]!.text;

function loadRuntime(source: string): typeof Runtime {
  const mod = { exports: {} as typeof Runtime };
  new Function("module", "exports", "require", source)(mod, mod.exports, require);
  return mod.exports;
}

/** Applies SQL migrations to PostgreSQL; `check` refuses bad changes at preview, before anything runs. */
export const sqlMigrationsProvider: pulumi.dynamic.ResourceProvider = {
  check: async (olds, news) => loadRuntime(RUNTIME_SOURCE).checkSql(olds, news),
  diff: async (_id, olds, news) => loadRuntime(RUNTIME_SOURCE).diffSql(olds, news),
  create: async (inputs) => {
    const outs = await loadRuntime(RUNTIME_SOURCE).applySql(inputs);
    return { id: `${outs.connection.database}.${outs.schema}`, outs };
  },
  update: async (_id, _olds, news) => ({ outs: await loadRuntime(RUNTIME_SOURCE).applySql(news) }),
  // Tables hold the platform's data: forgetting the migrations resource must not drop them.
  delete: async () => {},
};

/** Applies D1 migrations through Cloudflare's D1 query API, recorded in wrangler's `d1_migrations` table. */
export const d1MigrationsProvider: pulumi.dynamic.ResourceProvider = {
  check: async (olds, news) => loadRuntime(RUNTIME_SOURCE).checkD1(olds, news),
  diff: async (_id, olds, news) => loadRuntime(RUNTIME_SOURCE).diffD1(olds, news),
  create: async (inputs) => {
    const outs = await loadRuntime(RUNTIME_SOURCE).applyD1(inputs);
    return { id: `${outs.databaseId}-migrations`, outs };
  },
  update: async (_id, _olds, news) => ({ outs: await loadRuntime(RUNTIME_SOURCE).applyD1(news) }),
  delete: async () => {},
};

type InputsOf<T> = { [K in keyof T]: pulumi.Input<T[K]> };

function withSecretOutputs(
  opts: pulumi.CustomResourceOptions | undefined,
  keys: string[],
): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...keys] };
}

/** SQL migrations applied to a PostgreSQL database by the project's migration core. */
export class SqlMigrations extends pulumi.dynamic.Resource {
  constructor(name: string, inputs: InputsOf<SqlMigrationsInputs>, opts?: pulumi.CustomResourceOptions) {
    const props = { ...inputs, connection: pulumi.secret(inputs.connection) };
    // The outputs repeat the inputs, password included: keep them secret in state and in diffs.
    super(
      sqlMigrationsProvider,
      name,
      props,
      withSecretOutputs(opts, ["connection"]),
      MODULE,
      "SqlMigrations",
    );
  }
}

/** D1 migrations applied through the D1 query API. */
export class D1Migrations extends pulumi.dynamic.Resource {
  constructor(name: string, inputs: InputsOf<D1MigrationsInputs>, opts?: pulumi.CustomResourceOptions) {
    super(d1MigrationsProvider, name, inputs, withSecretOutputs(opts, ["apiToken"]), MODULE, "D1Migrations");
  }
}
