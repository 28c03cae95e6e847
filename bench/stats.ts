/** Summary figures shared by the benchmarks. */

/** The `p`th percentile (0-100) by nearest rank: a value that was measured, never interpolated. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) throw new RangeError("percentile of no values");
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

export function mean(xs: number[]): number {
  if (xs.length === 0) throw new RangeError("mean of no values");
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Milliseconds with a precision that suits their size. */
export function ms(value: number): string {
  return value < 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(0)} ms`;
}

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis));
