import { bindingKind, type IdRef, idOf } from "./kind";

/** Workers KV: `kvNamespaces: { NAME: kvNamespace | id }`. */
export const kvNamespaces = bindingKind({
  type: "kv_namespace",
  field: "kvNamespaces",
  literal: (name, ref: IdRef) => ({ binding: { type: "kv_namespace", name, namespaceId: idOf(ref) } }),
  resource: { type: "cloudflare:index/workersKvNamespace:WorkersKvNamespace" },
  local: { option: "kvNamespaces", value: (b, plan) => plan.str(b, "namespaceId") },
});
