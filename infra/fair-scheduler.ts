/**
 * A scheduler that shares a capacity fairly between tenants: at most `perTenant` jobs of one tenant and
 * `total` in all run at once, and the tenants that wait are served in turn (round-robin). Push delivery
 * (sagas/push-delivery.ts) and the integrators' event streams (read-api/events.ts) share theirs with it, so
 * one tenant's many or slow jobs delay that tenant only.
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
