/**
 * A build's log on the page: lines drawn in batches once per frame (a 20,000-line log never blocks the
 * page), ANSI colours, following the end unless the reader scrolled up, and the stream read with `fetch`
 * and resumed with `Last-Event-ID` when it drops.
 */
import { type AnsiSpan, type AnsiStyle, PLAIN, parseAnsi, stripAnsi } from "./ansi.js";
import { ApiFailure, failureOf, headers, SignInNeeded } from "./api.js";
import { SseParser } from "./sse.js";

/** Lines drawn per frame at most, and the time a frame may spend drawing once it drew the fewest. */
const LINES_PER_FRAME = 400;
const MIN_LINES_PER_FRAME = 25;
const FRAME_BUDGET_MS = 6;
/**
 * Lines are drawn in blocks of this many, each skipped by layout and paint while out of view
 * (`content-visibility`): a frame's work stays the same at line 20,000 as at line 1, where one flat list
 * of rows made every frame lay out all of them.
 */
const LINES_PER_BLOCK = 200;
/** A reader this close to the end (in pixels) is at the end. */
const END_SLACK = 24;

export class LogView {
  /** Every line received, in order, as the API sent it. */
  readonly lines: string[] = [];
  private pending = 0;
  private frame = 0;
  private style: AnsiStyle = PLAIN;
  private drawn = 0;
  private block: HTMLElement | null = null;
  /** True while the view keeps the end in sight; false once the reader scrolls up. */
  following = true;
  onFollowChange: (following: boolean) => void = () => {};

  constructor(readonly box: HTMLElement) {
    box.addEventListener("scroll", () => {
      const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight <= END_SLACK;
      if (atEnd !== this.following) {
        this.following = atEnd;
        this.onFollowChange(atEnd);
      }
    });
  }

  append(line: string): void {
    this.lines.push(line);
    this.pending++;
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** Scrolls to the end and follows it again. */
  follow(): void {
    this.box.scrollTop = this.box.scrollHeight;
    this.following = true;
    this.onFollowChange(true);
  }

  private draw(): void {
    this.frame = 0;
    const deadline = performance.now() + FRAME_BUDGET_MS;
    let count = 0;
    while (
      count < this.pending &&
      count < LINES_PER_FRAME &&
      (count < MIN_LINES_PER_FRAME || performance.now() < deadline)
    ) {
      const n = this.drawn + count;
      if (this.block === null || n % LINES_PER_BLOCK === 0) {
        this.block = document.createElement("div");
        this.block.className = "block";
        this.box.append(this.block);
      }
      const row = document.createElement("div");
      row.className = "line";
      row.dataset.n = String(n + 1);
      const { spans, style } = parseAnsi(this.lines[n] as string, this.style);
      this.style = style;
      for (const span of spans) row.append(spanElement(span));
      this.block.append(row);
      count++;
    }
    this.drawn += count;
    this.pending -= count;
    this.box.dataset.lines = String(this.drawn);
    if (this.following) this.box.scrollTop = this.box.scrollHeight;
    if (this.pending > 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** The log as plain text (escapes removed), for download. */
  text(): string {
    return this.lines.map(stripAnsi).join("\n") + (this.lines.length > 0 ? "\n" : "");
  }

  /** Lines received but not drawn yet. */
  get behind(): number {
    return this.pending;
  }

  dispose(): void {
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}

function spanElement({ text, style }: AnsiSpan): Node {
  if (style === PLAIN) return document.createTextNode(text);
  const el = document.createElement("span");
  el.textContent = text;
  const classes: string[] = [];
  if (style.bold) classes.push("b");
  if (style.dim) classes.push("d");
  if (style.italic) classes.push("i");
  if (style.underline) classes.push("u");
  if (typeof style.fg === "number") classes.push(`f${style.fg}`);
  else if (style.fg !== null) el.style.color = style.fg;
  if (typeof style.bg === "number") classes.push(`g${style.bg}`);
  else if (style.bg !== null) el.style.backgroundColor = style.bg;
  el.className = classes.join(" ");
  return el;
}

export interface StreamEnd {
  status: string;
  build_outcome: string | null;
  failure_class: string | null;
}

export interface StreamHandlers {
  line(line: string): void;
  /** The build ended: every line has been given. */
  done(end: StreamEnd): void;
  /** The stream dropped; it is resumed after `delayMs`. */
  reconnecting(delayMs: number, reason: string): void;
  connected(): void;
  signIn(error: SignInNeeded): void;
  failed(message: string): void;
}

/**
 * Reads a build's log stream to its end. A stream that drops is opened again with the last event id the
 * server gave; the lines that came after that id are skipped when the server sends them again, so that
 * every line is given once, in order.
 */
export async function streamLog(uuid: string, on: StreamHandlers, signal: AbortSignal): Promise<void> {
  // Positions count lines from the log's start: `given` lines were handed on; the last id came after line `idAt`.
  let lastId = "";
  let idAt = 0;
  let given = 0;
  let delay = 500;
  while (!signal.aborted) {
    try {
      const accept = { Accept: "text/event-stream" };
      const res = await fetch(`/api/builds/${encodeURIComponent(uuid)}/logs/stream`, {
        headers: headers(lastId ? { ...accept, "Last-Event-ID": lastId } : accept),
        signal,
      });
      const failure = await failureOf(res);
      if (failure instanceof SignInNeeded) return on.signIn(failure);
      // A passing failure (the API restarting, a 502 or 503 in a deploy, a 429) is tried again.
      if (failure instanceof ApiFailure && (failure.status >= 500 || failure.status === 429)) throw failure;
      if (failure) return on.failed(failure.message);
      if (!res.body) throw new Error("no body");
      on.connected();
      const parser = new SseParser();
      parser.lastEventId = lastId;
      let position = idAt;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.feed(value)) {
          if (event.event === "log") {
            position++;
            if (position > given) {
              on.line((JSON.parse(event.data) as { line: string }).line);
              given = position;
            }
            if (event.lastEventId !== lastId) {
              lastId = event.lastEventId;
              idAt = position;
            }
            delay = 500;
          } else if (event.event === "done") {
            return on.done(JSON.parse(event.data) as StreamEnd);
          } else if (event.event === "error") {
            throw new Error((JSON.parse(event.data) as { message?: string }).message ?? "stream error");
          }
        }
      }
      throw new Error("the stream ended before the build did");
    } catch (error) {
      if (signal.aborted) return;
      on.reconnecting(delay, error instanceof Error ? error.message : String(error));
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}
