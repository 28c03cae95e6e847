import { bindingKind, type ScriptRef, scriptOf } from "./kind";

export interface DurableObjectBinding {
  className: string;
  /** The script that implements the class; omitted for the Worker's own classes. */
  script?: ScriptRef;
}

/** Durable Object namespaces: `durableObjects: { NAME: { className, script? } }`. */
export const durableObjects = bindingKind({
  type: "durable_object_namespace",
  field: "durableObjects",
  literal: (name, b: DurableObjectBinding) => {
    const script = b.script === undefined ? undefined : scriptOf(b.script);
    return {
      binding: {
        type: "durable_object_namespace",
        name,
        className: b.className,
        ...(script ? { scriptName: script.name } : {}),
      },
      // The other Worker's script must exist before a binding to its class is uploaded.
      dependsOn: script?.dependsOn,
    };
  },
  local: {
    option: "durableObjects",
    value: (b, plan) => {
      const className = plan.str(b, "className");
      const other = typeof b.scriptName === "string" ? b.scriptName : undefined;
      const owner = other && other !== plan.scriptName ? plan.script(other) : plan.scriptName;
      const useSQLite = plan.sqlite(owner, className);
      return owner === plan.scriptName
        ? { className, useSQLite }
        : { className, scriptName: owner, useSQLite };
    },
  },
});
