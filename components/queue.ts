import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { stackName } from "./naming";
import { PACKAGE, type Transform, transformed } from "./options";

export interface QueueArgs {
  accountId: pulumi.Input<string>;
  /** Queue name. @default `<project>-<stack>-<name>` */
  queueName?: string;
  /** Seconds a message waits before delivery. @default 0 */
  deliveryDelaySeconds?: number;
  /** Seconds an undelivered message is kept (60 to 1209600). @default 345600 (4 days) */
  retentionSeconds?: number;
  transform?: { queue?: Transform<cloudflare.QueueArgs> };
}

/** A Cloudflare Queue; Workers produce to it by name and consume it through `Worker` `queueConsumers`. */
export class Queue extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:cloudflare:Queue`;
  readonly queue: cloudflare.Queue;
  /** Queue id, as a consumer takes it. */
  readonly id: pulumi.Output<string>;
  /** Queue name, as a `queue` binding takes it. */
  readonly queueName: pulumi.Output<string>;

  constructor(name: string, args: QueueArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Queue.TYPE, name, {}, opts);
    const retention = args.retentionSeconds ?? 345_600;
    if (!Number.isInteger(retention) || retention < 60 || retention > 1_209_600) {
      throw new Error(`Queue ${name}: retentionSeconds must be between 60 and 1209600 (got ${retention})`);
    }
    this.queue = new cloudflare.Queue(
      name,
      ...transformed(
        args.transform?.queue,
        {
          accountId: args.accountId,
          queueName: args.queueName ?? stackName(name),
          settings: { deliveryDelay: args.deliveryDelaySeconds ?? 0, messageRetentionPeriod: retention },
        },
        { parent: this },
      ),
    );
    this.id = this.queue.queueId;
    this.queueName = this.queue.queueName;
    this.registerOutputs({ id: this.id, queueName: this.queueName });
  }
}
