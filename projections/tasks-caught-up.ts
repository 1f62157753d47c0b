/** Read-your-writes for the tasks read model: wait until ListTasks shows what an answer shows. */
import { type Observable, Subscription } from 'rxjs';
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';

interface Waiter {
  revision: number;
  resolve: (caughtUp: boolean) => void;
}

/**
 * Read-your-writes for the tasks read model: a blocking SendMessage answers only once ListTasks would
 * show the task as the answer does. A batch the tasks projection commits in this process (`committed$`)
 * answers its waiters at once; otherwise (projections in another process) the waiters of every request
 * share one query every `pollMs`.
 */
export class TasksCaughtUp {
  private readonly waiting = new Map<string, Waiter[]>();
  /** Revisions the projection reached lately, by task: a waiter that comes after the batch needs no query. */
  private readonly reached = new Map<string, number>();
  private readonly subscription: Subscription;
  private timer: NodeJS.Timeout | null = null;
  private readonly informed: boolean;
  private checking = false;
  private again = false;

  constructor(
    private readonly db: SqlExecutor,
    committed$?: Observable<RecordedEvent[]>,
    /** Safety net when commits are signalled; the only way to learn them from another process. */
    private readonly pollMs = committed$ ? 50 : 5,
  ) {
    this.informed = committed$ !== undefined;
    this.subscription = committed$?.subscribe((events) => this.applied(events)) ?? new Subscription();
  }

  private applied(events: RecordedEvent[]) {
    for (const e of events) {
      if (!e.stream.startsWith('task-')) continue;
      const taskId = e.stream.slice('task-'.length);
      this.reached.delete(taskId);
      this.reached.set(taskId, e.revision);
      if (this.reached.size > 10_000) this.reached.delete(this.reached.keys().next().value as string);
      for (const w of this.waiting.get(taskId) ?? []) if (e.revision >= w.revision) w.resolve(true);
    }
  }

  /** Resolves true once rm_tasks holds the task at `revision` or later; false after `timeoutMs`. */
  wait(taskId: string, revision: number, timeoutMs: number): Promise<boolean> {
    if ((this.reached.get(taskId) ?? -1) >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { revision, resolve: () => {} };
      const timeout = setTimeout(() => settle(false), timeoutMs);
      const settle = (caughtUp: boolean) => {
        clearTimeout(timeout);
        const list = this.waiting.get(taskId)?.filter((w) => w !== waiter) ?? [];
        if (list.length > 0) this.waiting.set(taskId, list);
        else this.waiting.delete(taskId);
        resolve(caughtUp);
      };
      waiter.resolve = settle;
      this.waiting.set(taskId, [...(this.waiting.get(taskId) ?? []), waiter]);
      // Told of this process's commits, a query is only the safety net's; otherwise it is the way to know.
      if (this.informed) this.schedule();
      else this.check();
    });
  }

  private schedule() {
    if (this.timer || this.waiting.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, this.pollMs);
  }

  private check() {
    if (this.checking) {
      this.again = true;
      return;
    }
    if (this.waiting.size === 0) return;
    this.checking = true;
    const ids = [...this.waiting.keys()];
    this.db
      .query<{ id: string; revision: number }>(
        'SELECT id, revision FROM rm_tasks WHERE id IN (SELECT jsonb_array_elements_text($1::text::jsonb))',
        [JSON.stringify(ids)],
      )
      .then(
        (rows) => {
          for (const row of rows) {
            for (const w of this.waiting.get(row.id) ?? [])
              if (Number(row.revision) >= w.revision) w.resolve(true);
          }
        },
        () => {}, // the next round asks again; a waiter gives up at its timeout
      )
      .finally(() => {
        this.checking = false;
        if (this.again) {
          this.again = false;
          this.check();
        } else this.schedule();
      });
  }

  close() {
    this.subscription.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    for (const list of [...this.waiting.values()]) for (const w of list) w.resolve(false);
  }
}
