/**
 * The machinery behind Bus.live(), shared by both adapters so that they behave alike:
 *
 * - One underlying subscription per distinct filter subject, however many subscribers it has: the adapter
 *   gives a cold source per subject (JetStream: one core NATS subscription; in-process: a filter on its
 *   publish Subject), and this module keeps it in a Map, multicast with rxjs share() (ref-counted: the
 *   first subscriber opens it, the last one to leave closes it and removes it from the Map).
 * - Each event is decoded once per underlying subscription and deep-frozen: every subscriber of that filter
 *   gets the same read-only object (no one can change what the others see, and 10,000 subscribers do not
 *   cost 10,000 copies).
 * - Never twice, never backwards within a stream: an event passes only if its revision is higher than the
 *   last one passed for its stream. A core NATS subscription also receives what JetStream refused or
 *   dropped as a duplicate (checked on 2.9.10: a re-publish of a stored id and the refused rest of a broken
 *   publish chain both reach core subscribers), and a relay re-publishes after failures; positions cannot
 *   serve here because the log order is not position order (PostgreSQL: (tx_id, position)). The price is
 *   that an event whose first publish was refused, and whose stream has moved on meanwhile, is not
 *   delivered on its re-publish: callers fill gaps from the event store.
 *   The last revision is remembered for the `streamsRemembered` most recently seen streams per underlying
 *   subscription (LRU); a re-publish of a stream forgotten since (older than that many other streams) would
 *   pass again.
 */
import { defer, filter, finalize, map, type Observable, share } from 'rxjs';
import type { RecordedEvent } from '../../events/envelope.ts';

export const DEFAULT_STREAMS_REMEMBERED = 65_536;

export const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};

/** True for an event newer (by revision) than every event of its stream seen so far. */
export const newerInStream = (streamsRemembered = DEFAULT_STREAMS_REMEMBERED) => {
  const last = new Map<string, number>();
  const capacity = Math.max(1, streamsRemembered);
  return (e: RecordedEvent): boolean => {
    const prev = last.get(e.stream);
    if (prev !== undefined && !(e.revision > prev)) return false;
    last.delete(e.stream); // re-insert: the Map's order is the LRU order
    last.set(e.stream, e.revision);
    if (last.size > capacity) last.delete(last.keys().next().value!);
    return true;
  };
};

export interface LiveTaps {
  /** The live view of one filter subject (cold: each subscriber joins the shared subscription). */
  live(subject: string): Observable<RecordedEvent>;
  /** Underlying subscriptions open now: distinct filter subjects with at least one subscriber. */
  open(): number;
}

/**
 * @param source a cold Observable of the decoded events of one filter subject, in publish order; it must
 *   complete when the bus closes (and at once when subscribed on a closed bus).
 */
export const liveTaps = (
  source: (subject: string) => Observable<RecordedEvent>,
  streamsRemembered = DEFAULT_STREAMS_REMEMBERED,
): LiveTaps => {
  const taps = new Map<string, Observable<RecordedEvent>>();
  const tapFor = (subject: string): Observable<RecordedEvent> => {
    const existing = taps.get(subject);
    if (existing) return existing;
    const tap: Observable<RecordedEvent> = defer(() => {
      const fresh = newerInStream(streamsRemembered);
      return source(subject).pipe(filter(fresh), map(deepFreeze));
    }).pipe(
      // Runs when the last subscriber leaves, and when the source completes or fails (share resets then).
      finalize(() => {
        if (taps.get(subject) === tap) taps.delete(subject);
      }),
      share(),
    );
    taps.set(subject, tap);
    return tap;
  };
  return {
    // Looked up per subscription, not per live() call: an Observable kept by a caller and subscribed again
    // after its subject's subscription closed joins (or opens) the current one, never a second one.
    live: (subject) => defer(() => tapFor(subject)),
    open: () => taps.size,
  };
};
