/**
 * Fair sharing of push delivery between tenants: a scheduler that runs at most `perTenant` deliveries of
 * one tenant and `total` in all at once, serving the tenants that wait in turn (round-robin), and a
 * per-endpoint backoff that stops a failing endpoint from taking slots again before its time. So one
 * tenant's dead or slow endpoints delay that tenant's deliveries only.
 */

/** Runs jobs with at most `perTenant` of one tenant and `total` in all at once; tenants take turns. */
export class FairScheduler {
  /** Waiting jobs per tenant; the map's order is the rotation (a tenant just served moves to the end). */
  readonly #waiting = new Map<string, Array<() => void>>();
  readonly #active = new Map<string, number>();
  #running = 0;

  constructor(
    readonly perTenant: number,
    readonly total: number,
  ) {}

  run<T>(tenant: string, job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#running++;
        this.#active.set(tenant, (this.#active.get(tenant) ?? 0) + 1);
        job()
          .then(resolve, reject)
          .finally(() => {
            this.#running--;
            const left = (this.#active.get(tenant) ?? 1) - 1;
            if (left > 0) this.#active.set(tenant, left);
            else this.#active.delete(tenant);
            this.#pump();
          });
      };
      const queue = this.#waiting.get(tenant);
      if (queue) queue.push(start);
      else this.#waiting.set(tenant, [start]);
      this.#pump();
    });
  }

  /** Starts waiting jobs while there is room, one tenant after another. */
  #pump(): void {
    while (this.#running < this.total) {
      const tenant = [...this.#waiting.keys()].find((t) => (this.#active.get(t) ?? 0) < this.perTenant);
      if (tenant === undefined) return;
      const queue = this.#waiting.get(tenant)!;
      const start = queue.shift()!;
      this.#waiting.delete(tenant); // to the end of the rotation, or out of it
      if (queue.length > 0) this.#waiting.set(tenant, queue);
      start();
    }
  }
}

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
