export interface RetryOptions {
  /** Stop retrying once this much time has passed since the first attempt. @default 60_000 */
  deadlineMs?: number;
  /** Wait before the first retry; doubled after each failed attempt. @default 250 */
  initialDelayMs?: number;
  /** Longest wait between attempts. @default 5000 */
  maxDelayMs?: number;
}

/** An error that retrying cannot fix (a 4xx answer, say); {@link withRetry} gives up on it at once. */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/**
 * Runs `attempt` until it succeeds, waiting longer after each failure (with jitter), and rethrows the
 * last error once the deadline has passed or the error is a {@link PermanentError}.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: RetryOptions = {},
  onRetry?: (error: unknown, attemptNumber: number) => void,
): Promise<T> {
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  const maxDelay = options.maxDelayMs ?? 5000;
  let delay = options.initialDelayMs ?? 250;
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      const wait = delay * (0.5 + Math.random() / 2);
      if (error instanceof PermanentError || Date.now() + wait > deadline) throw error;
      onRetry?.(error, attemptNumber);
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
