/**
 * The Bus inside one process (embedded mode): no server, the same consumer semantics as the JetStream
 * adapter so that the one contract suite holds for both.
 *
 * - An ordered in-memory log; publish drops an event id seen among the last `dedupWindow` ids.
 * - Durable consumers: every consume() with the same durable name shares one cursor, each message goes to
 *   one of them (round robin). A new durable starts at the oldest retained event (DeliverPolicy.All).
 * - At most maxAckPending unacknowledged messages per durable; a nak'd message keeps its slot while it
 *   waits for its redelivery (as JetStream 2.9 does), so maxAckPending = 1 keeps publish order even
 *   across retries. Handlers of different messages otherwise run concurrently.
 * - Resolve = ack; throw = nak and redeliver after backoffMs(deliveryCount), or dead-letter once
 *   deliveryCount >= maxDeliver; a handler that has not settled after ackWaitMs loses the message, which is
 *   redelivered (its late result is ignored).
 * - Memory: the prefix every known durable has acknowledged is dropped, except the newest `retain` events
 *   (so a durable that registers a little late still sees them). Known durables are those consuming in this
 *   process and those with a saved position (they will be back); with none known nothing is dropped.
 * - durableState: per durable, the position of the newest event of its contiguous acknowledged prefix is
 *   saved (coalesced: one save in flight per durable, the latest value wins). After a restart the log is
 *   empty and lastPublishedPosition() returns the smallest saved position, so the relay republishes
 *   everything not every durable had acknowledged. Consumers are idempotent: redelivery is allowed.
 * - live(): publish() hands the events it appends (duplicates dropped as above) to the live subscribers
 *   synchronously, before it returns, through one queue drained by one loop: an observer that publishes
 *   from next() gets its events delivered after the current one has reached every subscriber, so all of
 *   them see one order. One filter on the publish Subject per distinct filter subject, shared (live.ts);
 *   each event is decoded from its wire form once per filter and deep-frozen, so subscribers get the same
 *   read-only copy, never the object given to publish().
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, map, Subject, type Subscription } from 'rxjs';
import type { RecordedEvent } from '../../events/envelope.ts';
import { consumerDefaults, defaultBackoffMs, eventFromJson, eventToJson, validDurable } from './codec.ts';
import { DEFAULT_STREAMS_REMEMBERED, liveTaps } from './live.ts';
import {
  type Bus,
  type Consumer,
  type ConsumerOptions,
  type Delivery,
  eventSubject,
  filterSubject,
} from './port.ts';

export interface DurableStateStore {
  /** Saved position per durable name. */
  load(): Promise<Record<string, number>>;
  save(durable: string, position: number): Promise<void>;
}

export interface InProcessBusOptions {
  durableState?: DurableStateStore;
  /** Least time between two saves of one durable's position (default 50 ms). */
  saveIntervalMs?: number;
  /** Subject namespace, as on JetStream (Delivery.subject). Default `ac`. */
  namespace?: string;
  /** How many recent event ids publish remembers for dedup. Default 100000. */
  dedupWindow?: number;
  /** Events kept in memory even when every known durable has acknowledged them. Default 1000. */
  retain?: number;
  /** A failed durableState.load/save (the bus carries on; the save is retried on the next advance). */
  onError?: (err: unknown) => void;
  /** live(): streams whose last revision each shared live subscription remembers (see live.ts). */
  liveStreamsRemembered?: number;
}

export interface InProcessBus extends Bus {
  readonly kind: 'in-process';
  /** Number of events held in memory (for tests and metrics). */
  retained(): number;
  /** Shared live() subscriptions open now: one per distinct filter subject with subscribers. */
  liveSubscriptions(): number;
}

/** NATS subject matching: `*` is exactly one token, a final `>` is one or more tokens. */
export const subjectMatches = (filter: string, subject: string): boolean => {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    const t = f[i]!;
    if (t === '>') return i === f.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return f.length === s.length;
};

interface Entry {
  seq: number;
  id: string;
  position: number;
  subject: string;
  json: string;
}

interface Unacked {
  seq: number;
  deliveryCount: number;
  state: 'waiting' | 'handling';
  /** When a waiting message may be delivered again. */
  dueAt: number;
  /** Bumped on every delivery, so a late result of a timed-out delivery is recognised and ignored. */
  attempt: number;
  ackTimer: ReturnType<typeof setTimeout> | null;
}

interface LocalConsumer {
  handler: ConsumerOptions['handler'];
  active: boolean;
  handling: Set<Promise<void>>;
}

