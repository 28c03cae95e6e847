import { bindingKind, type IdRef, idOf } from "./kind";

/**
 * Hyperdrive: `hyperdrives: { NAME: hyperdrive | config id }`. Locally the binding carries the config id
 * and the target points it at the config's local pool.
 */
export const hyperdrives = bindingKind({
  type: "hyperdrive",
  field: "hyperdrives",
  literal: (name, ref: IdRef) => ({ binding: { type: "hyperdrive", name, id: idOf(ref) } }),
  resource: { type: "cloudflare:index/hyperdriveConfig:HyperdriveConfig" },
  local: { option: "hyperdrives", value: (b, plan) => plan.hyperdrive(plan.str(b, "id")) },
});
