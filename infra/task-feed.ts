/** Live, gap-free feeds of one task's events for SSE clients, from one shared subscription. */
import type { Observable, Subscription } from 'rxjs';
import type { RecordedEvent } from '../events/envelope.ts';
import type { EventStore } from './event-store/port.ts';

export interface FollowOptions {
  /** Yield events with a revision greater than this (-1: from the start). */
  after: number;
  signal: AbortSignal;
  /** Safety net against lost live messages: re-read the stream this often while idle. */
  pollMs?: number;
  /**
   * The caller read or wrote the stream up to `after` a moment ago: whatever came since is in the feed's
   * recent events or still to arrive live, so the first store read is skipped.
   */
  fresh?: boolean;
}

/** Streams whose recent events are kept with no follower (a follower that starts late still finds them). */
const RECENT_STREAMS = 2048;

/**
 * Gap-free per-stream event feeds for SSE clients, from one shared live subscription: a listener is
 * registered before the store is read, so an event is either in what was read or arrives live (both are
 * de-duplicated by revision); a revision jump or an idle poll re-reads the store from the last revision seen.
 * Many thousands of followers cost one bus subscription and a map entry each.
 */
export class TaskFeed {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly subscription: Subscription;
  private readonly latest = new Map<string, RecordedEvent[]>();
  /** Streams in `latest` that nobody follows, oldest first: the ones forgotten when there are too many. */
  private readonly unfollowed = new Map<string, true>();

  constructor(
    private readonly store: EventStore,
    live: Observable<RecordedEvent>,
  ) {
    this.subscription = live.subscribe((event) => this.offer([event], 'bus'));
  }

  private readonly localListeners = new Set<(events: RecordedEvent[]) => void>();

  /**
   * Hears what writers in this process offer (not what the bus brings): a saga of this process may act on
   * an event at once, ahead of its durable delivery. Listeners must not throw.
   */
  onLocal(listener: (events: RecordedEvent[]) => void): () => void {
    this.localListeners.add(listener);
    return () => this.localListeners.delete(listener);
  }

  /**
   * Events known to be in the log, from the bus or straight from a writer in this process (a local worker:
   * its followers need not wait for the relay and the bus). An event offered twice is seen once.
   */
  offer(events: RecordedEvent[], from: 'local' | 'bus' = 'local'): void {
    if (from === 'local') for (const listener of this.localListeners) listener(events);
    for (const event of events) {
      const buffered = this.latest.get(event.stream) ?? [];
      if (buffered.some((e) => e.revision === event.revision)) continue;
      buffered.push(event);
      buffered.sort((a, b) => a.revision - b.revision);
      const followed = this.listeners.has(event.stream);
      // Nobody following yet: a few events are all a late follower can need (it reads the store otherwise).
      this.latest.set(event.stream, buffered.slice(followed ? -64 : -8));
      if (!followed) this.markUnfollowed(event.stream);
      for (const wake of this.listeners.get(event.stream) ?? []) wake();
    }
  }

  private markUnfollowed(stream: string) {
    this.unfollowed.delete(stream); // re-inserted last: the map's order is recency
    this.unfollowed.set(stream, true);
    while (this.unfollowed.size > RECENT_STREAMS) {
      const oldest = this.unfollowed.keys().next().value as string;
      this.unfollowed.delete(oldest);
      this.latest.delete(oldest);
    }
  }

  async *follow(stream: string, options: FollowOptions): AsyncGenerator<RecordedEvent> {
    let last = options.after;
    let wake: (() => void) | null = null;
    const signalled = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const set = this.listeners.get(stream) ?? new Set();
    set.add(signalled);
    this.listeners.set(stream, set);
    this.unfollowed.delete(stream);
    const onAbort = () => signalled();
    options.signal.addEventListener('abort', onAbort);
    // The store is read at the start (unless the caller is fresh), on a revision jump (a live event was
    // missed) and after an idle poll; a wake by an event already seen (the bus bringing what a local writer
    // offered) reads nothing.
    let mustRead = options.fresh !== true;
    try {
      while (!options.signal.aborted) {
        // Live events that continue exactly where we are need no store read.
        const live = (this.latest.get(stream) ?? []).filter((e) => e.revision > last);
        let next: RecordedEvent[];
        if (
          live.length > 0 &&
          live[0]!.revision === last + 1 &&
          live.every((e, i) => e.revision === last + 1 + i)
        ) {
          next = live;
        } else if (!mustRead && live.length === 0) {
          next = [];
        } else {
          next = await this.store.readStream(stream, { fromRevision: last + 1 });
        }
        mustRead = false;
        for (const event of next) {
          if (event.revision !== last + 1) continue;
          last = event.revision;
          yield event;
          if (options.signal.aborted) return;
        }
        if (next.length > 0) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            mustRead = true;
            signalled();
          }, options.pollMs ?? 2000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      set.delete(signalled);
      if (set.size === 0) {
        this.listeners.delete(stream);
        if (this.latest.has(stream)) this.markUnfollowed(stream);
      }
    }
  }

  close() {
    this.subscription.unsubscribe();
  }
}
