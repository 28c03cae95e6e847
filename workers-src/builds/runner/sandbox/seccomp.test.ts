import { describe, expect, it } from "vitest";
import { DENIED_SYSCALLS, seccompFilter, UNSUPPORTED_SYSCALLS } from "./seccomp";

/** The filter read back as instructions. */
function decode(bytes: Buffer) {
  return Array.from({ length: bytes.length / 8 }, (_, i) => ({
    code: bytes.readUInt16LE(i * 8),
    jt: bytes.readUInt8(i * 8 + 2),
    jf: bytes.readUInt8(i * 8 + 3),
    k: bytes.readUInt32LE(i * 8 + 4),
  }));
}

/** Runs the filter on one system call the way the kernel does, and answers what it returns. */
function evaluate(bytes: Buffer, data: { arch: number; nr: number; arg0?: number }): number {
  const program = decode(bytes);
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const ins = program[pc]!;
    if (ins.code === 0x20)
      acc = ins.k === 4 ? data.arch : ins.k === 0 ? data.nr : ins.k === 16 ? (data.arg0 ?? 0) : 0;
    else if (ins.code === 0x06) return ins.k;
    else if (ins.code === 0x15) pc += acc === ins.k ? ins.jt : ins.jf;
    else if (ins.code === 0x35) pc += acc >= ins.k ? ins.jt : ins.jf;
    else if (ins.code === 0x45) pc += (acc & ins.k) !== 0 ? ins.jt : ins.jf;
    else throw new Error(`unknown opcode ${ins.code}`);
  }
  throw new Error("the filter ran off its end");
}

const X86_64 = 0xc000003e;
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const KILL = 0x80000000;

describe("seccompFilter", () => {
  const filter = seccompFilter("x64")!;
  it.each([
    ["read", { arch: X86_64, nr: 0 }, ALLOW],
    ["execve", { arch: X86_64, nr: 59 }, ALLOW],
    ["clone of a thread or a process", { arch: X86_64, nr: 56, arg0: 0x3d0f00 }, ALLOW],
    ["clone into a new user namespace", { arch: X86_64, nr: 56, arg0: 0x10000000 | 0x11 }, EPERM],
    [
      "clone3 (its flags cannot be read): not supported, so callers fall back to clone",
      { arch: X86_64, nr: 435 },
      ENOSYS,
    ],
    ["io_uring_setup", { arch: X86_64, nr: 425 }, ENOSYS],
    ...Object.entries(DENIED_SYSCALLS).map(([name, nr]) => [name, { arch: X86_64, nr }, EPERM] as const),
    ...Object.entries(UNSUPPORTED_SYSCALLS).map(
      ([name, nr]) => [name, { arch: X86_64, nr }, ENOSYS] as const,
    ),
    ["an x32 system call", { arch: X86_64, nr: 0x40000000 | 59 }, KILL],
    ["a 32-bit (i386) system call", { arch: 0x40000003, nr: 11 }, KILL],
  ] as const)("%s", (_name, data, expected) => {
    expect(evaluate(filter, data)).toBe(expected);
  });

  it("applies to x86-64 only: elsewhere the numbers differ, so there is no filter", () => {
    expect(seccompFilter("arm64")).toBeUndefined();
  });
});
