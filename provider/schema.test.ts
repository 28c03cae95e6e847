// Starts this folder as Pulumi starts a source-based component plugin (`pulumi package add <dir>`: the
// Node language host runs @pulumi/pulumi's run-plugin on the folder, in the program's directory) and asks it
// over gRPC for its schema, as the CLI does before generating an SDK. Two copies are started: the
// repository's, and one laid out as the installed package, without typescript, which serves the schema.
// The repository's copy is only asked its version: its analysis also parses the components' sources (and
// @pulumi/cloudflare's types) and takes several times as long, for the same schema, since the analyzer
// stops at the provider's classes. No Pulumi CLI and no engine: Construct is not called (see README.md).
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Plugin, schemaOf, startPlugin as start, versionOf } from "../test/package/plugin-client";

const ROOT = path.join(__dirname, "..");

/** The files of provider/ the package ships: everything but the tests and the README. */
const shipped = (file: string) => !file.endsWith(".test.ts") && file !== "README.md";

const started: Plugin[] = [];
const temporary: string[] = [];

async function startPlugin(dir: string, cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Plugin> {
  const plugin = await start(dir, cwd, { env });
  started.push(plugin);
  return plugin;
}

/**
 * The package as npm installs it: provider/'s shipped files, the dependencies beside it, and dist/provider,
 * which here stands in for the build's output by loading the provider's sources with the project's loader.
 * No components/ sources: the schema must come from provider/ alone.
 */
function installedLayout(): string {
  const pkg = path.join(mkdtempSync(path.join(tmpdir(), "wp-provider-")), "workers-platform");
  temporary.push(path.dirname(pkg));
  mkdirSync(path.join(pkg, "provider"), { recursive: true });
  for (const file of readdirSync(__dirname).filter(shipped)) {
    copyFileSync(path.join(__dirname, file), path.join(pkg, "provider", file));
  }
  symlinkSync(path.join(ROOT, "node_modules"), path.join(pkg, "node_modules"), "dir");
  mkdirSync(path.join(pkg, "dist", "provider"), { recursive: true });
  writeFileSync(
    path.join(pkg, "dist", "provider", "index.js"),
    `require(${JSON.stringify(path.join(ROOT, "local", "register.cjs"))});\n` +
      `module.exports = require(${JSON.stringify(path.join(__dirname, "index.ts"))});\n`,
  );
  return path.join(pkg, "provider");
}

/**
 * An environment in which `typescript` cannot be loaded, as where the package is installed for a program
 * in another language (it is a development dependency): the analyzer then uses @pulumi/pulumi's own copy.
 */
function withoutTypeScript(dir: string): NodeJS.ProcessEnv {
  const hide = path.join(dir, "hide-typescript.cjs");
  writeFileSync(
    hide,
    `const Module = require("node:module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "typescript" || request.startsWith("typescript/")) {
    throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: "MODULE_NOT_FOUND" });
  }
  return resolve.call(this, request, ...rest);
};
`,
  );
  return { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${hide}` };
}

let fromRepository: Plugin;
let fromInstalled: Plugin;
let installedEnv: NodeJS.ProcessEnv;
let installedDir: string;
// The plugin analyzes its sources on the first request, made once here and awaited by the tests.
let schema: Promise<Record<string, unknown>>;

beforeAll(async () => {
  // A program's directory with no tsconfig.json, as a Python or YAML program's is.
  const programDir = mkdtempSync(path.join(tmpdir(), "wp-program-"));
  temporary.push(programDir);
  installedEnv = withoutTypeScript(programDir);
  installedDir = installedLayout();
  [fromRepository, fromInstalled] = await Promise.all([
    startPlugin(__dirname, programDir),
    startPlugin(installedDir, programDir, installedEnv),
  ]);
  schema = schemaOf(fromInstalled);
  // A rejection is reported by the tests that await it, not as an unhandled one here.
  schema.catch(() => {});
});

afterAll(() => {
  for (const plugin of started) plugin.stop();
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

// Schema property builders, in the analyzer's output shape (key order does not matter to toEqual).
type Prop = Record<string, unknown>;
const STRING: Prop = { type: "string" };
const NUMBER: Prop = { type: "number" };
const BOOLEAN: Prop = { type: "boolean" };
const ref = (name: string): Prop => ({ $ref: `#/types/workers-platform:index:${name}` });
/** Not wrapped in `Input<>` in the args: SDKs take a plain value, not an Output. */
const plain = (p: Prop): Prop => ({ ...p, plain: true });
const optional = (p: Prop): Prop => ({ ...p, optional: true });
const arrayOf = (items: Prop): Prop => ({ type: "array", items });
const mapOf = (additionalProperties: Prop): Prop => ({ type: "object", additionalProperties });
const plainStrings = plain(arrayOf(plain(STRING)));

/** Required names are the ones not marked optional, sorted, as the schema lists them. */
const requiredOf = (props: Record<string, Prop>) =>
  Object.keys(props)
    .filter((k) => !props[k]?.optional)
    .sort();

const resource = (inputs: Record<string, Prop>, outputs: Record<string, Prop>) => ({
  type: "object",
  isComponent: true,
  inputProperties: inputs,
  requiredInputs: requiredOf(inputs),
  properties: outputs,
  required: requiredOf(outputs),
});

const objectType = (properties: Record<string, Prop>) => ({
  type: "object",
  properties,
  required: requiredOf(properties),
});

const enumType = (members: Record<string, string>) => ({
  type: "string",
  enum: Object.entries(members).map(([name, value]) => ({ name, value })),
});

const ACCOUNT_ID = STRING;

const EXPECTED_RESOURCES = {
  "workers-platform:index:KvNamespace": resource(
    { accountId: ACCOUNT_ID, title: optional(STRING), protect: optional(plain(BOOLEAN)) },
    { id: STRING, title: STRING },
  ),
  "workers-platform:index:R2Bucket": resource(
    {
      accountId: ACCOUNT_ID,
      bucketName: optional(plain(STRING)),
      location: optional(STRING),
      expiryRules: optional(plain(arrayOf(plain(ref("R2ExpiryRule"))))),
      protect: optional(plain(BOOLEAN)),
    },
    { bucketName: STRING },
  ),
  "workers-platform:index:D1Database": resource(
    {
      accountId: ACCOUNT_ID,
      databaseName: optional(plain(STRING)),
      migrationsDir: optional(plain(STRING)),
      allowDataLoss: optional(plainStrings),
      readReplication: optional(plain(BOOLEAN)),
      protect: optional(plain(BOOLEAN)),
    },
    { id: STRING, databaseName: STRING },
  ),
  "workers-platform:index:Queue": resource(
    {
      accountId: ACCOUNT_ID,
      queueName: optional(plain(STRING)),
      deliveryDelaySeconds: optional(plain(NUMBER)),
      retentionSeconds: optional(plain(NUMBER)),
    },
    { id: STRING, queueName: STRING },
  ),
  "workers-platform:index:Hyperdrive": resource(
    {
      accountId: ACCOUNT_ID,
      configName: optional(plain(STRING)),
      origin: ref("PostgresOrigin"),
      caching: optional(plain(ref("HyperdriveCaching"))),
      originConnectionLimit: optional(plain(NUMBER)),
    },
    { id: STRING },
  ),
  "workers-platform:index:Postgres": resource(
    {
      host: STRING,
      port: optional(plain(NUMBER)),
      adminUser: STRING,
      adminPassword: STRING,
      adminDatabase: optional(plain(STRING)),
      sslMode: optional(plain(ref("SslMode"))),
      database: plain(STRING),
      schema: plain(STRING),
      appRole: plain(STRING),
      extensions: optional(plainStrings),
      migrationsDir: optional(plain(STRING)),
      allowDataLoss: optional(plainStrings),
      protect: optional(plain(BOOLEAN)),
    },
    { appPassword: STRING, appConnection: ref("PostgresOrigin") },
  ),
  "workers-platform:index:Worker": resource(
    {
      accountId: ACCOUNT_ID,
      scriptName: optional(plain(STRING)),
      entry: plain(STRING),
      compatibilityDate: plain(STRING),
      compatibilityFlags: optional(plainStrings),
      nodejsCompat: optional(plain(BOOLEAN)),
      define: optional(plain(mapOf(plain(STRING)))),
      durableObjectMigrations: optional(plain(arrayOf(plain(ref("DurableObjectMigration"))))),
      placement: optional(plain(ref("Placement"))),
      observability: optional(plain(ref("WorkerObservability"))),
      crons: optional(plainStrings),
      customDomains: optional(plain(arrayOf(plain(ref("WorkerCustomDomain"))))),
      routes: optional(plain(arrayOf(plain(ref("WorkerRoute"))))),
      workersDev: optional(plain(BOOLEAN)),
      queueConsumers: optional(plain(arrayOf(plain(ref("QueueConsumer"))))),
      // Binding maps are plain (their keys are fixed when the program runs); ids and names may be Outputs.
      kvNamespaces: optional(plain(mapOf(STRING))),
      d1Databases: optional(plain(mapOf(STRING))),
      r2Buckets: optional(plain(mapOf(STRING))),
      hyperdrives: optional(plain(mapOf(STRING))),
      durableObjects: optional(plain(mapOf(plain(ref("DurableObjectBinding"))))),
      services: optional(plain(mapOf(plain(ref("ServiceBinding"))))),
      queues: optional(plain(mapOf(STRING))),
      analyticsEngineDatasets: optional(plain(mapOf(plain(STRING)))),
      vars: optional(plain(mapOf(STRING))),
      secrets: optional(plain(mapOf(STRING))),
      ai: optional(plain(STRING)),
    },
    { scriptName: STRING, bundleSha256: STRING },
  ),
  "workers-platform:index:BuildsPlatform": resource(
    {
      accountId: ACCOUNT_ID,
      compatibilityDate: plain(STRING),
      postgres: plain(ref("BuildsPostgres")),
      hyperdrive: plain(ref("BuildsHyperdrive")),
      placement: plain(ref("BuildsPlacement")),
      observability: plain(ref("WorkerObservability")),
      builds: plain(ref("BuildLimits")),
      apiJwtSecret: STRING,
      buildVariablesKey: STRING,
      runnerToken: STRING,
      release: plain(STRING),
      allowFileRepos: optional(plain(BOOLEAN)),
      clientDomain: optional(plain(ref("ClientDomain"))),
      workersDev: optional(plain(BOOLEAN)),
      protect: optional(plain(BOOLEAN)),
    },
    {
      clientScript: STRING,
      managementScript: STRING,
      buildCacheBucket: STRING,
      hyperdriveId: STRING,
      metricsDataset: STRING,
    },
  ),
};

const EXPECTED_TYPES = {
  "workers-platform:index:Placement": enumType({ Smart: "smart", Off: "off" }),
  "workers-platform:index:SslMode": enumType({
    Disable: "disable",
    Require: "require",
    VerifyCa: "verify-ca",
    VerifyFull: "verify-full",
  }),
  "workers-platform:index:ComputeBackend": enumType({ Http: "http", Container: "container" }),
  "workers-platform:index:R2ExpiryRule": objectType({
    id: plain(STRING),
    prefix: optional(plain(STRING)),
    expireAfterDays: plain(NUMBER),
  }),
  "workers-platform:index:PostgresOrigin": objectType({
    host: STRING,
    port: NUMBER,
    database: STRING,
    user: STRING,
    password: STRING,
  }),
  "workers-platform:index:HyperdriveCaching": objectType({
    enabled: optional(plain(BOOLEAN)),
    maxAgeSeconds: optional(plain(NUMBER)),
    staleWhileRevalidateSeconds: optional(plain(NUMBER)),
  }),
  "workers-platform:index:WorkerObservability": objectType({
    enabled: plain(BOOLEAN),
    headSamplingRate: optional(plain(NUMBER)),
    invocationLogs: optional(plain(BOOLEAN)),
  }),
  "workers-platform:index:WorkerCustomDomain": objectType({ hostname: STRING, zoneId: STRING }),
  "workers-platform:index:WorkerRoute": objectType({ pattern: STRING, zoneId: STRING }),
  "workers-platform:index:QueueConsumer": objectType({
    queueId: STRING,
    batchSize: optional(plain(NUMBER)),
    maxRetries: optional(plain(NUMBER)),
    maxWaitTimeMs: optional(plain(NUMBER)),
    deadLetterQueue: optional(STRING),
  }),
  "workers-platform:index:DurableObjectBinding": objectType({
    className: plain(STRING),
    script: optional(STRING),
  }),
  "workers-platform:index:ServiceBinding": objectType({
    service: STRING,
    entrypoint: optional(plain(STRING)),
  }),
  "workers-platform:index:DurableObjectMigration": objectType({
    tag: plain(STRING),
    newClasses: optional(plainStrings),
    newKvClasses: optional(plainStrings),
    renamedClasses: optional(plain(arrayOf(plain(ref("RenamedClass"))))),
    deletedClasses: optional(plainStrings),
    transferredClasses: optional(plain(arrayOf(plain(ref("TransferredClass"))))),
    allowDataLoss: optional(plain(BOOLEAN)),
  }),
  "workers-platform:index:RenamedClass": objectType({ from: plain(STRING), to: plain(STRING) }),
  "workers-platform:index:TransferredClass": objectType({
    from: plain(STRING),
    fromScript: plain(STRING),
    to: plain(STRING),
  }),
  "workers-platform:index:BuildsPostgres": objectType({
    host: STRING,
    port: plain(NUMBER),
    adminUser: STRING,
    adminPassword: STRING,
    adminDatabase: plain(STRING),
    sslMode: plain(ref("SslMode")),
    database: plain(STRING),
    schema: plain(STRING),
    appRole: plain(STRING),
    extensions: plainStrings,
    allowDataLoss: plainStrings,
  }),
  "workers-platform:index:BuildsHyperdrive": objectType({
    caching: plain(ref("HyperdriveCaching")),
    originConnectionLimit: optional(plain(NUMBER)),
  }),
  "workers-platform:index:BuildsPlacement": objectType({
    client: plain(ref("Placement")),
    management: plain(ref("Placement")),
  }),
  "workers-platform:index:BuildLimits": objectType({
    timeoutMinutes: plain(NUMBER),
    maxConcurrentPerAccount: plain(NUMBER),
    maxConcurrentGlobal: plain(NUMBER),
    startTimeoutSeconds: plain(NUMBER),
    heartbeatTimeoutSeconds: plain(NUMBER),
    cacheExpiryDays: plain(NUMBER),
    scheduler: plain(ref("BuildScheduler")),
    compute: plain(ref("BuildCompute")),
  }),
  "workers-platform:index:BuildScheduler": objectType({
    wakeOnQueue: plain(BOOLEAN),
    pollIntervalSeconds: plain(NUMBER),
    shards: optional(plain(NUMBER)),
    leaseSeconds: optional(plain(NUMBER)),
  }),
  "workers-platform:index:BuildCompute": objectType({
    backend: plain(ref("ComputeBackend")),
    runnerUrls: plainStrings,
    localRunners: optional(plain(NUMBER)),
    callbackUrl: optional(plain(STRING)),
  }),
  "workers-platform:index:ClientDomain": objectType({ hostname: plain(STRING), zoneId: plain(STRING) }),
};

/** The schema without its prose, which the structure assertions leave to the documentation test. */
function withoutDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "description")
      .map(([key, v]) => [key, withoutDescriptions(v)]),
  );
}

