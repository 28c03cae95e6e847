// Server-sent events, read by the demo (and the tests) from the builds platform's live log stream.

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Splits server-sent events off the front of `buffer`; the unfinished tail is returned as `rest` for the
 * next chunk. Comments (`: keepalive`) carry nothing and are dropped.
 */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  const events: SseEvent[] = [];
  for (const block of blocks) {
    const event: SseEvent = { event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event.event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") event.id = value;
    }
    if (data.length === 0) continue;
    event.data = data.join("\n");
    events.push(event);
  }
  return { events, rest };
}
