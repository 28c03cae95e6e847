/**
 * ANSI SGR escapes (colours, bold, dim, italic, underline) of a log line as styled spans. Other escape
 * sequences (cursor moves, erase line, OSC titles and links) are dropped. The style carries over from one
 * line to the next, as in a terminal.
 */

/** A colour: 0-15 (the palette's named colours, a class each) or a CSS colour (256 colours, true colour). */
export type AnsiColour = number | string;

export interface AnsiStyle {
  fg: AnsiColour | null;
  bg: AnsiColour | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

export interface AnsiSpan {
  text: string;
  style: AnsiStyle;
}

export const PLAIN: AnsiStyle = Object.freeze({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
});

// CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL or ESC \), and two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: escapes are what this matches
const ESCAPE = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;

const CUBE = [0, 95, 135, 175, 215, 255];

/** The CSS colour of one of the 256 colours above the 16 named ones. */
export function colour256(n: number): string {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  return `rgb(${CUBE[Math.floor(i / 36)]},${CUBE[Math.floor(i / 6) % 6]},${CUBE[i % 6]})`;
}

/** An extended colour (`38;5;n` or `38;2;r;g;b`) at `codes[at]`: the colour and how many codes it used. */
function extended(codes: number[], at: number): [AnsiColour | null, number] {
  const kind = codes[at + 1];
  if (kind === 5) {
    const n = codes[at + 2];
    if (n === undefined || n > 255) return [null, 2];
    return [n < 16 ? n : colour256(n), 3];
  }
  if (kind === 2) {
    const [r, g, b] = [codes[at + 2], codes[at + 3], codes[at + 4]];
    if (r === undefined || g === undefined || b === undefined || r > 255 || g > 255 || b > 255)
      return [null, 5];
    return [`rgb(${r},${g},${b})`, 5];
  }
  return [null, 1];
}

/** The style after one SGR sequence's parameters (`"1;31"`; empty is a reset). */
export function applySgr(style: AnsiStyle, params: string): AnsiStyle {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  const next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] as number;
    if (code === 0) Object.assign(next, PLAIN);
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) {
      const [colour, used] = extended(codes, i);
      if (colour !== null) next[code === 38 ? "fg" : "bg"] = colour;
      i += used - 1;
    }
  }
  return next;
}

/** A line's text in spans of one style each, and the style it ends with. */
export function parseAnsi(line: string, start: AnsiStyle = PLAIN): { spans: AnsiSpan[]; style: AnsiStyle } {
  const spans: AnsiSpan[] = [];
  let style = start;
  let last = 0;
  const push = (text: string) => {
    if (text === "") return;
    const previous = spans[spans.length - 1];
    if (previous && previous.style === style) previous.text += text;
    else spans.push({ text, style });
  };
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(line); m !== null; m = ESCAPE.exec(line)) {
    push(line.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === "m") style = applySgr(style, m[1] ?? "");
  }
  push(line.slice(last));
  return { spans, style };
}

/** The line with every escape sequence removed (for the downloaded log). */
export function stripAnsi(line: string): string {
  return line.replace(ESCAPE, "");
}
