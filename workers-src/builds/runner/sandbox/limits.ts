/** What one build may use. Every limit applies to the whole build (all its steps and processes together). */
export interface SandboxLimits {
  /** Memory of all the build's processes, page cache included. @default 2048 */
  memoryMb: number;
  /** Processes and threads alive at once. @default 1024 */
  pids: number;
  /** CPU cores the build may use at once (a CFS quota). @default 2 */
  cpus: number;
  /** CPU time the build may use in all. @default 1800 */
  cpuSeconds: number;
  /** Size of the build's workspace: checkout, dependencies, caches, temporary files. @default 8192 */
  diskMb: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryMb: 2048,
  pids: 1024,
  cpus: 2,
  cpuSeconds: 1800,
  diskMb: 8192,
};

const BOUNDS: Record<keyof SandboxLimits, [min: number, max: number]> = {
  memoryMb: [64, 1024 * 1024],
  pids: [16, 1_000_000],
  cpus: [0.1, 1024],
  cpuSeconds: [1, 7 * 24 * 3600],
  diskMb: [64, 16 * 1024 * 1024],
};

/** The limit a build went over, in words for its log: what, how much, and what happened. */
export interface LimitBreach {
  limit: keyof SandboxLimits | "disk";
  message: string;
}

/** `limits` with every field checked; the error names the field, its range and the value given. */
export function checkLimits(limits: Partial<SandboxLimits>): SandboxLimits {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const [key, [min, max]] of Object.entries(BOUNDS) as [keyof SandboxLimits, [number, number]][]) {
    const value = merged[key];
    const whole = key !== "cpus";
    if (!Number.isFinite(value) || value < min || value > max || (whole && !Number.isInteger(value))) {
      throw new RangeError(
        `sandbox limit ${key} must be ${whole ? "an integer" : "a number"} between ${min} and ${max} (got ${value})`,
      );
    }
  }
  return merged;
}

export function describeLimits(limits: SandboxLimits): string {
  return `memory ${limits.memoryMb} MiB, ${limits.pids} processes, ${limits.cpus} CPUs, ${limits.cpuSeconds} s CPU time, disk ${limits.diskMb} MiB`;
}
