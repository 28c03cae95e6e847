// Starts a folder as Pulumi starts a source-based component plugin (`pulumi package add <dir>`: the Node
// language host runs @pulumi/pulumi's run-plugin on it, in the program's directory) and talks to it over
// gRPC as the CLI does, with the stubs @pulumi/pulumi ships. No Pulumi CLI and no engine.
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { ResourceProviderClient } from "@pulumi/pulumi/proto/provider_grpc_pb";
import { GetSchemaRequest } from "@pulumi/pulumi/proto/provider_pb";

// The stubs' own gRPC and protobuf modules, so that credentials and messages are the ones they check for.
const fromStubs = createRequire(createRequire(__filename).resolve("@pulumi/pulumi/proto/provider_grpc_pb"));
const grpc = fromStubs("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const { Empty } = fromStubs("google-protobuf/google/protobuf/empty_pb") as {
  Empty: new () => import("google-protobuf").Message;
};

/** This repository's run-plugin; a test of an installed package passes that package's own. */
export const RUN_PLUGIN = createRequire(__filename).resolve("@pulumi/pulumi/cmd/run-plugin");

export interface Plugin {
  child: ChildProcess;
  client: ResourceProviderClient;
  /** Closes the connection and kills the plugin. */
  stop(): void;
}

/** Runs run-plugin on `dir` from `cwd` and connects to the port it prints, as the engine does. */
export async function startPlugin(
  dir: string,
  cwd: string,
  options: { env?: NodeJS.ProcessEnv; runPlugin?: string } = {},
): Promise<Plugin> {
  const child = spawn(process.execPath, [options.runPlugin ?? RUN_PLUGIN, dir], {
    cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk) => {
      stdout += chunk;
      const line = stdout.indexOf("\n");
      if (line !== -1) resolve(stdout.slice(0, line).trim());
    });
    child.on("exit", (code) =>
      reject(new Error(`plugin at ${dir} exited (${code}) before its port:\n${stderr}`)),
    );
  });
  const client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    child,
    client,
    stop: () => {
      client.close();
      child.kill("SIGKILL");
    },
  };
}

function unary<T>(call: (callback: (err: Error | null, response: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => call((err, response) => (err ? reject(err) : resolve(response))));
}

/** The plugin's schema (GetSchema), parsed. */
export const schemaOf = async (plugin: Plugin): Promise<Record<string, unknown>> =>
  JSON.parse(
    (
      await unary<{ getSchema(): string }>((cb) => plugin.client.getSchema(new GetSchemaRequest(), cb))
    ).getSchema(),
  );

/** The version the plugin reports (GetPluginInfo). */
export const versionOf = async (plugin: Plugin): Promise<string> =>
  (await unary<{ getVersion(): string }>((cb) => plugin.client.getPluginInfo(new Empty(), cb))).getVersion();