interface Durable {
  name: string;
  filter: string;
  maxAckPending: number;
  ackWaitMs: number;
  maxDeliver: number;
  backoffMs: (deliveryCount: number) => number;
  /** Next sequence never looked at. */
  cursor: number;
  /** Delivered (or being redelivered) and not acknowledged, by sequence. */
  unacked: Map<number, Unacked>;
  waiting: Set<Unacked>;
  consumers: LocalConsumer[];
  next: number;
  /** Every sequence below is done (acked, dead-lettered or not matching). */
  floor: number;
  /** Position of the event at floor - 1, once there is one. */
  prefixPosition: number | null;
  savedPosition: number | null;
  saving: Promise<void> | null;
  dueTimer: ReturnType<typeof setTimeout> | null;
  dueAt: number;
  deadLetters: string[];
  pumping: boolean;
  repump: boolean;
  wake: Subscription;
}

export const createInProcessBus = (options: InProcessBusOptions = {}): InProcessBus => {
  const ns = options.namespace ?? 'ac';
  const dedupWindow = options.dedupWindow ?? 100_000;
  const retain = Math.max(0, options.retain ?? 1000);
  const store = options.durableState;
  const saveIntervalMs = options.saveIntervalMs ?? 50;
  const onError = options.onError ?? (() => {});

  // The log: entries[i] has sequence base + i; entries before `start` are trimmed (compacted lazily).
  let entries: Entry[] = [];
  let base = 1;
  let start = 0;
  let nextSeq = 1;
  const firstSeq = () => base + start;
  const entryAt = (seq: number): Entry | undefined =>
    seq >= firstSeq() && seq < nextSeq ? entries[seq - base] : undefined;

  const recentIds = new Set<string>();
  let lastPosition: number | null = null;
  let closed = false;
  const appended$ = new Subject<void>();
  const durables = new Map<string, Durable>();

  // live(): appended entries, in publish order, through one queue so that a re-entrant publish (from an
  // observer's next()) cannot overtake the entry being handed out.
  const live$ = new Subject<Entry>();
  const liveQueue: Entry[] = [];
  let liveDraining = false;
  const emitLive = (added: Entry[]) => {
    liveQueue.push(...added);
    if (liveDraining) return; // the loop below, further up the stack, takes them in turn
    liveDraining = true;
    try {
      for (let i = 0; i < liveQueue.length; i++) live$.next(liveQueue[i]!);
    } finally {
      liveQueue.length = 0;
      liveDraining = false;
    }
  };
  const taps = liveTaps(
    (subject) =>
      live$.pipe(
        filter((entry) => subjectMatches(subject, entry.subject)),
        map((entry) => eventFromJson(entry.json)),
      ),
    options.liveStreamsRemembered ?? DEFAULT_STREAMS_REMEMBERED,
  );

  /** Saved positions from before this process; a saved durable not consuming yet holds back trimming. */
  let persisted: Record<string, number> = {};
  const loaded: Promise<void> = store
    ? store.load().then(
        (p) => {
          persisted = { ...p };
        },
        (err) => onError(err),
      )
    : Promise.resolve();

  const assertOpen = () => {
    if (closed) throw new Error('the in-process bus is closed');
  };

  const trim = () => {
    // No durable known yet: nothing is known to be safe to drop (consumers may register after the relay
    // started), so a bus nobody consumes from keeps everything.
    if (durables.size === 0) return;
    let cutoff = nextSeq - retain;
    for (const d of durables.values()) cutoff = Math.min(cutoff, d.floor);
    for (const name of Object.keys(persisted)) if (!durables.has(name)) cutoff = Math.min(cutoff, 0);
    if (cutoff <= firstSeq()) return;
    start = Math.min(cutoff, nextSeq) - base;
    if (start > 1024 && start * 2 > entries.length) {
      entries = entries.slice(start);
      base += start;
      start = 0;
    }
  };

  const scheduleSave = (d: Durable) => {
    if (!store || d.saving || d.prefixPosition === null || d.prefixPosition === d.savedPosition) return;
    d.saving = (async () => {
      try {
        while (d.prefixPosition !== null && d.prefixPosition !== d.savedPosition) {
          const position = d.prefixPosition;
          await store.save(d.name, position);
          d.savedPosition = position;
          // At most one write per durable per interval under load: a crash redelivers the last few events
          // (consumers are idempotent), which costs less than a write per event and durable.
          if (!closed && d.prefixPosition !== d.savedPosition) await sleep(saveIntervalMs);
        }
      } catch (err) {
        onError(err);
      } finally {
        d.saving = null;
      }
    })();
  };

  const advanceFloor = (d: Durable) => {
    let floor = d.cursor;
    for (const seq of d.unacked.keys()) if (seq < floor) floor = seq;
    if (floor <= d.floor) return;
    d.floor = floor;
    const e = entryAt(floor - 1);
    if (e) {
      d.prefixPosition = e.position;
      scheduleSave(d);
    }
  };

  const pickConsumer = (d: Durable): LocalConsumer | undefined => {
    const n = d.consumers.length;
    if (n === 0) return undefined;
    d.next = (d.next + 1) % n;
    return d.consumers[d.next];
  };

  const deliver = (d: Durable, c: LocalConsumer, u: Unacked) => {
    const entry = entryAt(u.seq)!;
    d.waiting.delete(u);
    u.state = 'handling';
    u.deliveryCount++;
    const attempt = ++u.attempt;
    const expire = () => {
      if (u.attempt !== attempt || u.state !== 'handling') return;
      u.ackTimer = null;
      u.state = 'waiting';
      u.dueAt = Date.now();
      d.waiting.add(u);
      pump(d);
    };
    const delivery: Delivery = {
      event: eventFromJson(entry.json), // a fresh copy per delivery, as off the wire
      subject: entry.subject,
      deliveryCount: u.deliveryCount,
      working: () => {
        if (u.attempt !== attempt || u.state !== 'handling' || !u.ackTimer) return;
        clearTimeout(u.ackTimer);
        u.ackTimer = setTimeout(expire, d.ackWaitMs);
      },
    };
    u.ackTimer = setTimeout(expire, d.ackWaitMs);
    const run = (async () => {
      await null; // never run a handler inside publish() or pump()
      return c.handler(delivery);
    })();
    const settled: Promise<void> = run.then(
      () => settle(d, u, attempt, entry, null),
      (err: unknown) => settle(d, u, attempt, entry, { err }),
    );
    c.handling.add(settled);
    void settled.finally(() => c.handling.delete(settled));
  };

  const settle = (
    d: Durable,
    u: Unacked,
    attempt: number,
    entry: Entry,
    failure: { err: unknown } | null,
  ) => {
    if (closed || u.attempt !== attempt || u.state !== 'handling') return; // timed out meanwhile
    if (u.ackTimer) clearTimeout(u.ackTimer);
    u.ackTimer = null;
    if (failure === null) {
      d.unacked.delete(u.seq);
    } else if (u.deliveryCount >= d.maxDeliver) {
      d.deadLetters.push(entry.json);
      d.unacked.delete(u.seq);
    } else {
      u.state = 'waiting';
      u.dueAt = Date.now() + Math.max(0, d.backoffMs(u.deliveryCount));
      d.waiting.add(u);
    }
    pump(d);
  };

  const pump = (d: Durable) => {
    if (closed) return;
    if (d.pumping) {
      d.repump = true;
      return;
    }
    d.pumping = true;
    try {
      do {
        d.repump = false;
        for (;;) {
          if (d.consumers.length === 0) break;
          // Redeliveries that are due come first, oldest sequence first.
          const now = Date.now();
          let due: Unacked | undefined;
          for (const u of d.waiting) if (u.dueAt <= now && (!due || u.seq < due.seq)) due = u;
          if (due) {
            deliver(d, pickConsumer(d)!, due);
            continue;
          }
          if (d.unacked.size >= d.maxAckPending) break;
          let entry: Entry | undefined;
          while (d.cursor < nextSeq && !entry) {
            const e = entryAt(d.cursor);
            d.cursor++;
            if (e && subjectMatches(d.filter, e.subject)) entry = e;
          }
          if (!entry) break;
          const u: Unacked = {
            seq: entry.seq,
            deliveryCount: 0,
            state: 'waiting',
            dueAt: 0,
            attempt: 0,
            ackTimer: null,
          };
          d.unacked.set(u.seq, u);
          deliver(d, pickConsumer(d)!, u);
        }
      } while (d.repump);
      advanceFloor(d);
      trim();
      armDueTimer(d);
    } finally {
      d.pumping = false;
    }
  };

  const armDueTimer = (d: Durable) => {
    let earliest = Number.POSITIVE_INFINITY;
    for (const u of d.waiting) earliest = Math.min(earliest, u.dueAt);
    if (earliest === d.dueAt && d.dueTimer) return;
    if (d.dueTimer) clearTimeout(d.dueTimer);
    d.dueTimer = null;
    d.dueAt = earliest;
    if (earliest === Number.POSITIVE_INFINITY || d.consumers.length === 0) return;
    d.dueTimer = setTimeout(
      () => {
        d.dueTimer = null;
        d.dueAt = Number.POSITIVE_INFINITY;
        pump(d);
      },
      Math.max(0, earliest - Date.now()),
    );
  };

  const durableFor = (name: string): Durable => {
    let d = durables.get(name);
    if (!d) {
      const created: Durable = {
        name,
        filter: filterSubject(ns),
        maxAckPending: consumerDefaults.maxAckPending,
        ackWaitMs: consumerDefaults.ackWaitMs,
        maxDeliver: consumerDefaults.maxDeliver,
        backoffMs: defaultBackoffMs,
        cursor: firstSeq(),
        unacked: new Map(),
        waiting: new Set(),
        consumers: [],
        next: -1,
        floor: firstSeq(),
        prefixPosition: null,
        savedPosition: persisted[name] ?? null,
        saving: null,
        dueTimer: null,
        dueAt: Number.POSITIVE_INFINITY,
        deadLetters: [],
        pumping: false,
        repump: false,
        wake: appended$.subscribe(() => pump(created)),
      };
      d = created;
      durables.set(name, d);
    }
    return d;
  };

  const bus: InProcessBus = {
    kind: 'in-process',

    async publish(events: RecordedEvent[]) {
      assertOpen();
      const added: Entry[] = [];
      for (const e of events) {
        if (recentIds.has(e.id)) continue;
        const json = eventToJson(e); // also proves it survives the wire format
        recentIds.add(e.id);
        if (recentIds.size > dedupWindow) recentIds.delete(recentIds.values().next().value!);
        const entry: Entry = {
          seq: nextSeq++,
          id: e.id,
          position: e.position,
          subject: eventSubject(ns, e),
          json,
        };
        entries.push(entry);
        added.push(entry);
        lastPosition = e.position;
      }
      if (added.length > 0) {
        appended$.next();
        if (live$.observed || liveDraining) emitLive(added);
      }
    },

    async consume(o: ConsumerOptions): Promise<Consumer> {
      const name = validDurable(o.durable);
      await loaded;
      assertOpen();
      const d = durableFor(name);
      // Like a JetStream consumer update: the latest consume() sets the durable's configuration.
      d.filter = filterSubject(ns, o.filter);
      d.maxAckPending = Math.max(1, o.maxAckPending ?? consumerDefaults.maxAckPending);
      d.ackWaitMs = o.ackWaitMs ?? consumerDefaults.ackWaitMs;
      d.maxDeliver = Math.max(1, o.maxDeliver ?? consumerDefaults.maxDeliver);
      d.backoffMs = o.backoffMs ?? defaultBackoffMs;
      const c: LocalConsumer = { handler: o.handler, active: true, handling: new Set() };
      d.consumers.push(c);
      pump(d);
      return {
        async stop() {
          if (c.active) {
            c.active = false;
            d.consumers = d.consumers.filter((x) => x !== c);
          }
          while (c.handling.size > 0) await Promise.allSettled([...c.handling]);
        },
      };
    },

    async lastPublishedPosition() {
      await loaded;
      if (lastPosition !== null) return lastPosition;
      const saved = Object.values(persisted);
      return saved.length === 0 ? 0 : Math.min(...saved);
    },

    async pending(durable) {
      const d = durables.get(durable);
      if (!d) return 0;
      let n = d.unacked.size;
      for (let seq = Math.max(d.cursor, firstSeq()); seq < nextSeq; seq++) {
        if (subjectMatches(d.filter, entryAt(seq)!.subject)) n++;
      }
      return n;
    },

    async deadLetters(durable) {
      return (durables.get(durable)?.deadLetters ?? []).map(eventFromJson);
    },

    live: (f) => taps.live(filterSubject(ns, f)),

    retained: () => nextSeq - firstSeq(),

    liveSubscriptions: () => taps.open(),

    async close() {
      if (closed) return;
      closed = true;
      for (const d of durables.values()) {
        d.wake.unsubscribe();
        for (const c of d.consumers) c.active = false;
        d.consumers = [];
        if (d.dueTimer) clearTimeout(d.dueTimer);
        for (const u of d.unacked.values()) if (u.ackTimer) clearTimeout(u.ackTimer);
      }
      appended$.complete();
      live$.complete(); // live subscribers complete
      // Let the last saves land (one more try for a durable whose save failed).
      for (const d of durables.values()) {
        await d.saving;
        scheduleSave(d);
        await d.saving;
      }
    },
  };
  return bus;
};
