import * as pulumi from "@pulumi/pulumi";
import { Queue as QueueComponent } from "../components";
import { childOptions } from "./child";

export interface QueueArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Queue name. Default: `<project>-<stack>-<name>`. */
  queueName?: string;
  /** Seconds a message waits before delivery. Default: 0. */
  deliveryDelaySeconds?: number;
  /** Seconds an undelivered message is kept, 60 to 1209600. Default: 345600 (4 days). */
  retentionSeconds?: number;
}

/**
 * A Cloudflare Queue: the package's `Queue` component, created as this resource's child. Workers produce
 * to it by name (`queues`) and consume it by id (`queueConsumers`). Not exposed: `transform` (a function,
 * which no schema type can carry).
 */
export class Queue extends pulumi.ComponentResource {
  /** Queue id, as a Worker's `queueConsumers` take it. */
  readonly id: pulumi.Output<string>;
  /** Queue name, as a Worker's `queues` binding takes it. */
  readonly queueName: pulumi.Output<string>;

  constructor(name: string, args: QueueArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:Queue", name, {}, opts);
    const queue = new QueueComponent(
      name,
      {
        accountId: args.accountId,
        queueName: args.queueName,
        deliveryDelaySeconds: args.deliveryDelaySeconds,
        retentionSeconds: args.retentionSeconds,
      },
      childOptions(this, opts),
    );
    this.id = queue.id;
    this.queueName = queue.queueName;
    this.registerOutputs({ id: this.id, queueName: this.queueName });
  }
}
