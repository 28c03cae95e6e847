import { bindingKind, type QueueRef, queueNameOf } from "./kind";

/** Queue producers: `queues: { NAME: queue | queue name }`. */
export const queues = bindingKind({
  type: "queue",
  field: "queues",
  literal: (name, ref: QueueRef) => ({ binding: { type: "queue", name, queueName: queueNameOf(ref) } }),
  // A queue's id is computed by Cloudflare; consumers refer to it.
  resource: { type: "cloudflare:index/queue:Queue", computed: (ids) => ({ queueId: ids.hex() }) },
  local: { option: "queueProducers", value: (b, plan) => ({ queueName: plan.str(b, "queueName") }) },
});
