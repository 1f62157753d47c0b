/**
 * Per-endpoint backoff for push delivery: a failing endpoint takes no delivery slot again before its time.
 * With the fair scheduler (infra/fair-scheduler.ts) that shares the slots between tenants, one tenant's
 * dead or slow endpoints delay that tenant's deliveries only.
 */
/**
 * Exponential backoff per endpoint: after `failures` failures in a row the endpoint is left alone for
 * baseMs * 2^(failures-1), at most maxMs; a success forgets it.
 */
export class EndpointBackoff {
  readonly #state = new Map<string, { failures: number; until: number }>();

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long the endpoint is still left alone, in ms (0: it may be called). */
  remainingMs(endpoint: string): number {
    const s = this.#state.get(endpoint);
    return s ? Math.max(0, s.until - this.now()) : 0;
  }

  failed(endpoint: string): void {
    const failures = (this.#state.get(endpoint)?.failures ?? 0) + 1;
    const wait = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(30, failures - 1));
    this.#state.set(endpoint, { failures, until: this.now() + wait });
    if (this.#state.size > 10_000) this.#forgetExpired();
  }

  succeeded(endpoint: string): void {
    this.#state.delete(endpoint);
  }

  /** Bounds the memory: endpoints whose wait is over start afresh. */
  #forgetExpired(): void {
    const now = this.now();
    for (const [k, s] of this.#state) if (s.until <= now) this.#state.delete(k);
  }
}
