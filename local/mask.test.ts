import { describe, expect, it } from "vitest";
import type { CapturedResource } from "./graph";
import { SECRET_SIG, SECRET_VALUE } from "./graph";
import { MASK, maskGraph, maskSecrets } from "./mask";

const secret = (value: unknown) => ({ [SECRET_SIG]: SECRET_VALUE, value });

describe("maskSecrets", () => {
  it.each<[string, unknown, unknown]>([
    ["a secret string", secret("pw"), MASK],
    ["a secret number and boolean", [secret(5432), secret(true)], [MASK, MASK]],
    ["a secret null stays null (no value to hide)", secret(null), null],
    [
      "every field of a secret object, whatever it is called",
      secret({ password: "a", value: "b", privateKey: "c", token: "d" }),
      { password: MASK, privateKey: MASK, token: MASK, value: MASK },
    ],
    [
      "nested objects and arrays inside a secret, keys and lengths kept",
      secret({ b: [1, "x", { c: "y" }], a: { deep: { deeper: "z" } } }),
      { a: { deep: { deeper: MASK } }, b: [MASK, MASK, { c: MASK }] },
    ],
    ["a secret inside a secret", secret({ outer: secret({ inner: "x" }) }), { outer: { inner: MASK } }],
    [
      "a secret element of an open array, the rest shown",
      [
        { type: "plain_text", text: "open" },
        { type: "secret_text", text: secret("s") },
      ],
      [
        { text: "open", type: "plain_text" },
        { text: MASK, type: "secret_text" },
      ],
    ],
    ["a secret array", secret(["a", "b"]), [MASK, MASK]],
    ["open values untouched", { n: 1, s: "x", b: false, z: null }, { b: false, n: 1, s: "x", z: null }],
    [
      "Pulumi's reserved keys left out, except a dynamic provider",
      { __x: 1, __provider: "p", a: 1 },
      { __provider: "p", a: 1 },
    ],
  ])("%s", (_, value, expected) => {
    expect(maskSecrets(value)).toEqual(expected);
  });

  it("lets the caller render open values, never secret ones", () => {
    const render = (v: unknown, key: string | undefined) =>
      key === "content" ? `digest(${String(v)})` : undefined;
    expect(maskSecrets({ content: "code", hidden: secret({ content: "code" }) }, render)).toEqual({
      content: "digest(code)",
      hidden: { content: MASK },
    });
  });
});

describe("maskGraph", () => {
  it("masks each secret in place and keeps it marked secret, leaving the rest as captured", () => {
    const resource: CapturedResource = {
      urn: "urn:pulumi:s::p::t::n",
      type: "t",
      name: "n",
      parent: null,
      custom: true,
      inputs: { open: "x", origin: { host: "h", password: secret("pw"), port: secret(1) } },
      protect: false,
      retainOnDelete: false,
      dependsOn: [],
      provider: null,
    };
    const [masked] = maskGraph([resource]);
    expect(masked!.inputs).toEqual({
      open: "x",
      origin: { host: "h", password: secret(MASK), port: secret(MASK) },
    });
    expect(resource.inputs.origin).toEqual({ host: "h", password: secret("pw"), port: secret(1) });
  });
});
