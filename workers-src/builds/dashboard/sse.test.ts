import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it.each<[string, string[], { event: string; data: string; lastEventId: string }[]]>([
    [
      "one event",
      ['event: log\ndata: {"line":"a"}\n\n'],
      [{ event: "log", data: '{"line":"a"}', lastEventId: "" }],
    ],
    [
      "an id, carried to the events after it",
      ["id: 7\ndata: a\n\ndata: b\n\n"],
      [
        { event: "message", data: "a", lastEventId: "7" },
        { event: "message", data: "b", lastEventId: "7" },
      ],
    ],
    [
      "split anywhere across chunks",
      ["ev", "ent: lo", "g\nda", "ta: x\n", "\n"],
      [{ event: "log", data: "x", lastEventId: "" }],
    ],
    [
      "CRLF split between chunks",
      ["data: x\r", "\n\r\n"],
      [{ event: "message", data: "x", lastEventId: "" }],
    ],
    [
      "CR line ends (a CR last in a chunk waits: it may be half a CRLF)",
      ["data: x\r\rdata: y\r\r"],
      [{ event: "message", data: "x", lastEventId: "" }],
    ],
    ["comments (keepalives) and no data dispatch nothing", [": keepalive\n\nevent: log\n\n"], []],
    [
      "several data lines join with newlines",
      ["data: a\ndata:b\ndata\n\n"],
      [{ event: "message", data: "a\nb\n", lastEventId: "" }],
    ],
    [
      "an id with NUL is ignored",
      ["id: 1\0\ndata: x\n\n"],
      [{ event: "message", data: "x", lastEventId: "" }],
    ],
    ["an event not ended yet waits", ["data: x\n"], []],
  ])("%s", (_, chunks, events) => {
    const parser = new SseParser();
    expect(chunks.flatMap((c) => parser.feed(c))).toEqual(events);
  });

  it("keeps the id a reconnect sends, and a retry time", () => {
    const parser = new SseParser();
    parser.feed("retry: 2500\nid: 42\n\n");
    expect([parser.lastEventId, parser.retryMs]).toEqual(["42", 2500]);
  });
});
