import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { MAX_LOG_LINE_BYTES } from "../shared/protocol";

export type OutputStream = "stdout" | "stderr";

export interface ProcessOptions {
  /** Program and its arguments; see {@link shellArgv} for a shell command. */
  argv: readonly string[];
  cwd: string;
  /** The whole environment of the process: nothing is inherited from the runner. */
  env: Record<string, string>;
  /** Called once per complete output line, without its line ending. */
  onLine: (line: string, stream: OutputStream) => void;
  /** Longer lines are cut (at a character boundary); the rest of the line is dropped. @default MAX_LOG_LINE_BYTES */
  maxLineBytes?: number;
  /** Time `kill()` leaves the process tree between SIGTERM and SIGKILL. @default 2000 */
  killGraceMs?: number;
  /** Where the process runs (a build's sandbox). @default a new process group on the host */
  launcher?: Launcher;
}

/** How a process is started, and how everything it starts is signalled. */
export interface Launcher {
  /** Starts the process with stdout and stderr as pipes; a failure after the spawn is an `error` event. */
  spawn(argv: readonly string[], cwd: string, env: Record<string, string>): ChildProcess;
  /** Sends `signal` to every process `child` started (0 only asks); true while any was there. */
  signal(child: ChildProcess, signal: NodeJS.Signals | 0): boolean;
}

/** A new process group on the host: the process and everything it starts are signalled together. */
export const processGroupLauncher: Launcher = {
  spawn(argv, cwd, env) {
    const [program, ...args] = argv;
    if (!program) throw new Error("startProcess: argv is empty");
    return spawn(program, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  },
  signal(child, signal) {
    if (child.pid === undefined) return false;
    try {
      process.kill(-child.pid, signal);
      return true;
    } catch {
      // ESRCH: the group is already gone.
      return false;
    }
  },
};

export interface ProcessResult {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  pid: number | undefined;
  /** Settles once the process has exited and its output is delivered; rejects when it could not start. */
  done: Promise<ProcessResult>;
  /** Ends the whole process tree: SIGTERM to the process group, SIGKILL after the grace time. */
  kill(): void;
}

/** How long output may still arrive after exit, from pipes that a process outside the group holds open. */
const STDIO_DRAIN_MS = 1000;

let shell: string | undefined;

/** `bash -c <command>`, or `sh -c` on a machine without bash. */
export function shellArgv(command: string): string[] {
  shell ??= existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";
  return [shell, "-c", command];
}

/** Cuts `text` to at most `maxBytes` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Every UTF-16 unit is at most 3 bytes, so short strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  return bytes.subarray(0, utf8Boundary(bytes, maxBytes)).toString("utf8");
}

/** The largest position ≤ `at` that does not fall inside a multi-byte character. */
function utf8Boundary(bytes: Uint8Array, at: number): number {
  let cut = at;
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut;
}

/**
 * Splits a byte stream into lines: `\n` and `\r\n` end a line, a last line without an ending is still
 * delivered, and a line longer than the limit keeps only its start so one endless line cannot exhaust memory.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflow = false;

  constructor(
    private readonly maxBytes: number,
    private readonly emit: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      this.append(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.flushLine();
      start = newline + 1;
    }
  }

  /** Delivers a last line that had no line ending. */
  end(): void {
    if (this.size > 0 || this.overflow) this.flushLine();
  }

  private append(bytes: Buffer): void {
    // One byte more than the limit so a `\r` right at the limit can still be recognised as a line ending.
    const room = this.maxBytes + 1 - this.size;
    if (bytes.length > room) this.overflow = true;
    const kept = bytes.length > room ? bytes.subarray(0, Math.max(room, 0)) : bytes;
    if (kept.length === 0) return;
    this.parts.push(kept);
    this.size += kept.length;
  }

  private flushLine(): void {
    let bytes = Buffer.concat(this.parts, this.size);
    if (!this.overflow && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.maxBytes) bytes = bytes.subarray(0, utf8Boundary(bytes, this.maxBytes));
    this.parts = [];
    this.size = 0;
    this.overflow = false;
    this.emit(bytes.toString("utf8"));
  }
}

/**
 * Starts a process in a new process group, so that it and everything it starts can be ended together.
 * When the process exits, whatever it left running in its group is killed.
 */
export function startProcess(options: ProcessOptions): RunningProcess {
  if (options.argv.length === 0) throw new Error("startProcess: argv is empty");
  const maxLineBytes = options.maxLineBytes ?? MAX_LOG_LINE_BYTES;
  const graceMs = options.killGraceMs ?? 2000;
  const launcher = options.launcher ?? processGroupLauncher;
  const child = launcher.spawn(options.argv, options.cwd, options.env);
  const childOut = child.stdout as NonNullable<ChildProcess["stdout"]>;
  const childErr = child.stderr as NonNullable<ChildProcess["stderr"]>;
  const stdout = new LineSplitter(maxLineBytes, (line) => options.onLine(line, "stdout"));
  const stderr = new LineSplitter(maxLineBytes, (line) => options.onLine(line, "stderr"));
  childOut.on("data", (chunk: Buffer) => stdout.push(chunk));
  childErr.on("data", (chunk: Buffer) => stderr.push(chunk));

  let exit: ProcessResult | undefined;
  let killDeadline: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const signalGroup = (signal: NodeJS.Signals | 0) => launcher.signal(child, signal);
  // What is left of the group once its leader exited: given the rest of the grace time when the tree is
  // being killed, otherwise killed at once (a build leaves nothing running behind it).
  const endGroup = async () => {
    while (killDeadline !== undefined && Date.now() < killDeadline && signalGroup(0)) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    clearTimeout(killTimer);
    signalGroup("SIGKILL");
  };

  const done = new Promise<ProcessResult>((resolve, reject) => {
    let settled = false;
    let drainTimer: NodeJS.Timeout | undefined;
    let closed = false;
    const settle = () => {
      if (settled || !exit) return;
      settled = true;
      clearTimeout(drainTimer);
      stdout.end();
      stderr.end();
      resolve(exit);
    };
    child.once("error", (error) => {
      if (exit || settled) return;
      settled = true;
      clearTimeout(killTimer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      void endGroup().then(() => {
        if (closed) return settle();
        drainTimer = setTimeout(() => {
          childOut.destroy();
          childErr.destroy();
          settle();
        }, STDIO_DRAIN_MS);
      });
    });
    child.once("close", () => {
      closed = true;
      // Output is complete, but the group may still be on its way out.
      if (exit && killDeadline === undefined) settle();
    });
  });

  return {
    pid: child.pid,
    done,
    kill() {
      if (exit || child.pid === undefined || killDeadline !== undefined) return;
      killDeadline = Date.now() + graceMs;
      signalGroup("SIGTERM");
      killTimer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
    },
  };
}

/** Runs a process to its end and collects its output lines (for short helper commands such as `git rev-parse`). */
export async function runCollect(
  argv: readonly string[],
  options: { cwd: string; env: Record<string, string>; launcher?: Launcher; maxLineBytes?: number },
): Promise<ProcessResult & { stdout: string[]; stderr: string[] }> {
  const lines: Record<OutputStream, string[]> = { stdout: [], stderr: [] };
  const result = await startProcess({ ...options, argv, onLine: (line, stream) => lines[stream].push(line) })
    .done;
  return { ...result, ...lines };
}
