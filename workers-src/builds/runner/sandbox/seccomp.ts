/**
 * A seccomp filter for every process of a build (classic BPF, as bwrap's `--seccomp` takes it): system
 * calls a build never needs and that widen the kernel surface it can attack are refused. New user
 * namespaces (`unshare`, `clone` with CLONE_NEWUSER, `setns`) would give it root inside one; keyrings are
 * kept per uid by the kernel and outlive the build; `bpf`, `perf_event_open`, `userfaultfd`, kernel module
 * and kexec calls have no place in a build. Other architectures' system calls are refused outright.
 * x86-64 only: elsewhere the sandbox runs without the filter and says so.
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 system calls carry this bit; the filter's numbers are x86-64's. */
const X32_SYSCALL_BIT = 0x40000000;
const CLONE_NEWUSER = 0x10000000;

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

/** x86-64 system call numbers refused with EPERM. */
export const DENIED_SYSCALLS: Record<string, number> = {
  unshare: 272,
  setns: 308,
  keyctl: 250,
  add_key: 248,
  request_key: 249,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323,
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  open_by_handle_at: 304,
};
/** Refused with ENOSYS, which callers take as "not supported" and fall back from: clone3's flags cannot be inspected, io_uring is a large attack surface. */
export const UNSUPPORTED_SYSCALLS: Record<string, number> = {
  clone3: 435,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
};
const CLONE = 56;

// Classic BPF opcodes.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

type Target = "allow" | "eperm" | "enosys" | "kill" | "clone" | "clone-allow";
interface Instruction {
  code: number;
  k: number;
  jt?: Target;
  jf?: Target;
  label?: Target;
}

/** The filter as bytes (`struct sock_filter[]`, little-endian), or undefined where it does not apply. */
export function seccompFilter(arch: string = process.arch): Buffer | undefined {
  if (arch !== "x64") return undefined;
  const program: Instruction[] = [
    { code: LD_W_ABS, k: 4 },
    { code: JEQ_K, k: AUDIT_ARCH_X86_64, jf: "kill" },
    { code: LD_W_ABS, k: 0 },
    { code: JGE_K, k: X32_SYSCALL_BIT, jt: "kill" },
    { code: JEQ_K, k: CLONE, jt: "clone" },
    ...Object.values(DENIED_SYSCALLS).map((nr) => ({ code: JEQ_K, k: nr, jt: "eperm" as const })),
    ...Object.values(UNSUPPORTED_SYSCALLS).map((nr) => ({ code: JEQ_K, k: nr, jt: "enosys" as const })),
    { code: RET_K, k: RET_ALLOW, label: "allow" },
    // clone(flags, ...): the low 32 bits of its first argument.
    { code: LD_W_ABS, k: 16, label: "clone" },
    { code: JSET_K, k: CLONE_NEWUSER, jt: "eperm", jf: "clone-allow" },
    // Jumps only go forward: the clone block has an allow of its own.
    { code: RET_K, k: RET_ALLOW, label: "clone-allow" },
    { code: RET_K, k: RET_ERRNO | EPERM, label: "eperm" },
    { code: RET_K, k: RET_ERRNO | ENOSYS, label: "enosys" },
    { code: RET_K, k: RET_KILL_PROCESS, label: "kill" },
  ];
  const at = new Map(program.flatMap((ins, i) => (ins.label ? [[ins.label, i] as const] : [])));
  const offset = (from: number, target: Target | undefined) => {
    if (target === undefined) return 0;
    const distance = (at.get(target) as number) - (from + 1);
    if (distance < 0 || distance > 255) throw new Error(`seccomp: jump to ${target} out of range`);
    return distance;
  };
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    bytes.writeUInt16LE(ins.code, i * 8);
    bytes.writeUInt8(offset(i, ins.jt), i * 8 + 2);
    bytes.writeUInt8(offset(i, ins.jf), i * 8 + 3);
    bytes.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return bytes;
}
