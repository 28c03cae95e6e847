/**
 * Structured values to and from a string, beyond what JSON keeps: `undefined` (also as a property value
 * or array item), Date, Map, Set, BigInt, RegExp, NaN, ±Infinity and -0, nested to any depth.
 *
 * The encoding is JSON in which every array is a tagged node, `[tag, ...payload]`, and plain objects stay
 * objects: a stored document stays readable in a storage browser, and no key of a user's object can be
 * mistaken for a tag. Shared references are written once per occurrence (a DAG comes back as a tree);
 * array holes come back as `undefined`; null-prototype objects come back as plain objects.
 */

type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

const ARRAY = "a";
const UNDEFINED = "u";
const NUMBER = "n";
const BIGINT = "b";
const DATE = "d";
const MAP = "m";
const SET = "s";
const REGEXP = "r";

/** A value the codec refuses to encode, or a string that is not the codec's output. */
export class CodecError extends Error {
  override name = "CodecError";
}

/** Encodes `value` to a string that {@link decode} turns back into an equal value. */
export function encode(value: unknown): string {
  return JSON.stringify(encodeNode(value, "$", new Set()));
}

/** Decodes a string produced by {@link encode}. */
export function decode<T = unknown>(text: string): T {
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch (error) {
    throw new CodecError(`codec: stored text is not JSON (${(error as Error).message})`);
  }
  return decodeNode(tree, "$") as T;
}

function encodeNode(value: unknown, path: string, ancestors: Set<object>): Encoded {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "undefined":
      return [UNDEFINED];
    case "number":
      if (Number.isNaN(value)) return [NUMBER, "NaN"];
      if (value === Number.POSITIVE_INFINITY) return [NUMBER, "Infinity"];
      if (value === Number.NEGATIVE_INFINITY) return [NUMBER, "-Infinity"];
      if (Object.is(value, -0)) return [NUMBER, "-0"];
      return value;
    case "bigint":
      return [BIGINT, value.toString()];
    case "function":
    case "symbol":
      throw refusal(`a ${typeof value}`, path);
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) throw new CodecError(`codec: cannot encode a cyclic reference at ${path}`);
  ancestors.add(object);
  try {
    return encodeObject(object, path, ancestors);
  } finally {
    ancestors.delete(object);
  }
}

function encodeObject(object: object, path: string, ancestors: Set<object>): Encoded {
  const proto = Object.getPrototypeOf(object);
  if (proto === Array.prototype) {
    const array = object as unknown[];
    const items: Encoded[] = [ARRAY];
    for (let i = 0; i < array.length; i++) items.push(encodeNode(array[i], `${path}[${i}]`, ancestors));
    return items;
  }
  if (proto === Date.prototype) {
    const time = (object as Date).getTime();
    return [DATE, Number.isNaN(time) ? null : time];
  }
  if (proto === Map.prototype) {
    const node: Encoded[] = [MAP];
    let i = 0;
    for (const [key, item] of object as Map<unknown, unknown>) {
      node.push(encodeNode(key, `${path}<map key ${i}>`, ancestors));
      node.push(encodeNode(item, `${path}<map value ${i}>`, ancestors));
      i++;
    }
    return node;
  }
  if (proto === Set.prototype) {
    const node: Encoded[] = [SET];
    let i = 0;
    for (const item of object as Set<unknown>)
      node.push(encodeNode(item, `${path}<set item ${i++}>`, ancestors));
    return node;
  }
  if (proto === RegExp.prototype) {
    const regexp = object as RegExp;
    return [REGEXP, regexp.source, regexp.flags];
  }
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto?.constructor as { name?: string } | undefined)?.name || "an unnamed class";
    throw refusal(`an instance of ${name}`, path);
  }
  if (Object.getOwnPropertySymbols(object).length > 0) throw refusal("an object with symbol keys", path);
  const out: { [key: string]: Encoded } = {};
  for (const key of Object.keys(object)) {
    defineOwn(
      out,
      key,
      encodeNode((object as Record<string, unknown>)[key], propertyPath(path, key), ancestors),
    );
  }
  return out;
}

function decodeNode(node: unknown, path: string): unknown {
  if (node === null || typeof node !== "object") return node;
  if (!Array.isArray(node)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node))
      defineOwn(out, key, decodeNode(item, propertyPath(path, key)));
    return out;
  }
  const [tag, ...payload] = node as unknown[];
  switch (tag) {
    case ARRAY:
      return payload.map((item, i) => decodeNode(item, `${path}[${i}]`));
    case UNDEFINED:
      return undefined;
    case NUMBER:
      if (payload[0] === "NaN") return Number.NaN;
      if (payload[0] === "Infinity") return Number.POSITIVE_INFINITY;
      if (payload[0] === "-Infinity") return Number.NEGATIVE_INFINITY;
      if (payload[0] === "-0") return -0;
      break;
    case BIGINT:
      if (typeof payload[0] === "string") return BigInt(payload[0]);
      break;
    case DATE:
      if (payload[0] === null) return new Date(Number.NaN);
      if (typeof payload[0] === "number") return new Date(payload[0]);
      break;
    case MAP: {
      const map = new Map<unknown, unknown>();
      for (let i = 0; i + 1 < payload.length; i += 2) {
        map.set(decodeNode(payload[i], `${path}<map key>`), decodeNode(payload[i + 1], `${path}<map value>`));
      }
      if (payload.length % 2 === 0) return map;
      break;
    }
    case SET:
      return new Set(payload.map((item) => decodeNode(item, `${path}<set item>`)));
    case REGEXP:
      if (typeof payload[0] === "string" && typeof payload[1] === "string")
        return new RegExp(payload[0], payload[1]);
      break;
  }
  throw new CodecError(`codec: malformed node ${JSON.stringify(node).slice(0, 80)} at ${path}`);
}

// Assignment would treat a "__proto__" key as the prototype setter; a defined property is always data.
function defineOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function propertyPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function refusal(what: string, path: string): CodecError {
  return new CodecError(
    `codec: cannot store ${what} at ${path}; store plain data instead (plain objects, arrays, Map, Set, Date, ` +
      "RegExp, BigInt, strings, numbers, booleans, null, undefined)",
  );
}
