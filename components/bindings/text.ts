import type * as pulumi from "@pulumi/pulumi";
import { bindingKind } from "./kind";

const text = (b: Record<string, unknown>) => (typeof b.text === "string" ? b.text : "");

/** Plain-text vars: `vars: { NAME: value }`. */
export const vars = bindingKind({
  type: "plain_text",
  field: "vars",
  literal: (name, value: pulumi.Input<string>) => ({ binding: { type: "plain_text", name, text: value } }),
  local: { option: "bindings", value: text },
});

/** Secrets: `secrets: { NAME: value }`, always handled as Pulumi secrets. */
export const secrets = bindingKind({
  type: "secret_text",
  field: "secrets",
  literal: (name, value: pulumi.Input<string>) => {
    // Loaded here only: the local target reads these descriptors without the Pulumi SDK.
    const { secret } = require("@pulumi/pulumi") as typeof pulumi;
    return { binding: { type: "secret_text", name, text: secret(value) } };
  },
  secret: true,
  local: { option: "bindings", value: text },
});
