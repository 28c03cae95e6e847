import { describe, expect, it } from "vitest";
import {
  AuthError,
  ConflictError,
  concurrencyConflict,
  ERROR_CODES,
  failure,
  internalErrorEnvelope,
  MalformedJsonError,
  NotFoundError,
  ok,
  PayloadTooLargeError,
  RateLimitedError,
  ValidationError,
} from "./envelope";

describe("envelope", () => {
  it("wraps a result with no errors and no result_info unless given", () => {
    expect(ok({ id: "a" })).toEqual({ success: true, errors: [], messages: [], result: { id: "a" } });
    expect(ok({ id: "a" })).not.toHaveProperty("result_info");
  });

  it("adds result_info to list results", () => {
    expect(ok([1, 2], { count: 2, per_page: 20, cursor: null })).toEqual({
      success: true,
      errors: [],
      messages: [],
      result: [1, 2],
      result_info: { count: 2, per_page: 20, cursor: null },
    });
  });

  it("answers failures with a null result", () => {
    expect(failure([{ code: 1, message: "m" }])).toEqual({
      success: false,
      errors: [{ code: 1, message: "m" }],
      messages: [],
      result: null,
    });
  });

  it("says nothing of an internal error but where to find it", () => {
    const envelope = internalErrorEnvelope("req-1");
    expect(envelope.errors).toEqual([{ code: ERROR_CODES.internal, message: "internal error" }]);
    expect(envelope.messages).toEqual([{ code: ERROR_CODES.internal, message: "request id: req-1" }]);
  });
});

describe("API errors", () => {
  it.each([
    [new ValidationError(["name: bad", "x: worse"]), 400, ERROR_CODES.validation, 2],
    [new MalformedJsonError("Unexpected token"), 400, ERROR_CODES.malformedJson, 1],
    [new PayloadTooLargeError(10), 413, ERROR_CODES.payloadTooLarge, 1],
    [new NotFoundError("Worker w"), 404, ERROR_CODES.notFound, 1],
    [new ConflictError("exists"), 409, ERROR_CODES.conflict, 1],
    [new AuthError("token expired"), 401, ERROR_CODES.unauthorized, 1],
    [new RateLimitedError("slow down", 7), 429, ERROR_CODES.rateLimited, 1],
  ])("%s maps to its status and code", (err, status, code, count) => {
    expect(err.status).toBe(status);
    expect(err.errors).toHaveLength(count);
    for (const e of err.errors) expect(e.code).toBe(code);
  });

  it("lists each validation message as its own error", () => {
    expect(new ValidationError(["name: bad", "x: worse"]).errors.map((e) => e.message)).toEqual([
      "name: bad",
      "x: worse",
    ]);
  });

  it("carries the headers its status needs", () => {
    expect(new RateLimitedError("slow down", 7).headers).toEqual({ "Retry-After": "7" });
    expect(new AuthError("no").headers).toEqual({ "WWW-Authenticate": "Bearer" });
    expect(new NotFoundError("x").message).toBe("x not found");
  });
});

describe("concurrencyConflict", () => {
  it.each([
    {
      code: "40P01",
      message: "another request changed the same objects at the same time; nothing was changed, try again",
    },
    {
      code: "40001",
      message: "another request changed the same objects at the same time; nothing was changed, try again",
    },
    {
      code: "23503",
      message:
        "an object this request refers to was deleted by another request; nothing was changed, try again",
    },
  ])("answers PostgreSQL's $code with 409", ({ code, message }) => {
    const conflict = concurrencyConflict(Object.assign(new Error("pg says"), { code }));
    expect(conflict?.status).toBe(409);
    expect(conflict?.errors).toEqual([{ code: ERROR_CODES.conflict, message }]);
  });

  it.each([
    {
      why: "a unique violation (a route's own 409 says which)",
      err: Object.assign(new Error("dup"), { code: "23505" }),
    },
    { why: "a connection failure", err: Object.assign(new Error("ECONNREFUSED"), { code: "ECONNREFUSED" }) },
    { why: "an error without a code", err: new Error("boom") },
    { why: "not an error at all", err: "boom" },
  ])("leaves $why alone", ({ err }) => {
    expect(concurrencyConflict(err)).toBeUndefined();
  });
});