describe("the provider plugin", () => {
  it("starts from the repository's provider/ folder and from the installed package as workers-platform at the package's version", async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    // A plugin prints its port only once run-plugin has found component classes in what the folder exports.
    expect([await versionOf(fromRepository), await versionOf(fromInstalled)]).toEqual([version, version]);
    const served = await schema;
    expect([served.name, served.version, served.namespace, served.dependencies]).toEqual([
      "workers-platform",
      version,
      undefined,
      [],
    ]);
  });

  it("serves exactly the eight components, each input and output with its type, required-ness and enum", async () => {
    const structure = withoutDescriptions(await schema) as Record<string, unknown>;
    expect(structure.resources).toEqual(EXPECTED_RESOURCES);
    expect(structure.types).toEqual(EXPECTED_TYPES);
  });

  it("documents every component, and every component input and output", async () => {
    const undocumented = Object.entries(
      (await schema).resources as Record<
        string,
        { description?: string; inputProperties: Prop; properties: Prop }
      >,
    ).flatMap(([token, r]) => [
      ...(r.description?.includes("the package's") ? [] : [token]),
      ...Object.entries(r.inputProperties)
        .filter(([, p]) => !(p as Prop).description)
        .map(([name]) => `${token} input ${name}`),
      ...Object.entries(r.properties)
        .filter(([, p]) => !(p as Prop).description)
        .map(([name]) => `${token} output ${name}`),
    ]);
    expect(undocumented).toEqual([]);
  });

  it("made that schema from the installed package's provider/ alone, with @pulumi/pulumi's own typescript", () => {
    expect(readdirSync(path.dirname(path.dirname(installedDir)))).toEqual(["workers-platform"]);
    expect(readdirSync(path.dirname(installedDir)).sort()).toEqual(["dist", "node_modules", "provider"]);
    expect(spawnSync(process.execPath, ["-e", 'require("typescript")'], { env: installedEnv }).status).toBe(
      1,
    );
  });

  it("refuses to start from a package folder that was not built, and says what to do", () => {
    const pkg = path.dirname(installedLayout());
    rmSync(path.join(pkg, "dist"), { recursive: true });
    const run = spawnSync(
      process.execPath,
      ["-e", `require(${JSON.stringify(path.join(pkg, "provider"))})`],
      {
        encoding: "utf8",
      },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `workers-platform provider: no compiled provider at ${path.join(pkg, "dist", "provider", "index.js")} and no TypeScript sources to run: build the package (its dist/ folder) first`,
    );
  });
});
