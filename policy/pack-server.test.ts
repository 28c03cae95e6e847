/**
 * The pack as Pulumi's Node.js language host starts it (`@pulumi/pulumi/cmd/run-policy-pack` in the pack's
 * folder: ts-node type-checks it, `package.json` gives its version, `new PolicyPack` serves gRPC), asked
 * what the CLI asks: its policies, its config, one resource at a time. Only the CLI itself is missing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RULES } from "./rules";
import { DATABASE, SCRIPT, UNKNOWN_STRING } from "./rules.fixtures";

type AnalyzerPb = typeof import("@pulumi/pulumi/proto/analyzer_pb");
type AnalyzerGrpc = typeof import("@pulumi/pulumi/proto/analyzer_grpc_pb");
type StructPb = typeof import("google-protobuf/google/protobuf/struct_pb");
type EmptyPb = typeof import("google-protobuf/google/protobuf/empty_pb");
type Grpc = typeof import("@grpc/grpc-js");

// The modules @pulumi/pulumi itself loads, so the pack's server and this client speak the same messages.
const pulumiRequire = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi/package.json"));
const pb = pulumiRequire("./proto/analyzer_pb") as AnalyzerPb;
const { AnalyzerClient } = pulumiRequire("./proto/analyzer_grpc_pb") as AnalyzerGrpc;
const { Struct } = pulumiRequire("google-protobuf/google/protobuf/struct_pb") as StructPb;
const { Empty } = pulumiRequire("google-protobuf/google/protobuf/empty_pb") as EmptyPb;
const grpc = pulumiRequire("@grpc/grpc-js") as Grpc;

const POLICY_DIR = path.dirname(fileURLToPath(import.meta.url));
/** How the engine marks a secret value on the wire. */
const secret = (value: unknown) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});

type Client = InstanceType<AnalyzerGrpc["AnalyzerClient"]>;

function promised<Res>(
  invoke: (callback: (error: import("@grpc/grpc-js").ServiceError | null, response: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    invoke((error, response) => (error ? reject(error) : resolve(response))),
  );
}

describe("the pack served as Pulumi's language host serves it", () => {
  let pack: ChildProcess;
  let client: Client;
  let stderr = "";

  beforeAll(async () => {
    pack = spawn(process.execPath, [pulumiRequire.resolve("./cmd/run-policy-pack"), "127.0.0.1:1", "."], {
      cwd: POLICY_DIR,
      stdio: ["ignore", "pipe", "pipe"],
    });
    pack.stderr?.on("data", (d) => {
      stderr += String(d);
    });
    const port = await new Promise<string>((resolve, reject) => {
      pack.stdout?.once("data", (d) => resolve(String(d).trim()));
      pack.once("exit", (code) =>
        reject(new Error(`the pack exited with ${code} before listening:\n${stderr}`)),
      );
    });
    client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    pack?.kill("SIGTERM");
  });

  async function analyze(type: string, name: string, qualifiedType: string, props: object, protect = false) {
    const request = new pb.AnalyzeRequest();
    request.setType(type);
    request.setName(name);
    request.setUrn(`urn:pulumi:prod::workers-platform::${qualifiedType}::${name}`);
    request.setProperties(Struct.fromJavaScript(props as Record<string, never>));
    const options = new pb.AnalyzerResourceOptions();
    options.setProtect(protect);
    request.setOptions(options);
    const response = await promised<InstanceType<AnalyzerPb["AnalyzeResponse"]>>((cb) =>
      client.analyze(request, cb),
    );
    return response
      .getDiagnosticsList()
      .map((d) => [d.getPolicyname(), d.getEnforcementlevel(), d.getMessage()]);
  }

  it("names itself and its policies, with their enforcement levels, from package.json and the rules", async () => {
    const info = await promised<InstanceType<AnalyzerPb["AnalyzerInfo"]>>((cb) =>
      client.getAnalyzerInfo(new Empty(), cb),
    );
    expect([info.getName(), info.getVersion()]).toEqual(["workers-platform-data-safety", "0.1.0"]);
    const { MANDATORY, ADVISORY } = pb.EnforcementLevel;
    expect(info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()])).toEqual([
      ["prod-stateful-protected", MANDATORY],
      ["secrets-stay-secret", MANDATORY],
      ["durable-object-deletion-approved", MANDATORY],
      ["builds-hyperdrive-cache-off", ADVISORY],
      ["compatibility-date-floor", ADVISORY],
    ]);
  });

  it("reports a Worker's problems as the rules word them, under its configured approvals, reading no unknown", async () => {
    const configure = new pb.ConfigureAnalyzerRequest();
    const approvals = new pb.PolicyConfig();
    approvals.setEnforcementlevel(pb.EnforcementLevel.MANDATORY);
    approvals.setProperties(Struct.fromJavaScript({ approved: ["workers-platform-prod-demo-worker.Room"] }));
    configure.getPolicyconfigMap().set("durable-object-deletion-approved", approvals);
    await promised((cb) => client.configure(configure, cb));

    const description = (id: string) => RULES.find((r) => r.id === id)?.description;
    const diagnostics = await analyze(SCRIPT, "demo-worker", `workers-platform:cloudflare:Worker$${SCRIPT}`, {
      scriptName: "workers-platform-prod-demo-worker",
      compatibilityDate: "2026-10-01",
      bindings: [
        // Secret on the wire, yet handed to the policy as plain text: the pack cannot tell.
        { type: "secret_text", name: "API_JWT_SECRET", text: secret("hunter2") },
        { type: "plain_text", name: "RUNNER_TOKEN", text: "t" },
        { type: "hyperdrive", name: "HYPERDRIVE", id: UNKNOWN_STRING },
      ],
      migrations: { newTag: "v4", steps: [{ deletedClasses: ["Room", "Chat"] }] },
    });
    expect(diagnostics).toEqual([
      [
        "secrets-stay-secret",
        pb.EnforcementLevel.MANDATORY,
        `${description("secrets-stay-secret")}\n${SCRIPT} "demo-worker": plain_text binding RUNNER_TOKEN (bindings[1]) holds a secret (its name says it is a secret) in a value anyone who can read the Worker sees: declare it under secrets (a secret_text binding)`,
      ],
      [
        "durable-object-deletion-approved",
        pb.EnforcementLevel.MANDATORY,
        `${description("durable-object-deletion-approved")}\nWorker script "workers-platform-prod-demo-worker" deletes Durable Object class Chat: every Chat object and its stored data is destroyed; the step's allowDataLoss does not reach the upload, so approve it for this stack: policy config approved: ["workers-platform-prod-demo-worker.Chat"]`,
      ],
    ]);
  });

  it("sees protect in the resource options the engine sends", async () => {
    const qualified = `workers-platform:postgres:Postgres$${DATABASE}`;
    expect(
      (await analyze(DATABASE, "builds-postgres-database", qualified, { name: "builds" })).map((d) => d[0]),
    ).toEqual(["prod-stateful-protected"]);
    expect(await analyze(DATABASE, "builds-postgres-database", qualified, { name: "builds" }, true)).toEqual(
      [],
    );
  });
});
