import { bindingKind, type IdRef, idOf } from "./kind";

/** D1: `d1Databases: { NAME: d1Database | id }`. */
export const d1Databases = bindingKind({
  type: "d1",
  field: "d1Databases",
  literal: (name, ref: IdRef) => ({ binding: { type: "d1", name, id: idOf(ref) } }),
  // A database's `uuid` is computed by Cloudflare (a binding may carry it or the id).
  resource: { type: "cloudflare:index/d1Database:D1Database", computed: (ids) => ({ uuid: ids.uuid() }) },
  local: { option: "d1Databases", value: (b, plan) => plan.d1(plan.str(b, "id")) },
});
