/** Readers waiting for something new (log lines, the build's end), woken all at once or by their timeout. */
export class Wakeup {
  private readonly waiting = new Set<() => void>();

  /** Resolves at the next `wakeAll`, or after `ms`, whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }

  /** How many readers wait now. */
  get size(): number {
    return this.waiting.size;
  }
}
