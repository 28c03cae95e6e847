import * as pulumi from "@pulumi/pulumi";
import * as esbuild from "esbuild";
import { buildIdentity, readCachedBuild, writeCachedBuild } from "./bundle-cache";
import type * as Runtime from "./migration-runtime";
import type { D1MigrationsInputs, PostgresConnection, SqlMigrationsInputs } from "./migration-runtime";
import { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "./migration-types";
import { packageRoot, siblingModule } from "./package-root";
import { shippedProvider } from "./provider-cache";

export type {
  D1MigrationsInputs,
  PostgresConnection,
  SqlMigrationsInputs,
  SslMode,
} from "./migration-runtime";

/**
 * Dynamic providers that apply the project's migration cores at `pulumi up`. Pulumi serializes a
 * provider's closure into the deployment and runs it in a provider host that cannot load TypeScript, and
 * the serializer cannot follow imports made through every loader (vitest's, for one). So the runtime
 * (migration-runtime.ts) is bundled into a CommonJS string, and each provider captures only that string
 * and evaluates it where it runs, requiring `pg` and `zod` from the project's dependencies. The bundle is
 * made on first use (the first migrations resource, or `migrationRuntimeSource()`), not when this module
 * is imported: importing the package's components reads no file and runs no bundler.
 */

export { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "./migration-types";

/** The runtime as one CommonJS string, from the bundle cache while none of its sources changed. */
function bundleRuntime(): string {
  // The TypeScript source in this repository, the compiled module when installed from the package.
  const runtimeEntry = siblingModule(__dirname, "migration-runtime");
  const workingDir = packageRoot();
  const identity = buildIdentity({
    entry: runtimeEntry,
    settings: "migration-runtime",
    configuredIn: [__filename],
  });
  const cached = readCachedBuild(identity);
  if (cached) return cached.text;
  const result = esbuild.buildSync({
    entryPoints: [runtimeEntry],
    absWorkingDir: workingDir,
    bundle: true,
    write: false,
    metafile: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    external: ["pg", "zod"],
    logLevel: "silent",
  });
  const text = result.outputFiles[0]!.text;
  writeCachedBuild(identity, result.metafile, workingDir, { text, exports: [] });
  return text;
}

/** What the providers run until the runtime is bundled: a clear error instead of a missing function. */
const NOT_BUNDLED = `throw new Error("the migration runtime is not bundled yet: create a migrations resource or call migrationRuntimeSource() first");`;

// The providers below capture only this and `loadRuntime` (see provider-cache.ts: what they capture is
// the key of their serialized text), never the bundler. It holds the bundle from the first call of
// `migrationRuntimeSource()`, which every migrations resource makes before its provider is serialized, so
// the text shipped to the engine is the one it was when the runtime was bundled at import.
let RUNTIME_SOURCE = NOT_BUNDLED;

/**
 * The migration runtime as one CommonJS string, bundled (or read from the bundle cache) on the first call
 * and kept for the process. Creating a migrations resource calls it; so must whoever calls a provider's
 * methods in this process without creating one (tests).
 */
export function migrationRuntimeSource(): string {
  if (RUNTIME_SOURCE === NOT_BUNDLED) RUNTIME_SOURCE = bundleRuntime();
  return RUNTIME_SOURCE;
}

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

/**
 * The `__provider` input `pulumi.dynamic.Resource` gives a resource, from the serialized-provider cache.
 * The resources below are registered exactly as `pulumi.dynamic.Resource` registers them (same type
 * token `pulumi-nodejs:dynamic/<module>:<type>`, same `__provider` text), so the engine's dynamic
 * provider host runs them as such; only the serialization is not repeated on every evaluation.
 */
const shipped = (provider: pulumi.dynamic.ResourceProvider, name: string) =>
  shippedProvider(provider, {
    definedIn: __filename,
    name,
    captures: [migrationRuntimeSource(), String(loadRuntime)],
  });

/** SQL migrations applied to a PostgreSQL database by the project's migration core. */
export class SqlMigrations extends pulumi.CustomResource {
  constructor(
    name: string,
    inputs: Omit<InputsOf<SqlMigrationsInputs>, "connection"> & {
      /** The connection as one value, or field by field (each field's own secrecy kept). */
      connection: pulumi.Input<InputsOf<PostgresConnection>>;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    // Each connection field keeps the secrecy it was given and the password is always secret, so a diff
    // shows which server and database the migrations go to; the outputs repeat the connection and stay
    // secret whole (below).
    const given = inputs.connection;
    const field = <K extends keyof PostgresConnection>(key: K): pulumi.Input<PostgresConnection[K]> =>
      pulumi.Output.isInstance(given) || typeof (given as PromiseLike<unknown>).then === "function"
        ? pulumi.output(given).apply((c) => (c as PostgresConnection)[key])
        : (given as InputsOf<PostgresConnection>)[key];
    const props = {
      ...inputs,
      connection: {
        host: field("host"),
        port: field("port"),
        user: field("user"),
        password: pulumi.secret(field("password")),
        database: field("database"),
        sslMode: field("sslMode"),
      },
      __provider: shipped(sqlMigrationsProvider, "sqlMigrationsProvider"),
    };
    // The outputs repeat the inputs, password included: keep them secret in state and in diffs.
    super(SQL_MIGRATIONS_TYPE, name, props, withSecretOutputs(opts, ["connection"]));
  }
}

/** D1 migrations applied through the D1 query API. */
export class D1Migrations extends pulumi.CustomResource {
  constructor(name: string, inputs: InputsOf<D1MigrationsInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      D1_MIGRATIONS_TYPE,
      name,
      {
        ...inputs,
        // The API token is a secret however it is given, in the inputs as in the outputs.
        ...(inputs.apiToken !== undefined ? { apiToken: pulumi.secret(inputs.apiToken) } : {}),
        __provider: shipped(d1MigrationsProvider, "d1MigrationsProvider"),
      },
      withSecretOutputs(opts, ["apiToken"]),
    );
  }
}
