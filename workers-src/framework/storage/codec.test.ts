import { describe, expect, it } from "vitest";
import { CodecError, decode, encode } from "./codec.js";
import { STORABLE_VALUES } from "./values.js";

describe("codec", () => {
  it.each(STORABLE_VALUES)("round-trips %s", (_name, value) => {
    const text = encode(value);
    expect(typeof text).toBe("string");
    const back = decode(text);
    expect(back).toStrictEqual(value);
    if (typeof value === "number") expect(Object.is(back, value)).toBe(true);
  });

  it("keeps -0 distinct from 0 inside containers", () => {
    const back = decode<{ list: number[]; map: Map<string, number> }>(
      encode({ list: [-0, 0], map: new Map([["z", -0]]) }),
    );
    expect(Object.is(back.list[0], -0)).toBe(true);
    expect(Object.is(back.list[1], 0)).toBe(true);
    expect(Object.is(back.map.get("z"), -0)).toBe(true);
  });

  it("decodes a __proto__ key as an own property, never as the prototype", () => {
    const back = decode<Record<string, unknown>>(encode(JSON.parse('{"__proto__": {"polluted": true}}')));
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("turns a null-prototype object into a plain object and an array hole into undefined", () => {
    const bare = Object.assign(Object.create(null), { a: 1 });
    expect(decode(encode(bare))).toStrictEqual({ a: 1 });
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is being encoded
    expect(decode(encode([1, , 3]))).toStrictEqual([1, undefined, 3]);
  });

  it("writes shared references once per occurrence", () => {
    const shared = { n: 1 };
    const back = decode<{ a: object; b: object }>(encode({ a: shared, b: shared }));
    expect(back).toStrictEqual({ a: { n: 1 }, b: { n: 1 } });
    expect(back.a).not.toBe(back.b);
  });

  class Point {
    constructor(readonly x: number) {}
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;

  it.each<[string, unknown, RegExp]>([
    ["a function", { f: () => 1 }, /cannot store a function at \$\.f;/],
    ["a symbol", [Symbol("s")], /cannot store a symbol at \$\[0\]/],
    ["a class instance", { p: new Point(1) }, /cannot store an instance of Point at \$\.p/],
    ["an Error", new Error("x"), /cannot store an instance of Error at \$;/],
    ["a typed array", { "b-c": new Uint8Array(2) }, /instance of Uint8Array at \$\["b-c"\]/],
    ["a boxed primitive", new String("s"), /instance of String/],
    ["a Map subclass", new (class Registry extends Map {})(), /instance of Registry/],
    ["a symbol-keyed object", { [Symbol("k")]: 1 }, /an object with symbol keys at \$/],
    ["a function inside a Map", new Map([["k", () => 1]]), /a function at \$<map value 0>/],
    ["a cycle", cyclic, /cyclic reference at \$\.self/],
  ])("refuses %s, naming where it is", (_name, value, message) => {
    expect(() => encode(value)).toThrow(CodecError);
    expect(() => encode(value)).toThrow(message);
  });

  it.each([
    ["text that is not JSON", "{nope", /not JSON/],
    ["an unknown tag", '["zz", 1]', /malformed node \["zz",1\] at \$/],
    ["a BigInt without digits", '{"n": ["b", 1]}', /malformed node .* at \$\.n/],
    ["a Map with a key and no value", '["m", 1]', /malformed/],
  ])("refuses to decode %s", (_name, text, message) => {
    expect(() => decode(text)).toThrow(message);
  });
});
