import * as pulumi from "@pulumi/pulumi";
import { LOCAL_SERVICE_TYPE, type LocalServiceDeclaration } from "./local-service-types";

export * from "./local-service-types";

/** One declaration attached to a Worker (see `WorkerArgs.localServices`). */
export class LocalService extends pulumi.ComponentResource {
  static readonly TYPE = LOCAL_SERVICE_TYPE;

  constructor(
    name: string,
    args: LocalServiceDeclaration & { scriptName: pulumi.Input<string> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    const secrets: Record<string, unknown> =
      args.kind === "build-runner"
        ? { token: pulumi.secret(args.token) }
        : { secret: pulumi.secret(args.secret) };
    super(LOCAL_SERVICE_TYPE, name, { ...args, ...secrets }, opts);
    this.registerOutputs({});
  }
}
