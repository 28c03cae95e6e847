import { describe, expect, it } from "vitest";
import {
  eachMessage,
  errorResponse,
  MessageReader,
  md5Password,
  parseErrorFields,
  parseFirstMessage,
  query,
  readyForQuery,
  ScramClient,
  startupMessage,
  sync,
} from "./pg-wire";

describe("PostgreSQL wire pieces", () => {
  const stream = Buffer.concat([query("SELECT 1"), sync(), readyForQuery("T"), query("x".repeat(70_000))]);

  it.each([1, 2, 3, 5, 7, 4096, stream.length])(
    "reassembles whole messages from chunks of %i bytes, whatever the cut",
    (size) => {
      const reader = new MessageReader();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) {
        reader.push(stream.subarray(i, i + size));
        const whole = reader.all();
        if (whole) out.push(whole);
      }
      const types: string[] = [];
      eachMessage(Buffer.concat(out), (type, body) =>
        types.push(`${String.fromCharCode(type)}${body.length}`),
      );
      expect(types).toEqual(["Q9", "S0", "Z1", "Q70001"]);
      expect(reader.all()).toBeUndefined();
    },
  );

  it("reads an untyped startup message, then typed ones, one at a time", () => {
    const reader = new MessageReader(false);
    reader.push(Buffer.concat([startupMessage({ user: "app", database: "db" }), query("SELECT 1")]));
    const first = reader.next() as Buffer;
    expect(parseFirstMessage(first)).toEqual({ code: 196608, params: { user: "app", database: "db" } });
    reader.typed = true;
    expect(reader.next()?.equals(query("SELECT 1"))).toBe(true);
    expect(reader.next()).toBeUndefined();
  });

  it("refuses a message length no message has", () => {
    const reader = new MessageReader();
    reader.push(Buffer.from([0x51, 0, 0, 0, 2]));
    expect(() => reader.all()).toThrow(/invalid message length 2/);
  });

  it("writes an ErrorResponse that reads back field by field", () => {
    const e = errorResponse({
      severity: "FATAL",
      code: "08001",
      message: "no origin",
      detail: "at 127.0.0.1:1",
    });
    expect(String.fromCharCode(e[0] as number)).toBe("E");
    expect(parseErrorFields(e.subarray(5))).toEqual({
      S: "FATAL",
      V: "FATAL",
      C: "08001",
      M: "no origin",
      D: "at 127.0.0.1:1",
    });
  });

  it("answers SCRAM-SHA-256 as RFC 7677's example exchange does, and checks the server's signature", async () => {
    const scram = new ScramClient("pencil", { user: "user", nonce: "rOprNGfwEbeRWgbNEkqO" });
    expect(scram.initialResponse().toString("latin1")).toContain("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    const serverFirst =
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    expect((await scram.response(serverFirst)).toString()).toBe(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    expect(() => scram.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).not.toThrow();
    expect(() => scram.verify("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).toThrow(/signature/);
  });

  it("refuses a SCRAM challenge whose nonce does not extend the client's", async () => {
    const scram = new ScramClient("pencil", { nonce: "abc" });
    await expect(scram.response("r=xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")).rejects.toThrow(/malformed/);
  });

  it("answers an MD5 challenge as PostgreSQL computes it: md5(md5(password + user) + salt)", () => {
    expect(md5Password("app", "secret", Buffer.from([1, 2, 3, 4]))).toBe(
      "md5911f527656472583a006e7727877b33e",
    );
  });
});
