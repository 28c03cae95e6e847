import { bindingKind, type ScriptRef, scriptOf } from "./kind";

export interface ServiceBinding {
  service: ScriptRef;
  /** Named `WorkerEntrypoint` export to call over RPC; the default export when omitted. */
  entrypoint?: string;
}

/** Service bindings: `services: { NAME: { service, entrypoint? } }`. */
export const services = bindingKind({
  type: "service",
  field: "services",
  literal: (name, b: ServiceBinding) => {
    const script = scriptOf(b.service);
    return {
      binding: {
        type: "service",
        name,
        service: script.name,
        ...(b.entrypoint ? { entrypoint: b.entrypoint } : {}),
      },
      dependsOn: script.dependsOn,
    };
  },
  local: {
    option: "serviceBindings",
    value: (b, plan) => {
      const service = plan.script(typeof b.service === "string" ? b.service : undefined);
      return typeof b.entrypoint === "string" && b.entrypoint
        ? { name: service, entrypoint: b.entrypoint }
        : { name: service };
    },
  },
});
