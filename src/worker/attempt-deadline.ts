/**
 * The time limit of one job attempt. It starts from the limit the job was
 * enqueued with (routed by the duration the container declared) and can be
 * raised once the real duration is known, since a header can understate it.
 */
export class AttemptDeadline {
  private readonly controller = new AbortController();
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout;

  constructor(private limit: number) {
    this.timer = this.arm();
  }

  /** Aborted (with a TimeoutError) when the limit passes. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  get limitMs(): number {
    return this.limit;
  }

  /** Raises the limit (counted from the attempt's start); false when `limitMs` is not higher or the limit has passed. */
  raiseTo(limitMs: number): boolean {
    if (this.expired || limitMs <= this.limit) return false;
    this.limit = limitMs;
    clearTimeout(this.timer);
    this.timer = this.arm();
    return true;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  private arm(): NodeJS.Timeout {
    const left = Math.max(0, this.startedAt + this.limit - Date.now());
    return setTimeout(() => this.controller.abort(new DOMException(`attempt exceeded ${this.limit} ms`, 'TimeoutError')), left);
  }
}
