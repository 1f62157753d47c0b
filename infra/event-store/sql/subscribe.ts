/**
 * The catch-up-then-live subscription of the SQL store: pages of the log in log order (bounded in events
 * and bytes), then waits for a wake-up (an append here, a NOTIFY from elsewhere) or the safety-net poll.
 */
import type { RecordedEvent } from '../../../events/envelope.ts';
import type { AllFilter, SubscribeOptions, Subscription } from '../port.ts';
import { cursorOf, filterSql } from './read.ts';
import {
  after,
  COLUMNS,
  type Cursor,
  checkCount,
  FIRST_PAGE_EVENTS,
  PAGE_MAX_BYTES,
  type Row,
  toRecordedEvent,
} from './rows.ts';
import type { SqlContext } from './types.ts';

/** An async wake-up signal with a generation counter, so a wake between a read and a wait is never lost. */
export class Wakeup {
  generation = 0;
  #waiters = new Set<() => void>();
  wake(): void {
    this.generation++;
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }
  on(fn: () => void): () => void {
    this.#waiters.add(fn);
    return () => this.#waiters.delete(fn);
  }
}

/** What a subscription needs of its store. */
export interface LiveLog extends SqlContext {
  wakeup: Wakeup;
  /** Safety-net poll, in ms. */
  pollMs: number;
  /** Events per page at most, unless the subscriber asks for fewer. */
  pageSize: number;
  /** Resolves once the store listens for other processes' appends. */
  listen(): Promise<unknown>;
  /** The store's open subscriptions (it closes them when it closes). */
  subscriptions: Set<Subscription>;
}

/**
 * One page of the log after `cursor`, plus the head: the last event (matching or not) below the same
 * xmin horizon. When the page is not full, everything up to the head has been seen, so a filtered
 * subscription can move its cursor there instead of scanning the same non-matching events again.
 */
export const readPage = async (
  db: SqlContext,
  cursor: Cursor,
  filter: AllFilter | undefined,
  pageSize: number,
  pageBytes: number,
): Promise<{
  events: Array<{ event: RecordedEvent; cursor: Cursor }>;
  head: Cursor | null;
  full: boolean;
  cutByBytes: boolean;
}> => {
  const params: unknown[] = [cursor.tx.toString(), cursor.position, pageSize, pageBytes];
  const where = filterSql(filter, params);
  // A page stops at `pageSize` events or `pageBytes` of their data (the first event always comes),
  // so what a subscriber holds while its consumer is slow is bounded in bytes, not only in events.
  const rows = await db.driver.query(
    `WITH lim AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
     taken AS (
       SELECT ${COLUMNS}, e.tx_id::text AS tx FROM ${db.s}.events e
        WHERE (e.tx_id, e.position) > ($1::text::xid8, $2::bigint) AND e.tx_id < (SELECT xmin FROM lim)${where}
        ORDER BY e.tx_id, e.position LIMIT $3),
     sized AS (
       SELECT t.*, count(*) OVER () AS taken,
              sum(octet_length(t.data)) OVER (ORDER BY t.tx::xid8, t.position) - octet_length(t.data) AS before
         FROM taken t),
     page AS (SELECT * FROM sized WHERE before < $4),
     head AS (
       SELECT h.tx_id::text AS "headTx", h.position AS "headPosition" FROM ${db.s}.events h
        WHERE h.tx_id < (SELECT xmin FROM lim) ORDER BY h.tx_id DESC, h.position DESC LIMIT 1)
     SELECT head."headTx", head."headPosition", page.* FROM head LEFT JOIN page ON true
      ORDER BY page.tx::xid8, page.position`,
    params,
  );
  const first = rows[0];
  const head = first ? { tx: BigInt(String(first.headTx)), position: Number(first.headPosition) } : null;
  const events = rows
    .filter((r) => r.id != null)
    .map((r) => ({
      event: toRecordedEvent(r as Row),
      cursor: { tx: BigInt(String(r.tx)), position: Number(r.position) },
    }));
  // Full: more may follow at once (the count or the byte budget cut the page), so read again now.
  const taken = Number(first?.taken ?? 0);
  const cutByBytes = events.length < taken;
  return { events, head, full: taken === pageSize || cutByBytes, cutByBytes };
};

export const subscribe = (log: LiveLog, options: SubscribeOptions = {}): Subscription => {
  const start = checkCount(options.after, 'after') ?? 0;
  const filter = options.filter;
  const { wakeup } = log;
  const { pollMs } = log;
  const pageSize = checkCount(options.pageSize, 'pageSize') || log.pageSize;
  const pageBytes = Math.min(checkCount(options.pageBytes, 'pageBytes') || PAGE_MAX_BYTES, PAGE_MAX_BYTES);
  const gate = options.readGate ?? (<T>(read: () => Promise<T>) => read());
  let closed = false;
  let interrupt: (() => void) | null = null;
  let inflight: Promise<unknown> | null = null;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight = p;
    return p;
  };

  /** Resolves true when woken (or closed), false when `ms` passed without a wake-up. */
  const waitForWake = (generation: number, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (closed || wakeup.generation !== generation) return resolve(true);
      const done = (woken: boolean) => {
        clearTimeout(timer);
        off();
        interrupt = null;
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), ms);
      const off = wakeup.on(() => done(true));
      interrupt = () => done(true);
    });

  async function* run(): AsyncGenerator<RecordedEvent> {
    try {
      await track(log.listen());
      let cursor = await track(cursorOf(log, start));
      let head: Cursor | null = null;
      let woken = false;
      let eager = 0;
      // Events read per page, within pageSize. The database converts every event it reads to text to
      // size the page, so a page of large events cut by pageBytes read many more than it returned (100
      // events of 100 KB read for the two that fit in 256 KiB). The limit follows what fitted: twice the
      // events of a page the byte budget cut, doubling back towards pageSize while pages fit whole.
      let limit = Math.min(pageSize, FIRST_PAGE_EVENTS);
      while (!closed) {
        const generation = wakeup.generation;
        const from = cursor;
        const size = limit;
        const page = await track(gate(() => readPage(log, from, filter, size, pageBytes)));
        limit = page.cutByBytes
          ? Math.max(1, Math.min(pageSize, page.events.length * 2))
          : Math.min(pageSize, limit * 2);
        for (const { event, cursor: c } of page.events) {
          if (closed) return;
          yield event;
          cursor = c;
        }
        if (page.full) continue;
        const headMoved = page.head !== null && (head === null || after(page.head, head));
        if (page.head && headMoved) head = page.head;
        if (head && after(head, cursor)) cursor = head;
        // Told that something was committed, but nothing new is readable: an older transaction (maybe
        // not even an append) still holds the horizon back. Look again soon (10, 20, 40 ... 500 ms)
        // rather than only at the next poll, until something new is readable.
        eager =
          page.events.length === 0 && !headMoved && (woken || eager > 0)
            ? Math.min(pollMs, 500, eager * 2 || 10)
            : 0;
        woken = await waitForWake(generation, eager || pollMs);
      }
    } catch (err) {
      if (!closed) throw err; // after close(), a failing in-flight query is not the consumer's problem
    } finally {
      log.subscriptions.delete(subscription);
    }
  }

  const iterator = run();
  const subscription: Subscription = {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      closed = true;
      interrupt?.();
      log.subscriptions.delete(subscription);
      await Promise.resolve(inflight).catch(() => {});
    },
  };
  log.subscriptions.add(subscription);
  return subscription;
};
