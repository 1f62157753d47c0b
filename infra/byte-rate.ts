/**
 * A byte rate per tenant (a token bucket each): `spend` what was sent, `ready` waits while the tenant has
 * spent more than its rate allows. The integrators' event streams (read-api/events.ts) send through it, so
 * a tenant replaying its log on many streams at once takes a bounded share of the process, not all of it.
 */
export class TenantByteRate {
  /** Per tenant: bytes that may still be sent (negative: owed), as of `at`. */
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #spends = 0;

  /**
   * @param bytesPerSecond the steady rate per tenant
   * @param burst bytes a tenant may send at once after a quiet while (default: one second's worth)
   */
  constructor(
    readonly bytesPerSecond: number,
    readonly burst = bytesPerSecond,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** The tenant's bucket, refilled for the time that passed. */
  #bucket(tenant: string) {
    const now = this.now();
    const b = this.#buckets.get(tenant) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.bytesPerSecond);
    b.at = now;
    this.#buckets.set(tenant, b);
    return b;
  }

  spend(tenant: string, bytes: number): void {
    this.#bucket(tenant).tokens -= bytes;
    // Many tenants: now and then, forget those whose buckets are full again (a sweep is O(tenants)).
    if (this.#buckets.size > 10_000 && ++this.#spends % 1000 === 0) this.#forgetFull();
  }

  /** Resolves once the tenant owes nothing (at once when it does not). */
  async ready(tenant: string): Promise<void> {
    for (;;) {
      const owed = -this.#bucket(tenant).tokens;
      if (owed <= 0) return;
      await new Promise((r) => setTimeout(r, Math.ceil((owed / this.bytesPerSecond) * 1000)));
    }
  }

  /** Buckets back at their burst hold nothing worth keeping. */
  #forgetFull(): void {
    for (const tenant of [...this.#buckets.keys()]) {
      if (this.#bucket(tenant).tokens >= this.burst) this.#buckets.delete(tenant);
    }
  }
}
