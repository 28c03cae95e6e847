import { describe, expect, it } from "vitest";
import { type AnsiStyle, applySgr, colour256, PLAIN, parseAnsi, stripAnsi } from "./ansi";

const style = (s: Partial<AnsiStyle>): AnsiStyle => ({ ...PLAIN, ...s });
const E = "\x1b";

describe("parseAnsi", () => {
  it.each<[string, string, { text: string; style: AnsiStyle }[]]>([
    ["plain text", "npm ci", [{ text: "npm ci", style: PLAIN }]],
    [
      "a colour and a reset",
      `${E}[31merror${E}[0m done`,
      [
        { text: "error", style: style({ fg: 1 }) },
        { text: " done", style: PLAIN },
      ],
    ],
    [
      "bold bright green (npm's ✓)",
      `${E}[1;92m✓${E}[22;39m ok`,
      [
        { text: "✓", style: style({ fg: 10, bold: true }) },
        { text: " ok", style: PLAIN },
      ],
    ],
    [
      "an empty SGR resets",
      `${E}[4mu${E}[mx`,
      [
        { text: "u", style: style({ underline: true }) },
        { text: "x", style: PLAIN },
      ],
    ],
    [
      "256 colours: named, cube and grey",
      `${E}[38;5;9ma${E}[38;5;196mb${E}[48;5;244mc`,
      [
        { text: "a", style: style({ fg: 9 }) },
        { text: "b", style: style({ fg: "rgb(255,0,0)" }) },
        { text: "c", style: style({ fg: "rgb(255,0,0)", bg: "rgb(128,128,128)" }) },
      ],
    ],
    ["true colour", `${E}[38;2;10;20;30mx`, [{ text: "x", style: style({ fg: "rgb(10,20,30)" }) }]],
    [
      "a cursor move and an erase are dropped",
      `${E}[2K${E}[1Gprogress 50%`,
      [{ text: "progress 50%", style: PLAIN }],
    ],
    [
      "an OSC link keeps its text",
      `${E}]8;;https://example.com${E}\\link${E}]8;;${E}\\`,
      [{ text: "link", style: PLAIN }],
    ],
    ["a background and its default", `${E}[41mred${E}[49m`, [{ text: "red", style: style({ bg: 1 }) }]],
    [
      "HTML stays text",
      `<img src=x onerror=alert(1)>`,
      [{ text: "<img src=x onerror=alert(1)>", style: PLAIN }],
    ],
    ["an escape with no sequence after it", `a${E}`, [{ text: "a", style: PLAIN }]],
  ])("%s", (_, line, spans) => {
    expect(parseAnsi(line).spans).toEqual(spans);
  });

  it("carries the style to the next line, as a terminal does", () => {
    const first = parseAnsi(`${E}[33mwarn: one`);
    expect(first.style).toEqual(style({ fg: 3 }));
    expect(parseAnsi("two", first.style).spans).toEqual([{ text: "two", style: style({ fg: 3 }) }]);
  });
});

describe("applySgr", () => {
  it.each<[string, string, Partial<AnsiStyle>]>([
    ["dim and italic", "2;3", { dim: true, italic: true }],
    ["22 ends bold and dim", "1;2;22", {}],
    ["a 256 colour past 255 is ignored", "38;5;300", {}],
    ["an incomplete true colour is ignored", "38;2;1", {}],
    ["colons as separators", "38:5:4", { fg: 4 }],
    ["bright backgrounds", "103", { bg: 11 }],
  ])("%s", (_, params, expected) => {
    expect(applySgr(PLAIN, params)).toEqual(style(expected));
  });

  it("maps the 6×6×6 cube and the greys", () => {
    expect([colour256(16), colour256(231), colour256(232), colour256(255)]).toEqual([
      "rgb(0,0,0)",
      "rgb(255,255,255)",
      "rgb(8,8,8)",
      "rgb(238,238,238)",
    ]);
  });
});

describe("stripAnsi", () => {
  it("leaves the text a download should hold", () => {
    expect(stripAnsi(`${E}[1m${E}[32mok${E}[0m 3 packages ${E}[2K`)).toBe("ok 3 packages ");
  });
});
