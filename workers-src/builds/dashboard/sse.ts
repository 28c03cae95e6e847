/**
 * A server-sent event stream read from a `fetch` body (an `EventSource` cannot send the `Authorization`
 * header): the parsing rules of the HTML standard's event stream, fed text as it arrives.
 */

export interface SseEvent {
  event: string;
  data: string;
  /** The stream's last event id after this event (the id a reconnect sends). */
  lastEventId: string;
}

export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private sawData = false;
  lastEventId = "";
  /** The `retry:` field's reconnection time, when the stream sent one. */
  retryMs: number | null = null;

  /** The events completed by this chunk of text. */
  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const end = this.buffer.slice(start).search(/\r\n|\r|\n/);
      if (end === -1) break;
      const at = start + end;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (this.buffer[at] === "\r" && at === this.buffer.length - 1) break;
      const line = this.buffer.slice(start, at);
      start = at + (this.buffer.startsWith("\r\n", at) ? 2 : 1);
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      const event = this.sawData
        ? { event: this.event || "message", data: this.data.join("\n"), lastEventId: this.lastEventId }
        : null;
      this.event = "";
      this.data = [];
      this.sawData = false;
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") {
      this.data.push(value);
      this.sawData = true;
    } else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return null;
  }
}
