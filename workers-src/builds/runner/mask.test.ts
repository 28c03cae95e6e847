import { describe, expect, it } from "vitest";
import { createMasker, MASK, maskSecrets, maskTargets } from "../shared/mask";

describe("maskSecrets", () => {
  const cases: { name: string; line: string; secrets: string[]; expected: string }[] = [
    { name: "no secrets leaves the line alone", line: "hello world", secrets: [], expected: "hello world" },
    { name: "empty secrets are ignored", line: "hello", secrets: ["", ""], expected: "hello" },
    { name: "one secret", line: "token=s3cr3t!", secrets: ["s3cr3t!"], expected: "token=***" },
    { name: "a secret appearing twice", line: "abcd and abcd", secrets: ["abcd"], expected: "*** and ***" },
    { name: "secrets shorter than 4 characters", line: "a1 b a1", secrets: ["a1"], expected: "*** b ***" },
    {
      name: "the longer secret wins over a shorter one inside it",
      line: "key=password123",
      secrets: ["pass", "password123"],
      expected: "key=***",
    },
    {
      name: "overlapping secrets leave no character of either",
      line: "xabcdefy",
      secrets: ["abcd", "cdef"],
      expected: "x***y",
    },
    {
      name: "adjacent occurrences become one mask",
      line: "abab!",
      secrets: ["ab"],
      expected: "***!",
    },
    {
      name: "overlapping occurrences of one secret",
      line: "aaaa",
      secrets: ["aaa"],
      expected: "***",
    },
    {
      name: "regular expression special characters are literal",
      line: "x=.*+?^$(){}|[]\\ y=a.c",
      secrets: [".*+?^$(){}|[]\\", "a.c"],
      expected: "x=*** y=***",
    },
    { name: "a regex-like secret does not match other text", line: "abc", secrets: ["a.c"], expected: "abc" },
    {
      name: "multi-byte characters",
      line: "clé: ünïcødé-🔑-秘密 end",
      secrets: ["ünïcødé-🔑-秘密"],
      expected: "clé: *** end",
    },
    {
      name: "each line of a multi-line secret is masked on its own",
      line: "line two of the key",
      secrets: ["first line\nline two of the key\n"],
      expected: "***",
    },
    {
      name: "matching is case-sensitive",
      line: "SECRET secret",
      secrets: ["secret"],
      expected: "SECRET ***",
    },
    { name: "the whole line", line: "hunter2", secrets: ["hunter2"], expected: "***" },
    { name: "a secret equal to the mask", line: "a *** b", secrets: ["***"], expected: "a *** b" },
  ];

  it.each(cases)("$name", ({ line, secrets, expected }) => {
    expect(maskSecrets(line, secrets)).toBe(expected);
  });

  it("never leaves a secret in clear, whatever the order the secrets come in", () => {
    const secrets = ["abc", "bcd", "cde", "b"];
    for (const order of [secrets, [...secrets].reverse()]) {
      const masked = createMasker(order)("zabcdez bz");
      for (const secret of secrets) expect(masked).not.toContain(secret);
      expect(masked).toBe(`z${MASK}z ${MASK}z`);
    }
  });
});

describe("maskTargets", () => {
  it("keeps whole secrets and adds each line of multi-line ones, dropping empty values", () => {
    expect(maskTargets(["", "one", "a\r\nb\n\nc", "one"])).toEqual(["one", "a\r\nb\n\nc", "a", "b", "c"]);
  });
});
