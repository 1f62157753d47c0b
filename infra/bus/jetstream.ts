/**
 * The Bus on NATS JetStream (checked against nats-server 2.9.10, see /work/shared/INFRA.md).
 *
 * Streams: `<NS>_EVENTS` holds `<ns>.evt.>` (file storage, 2 min dedup window, kept forever) and `<NS>_DLQ`
 * holds `<ns>.dlq.>`. Every event is one message: subject eventSubject(ns, e), Nats-Msg-Id = event id, headers
 * Ac-Position / Ac-Event-Id / Ac-Type, body = the RecordedEvent as JSON.
 *
 * Consumers are durable pull consumers, one filter subject each, acknowledged explicitly. max_deliver is
 * unlimited on the server: this adapter dead-letters by itself after `maxDeliver` failed deliveries, so the
 * server never drops a message silently. max_ack_pending is a property of the durable, so it bounds the
 * messages in flight across every process sharing that durable, and while a nak'd message waits for its
 * redelivery it keeps its slot (measured on 2.9.10). Handlers of different messages run concurrently;
 * per-consumer order is only guaranteed with maxAckPending = 1.
 *
 * live() is a core NATS subscription on filterSubject(ns, filter): JetStream publishes are ordinary
 * messages on their subjects, so core subscribers get them too (checked on 2.9.10, same connection and
 * another), in the order of the publishing connection (the relay publishes over one). They also get what
 * the stream did not store (a re-publish of a stored id, the refused rest of a broken publish chain): the
 * per-stream revision check of live.ts drops those that would repeat or go backwards. One NATS subscription
 * per distinct filter subject serves every subscriber of this bus (live.ts); it is unsubscribed when the
 * last one leaves, drained with the connection on close() (subscribers complete), and re-established by
 * the client after a reconnect (what was published meanwhile is missed).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type PubAck,
  ReplayPolicy,
  StorageType,
} from '@nats-io/jetstream';
import {
  connect,
  headers,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
  nanos,
  type Stats,
} from '@nats-io/transport-node';
import { Observable } from 'rxjs';
import type { RecordedEvent } from '../../events/envelope.ts';
import {
  consumerDefaults,
  decodeEvent,
  defaultBackoffMs,
  encodeEvent,
  errorMessage,
  HEADER_DELIVERIES,
  HEADER_DURABLE,
  HEADER_ERROR,
  HEADER_EVENT_ID,
  HEADER_OMITTED,
  HEADER_POSITION,
  HEADER_TYPE,
  headerSafe,
  validDurable,
} from './codec.ts';
import { DEFAULT_STREAMS_REMEMBERED, liveTaps } from './live.ts';
import { natsConnectTarget } from './nats-url.ts';
import {
  type Bus,
  type Consumer,
  type ConsumerOptions,
  deadLetterSubject,
  eventSubject,
  filterSubject,
} from './port.ts';

export interface JetStreamBusOptions {
  /** NATS URLs, comma-separated or a list; `nats://user:pass@host:4222` or `nats://token@host` authenticate. */
  servers: string | string[];
  /** Subject prefix and stream-name prefix. Default `ac`. Tests use a unique one each. */
  namespace?: string;
  /** Stream replicas (1 on a single server). */
  replicas?: number;
  /** Connection name shown by the server (monitoring). */
  name?: string;
  /** live(): streams whose last revision each shared live subscription remembers (see live.ts). */
  liveStreamsRemembered?: number;
}

export interface JetStreamBus extends Bus {
  readonly kind: 'jetstream';
  readonly namespace: string;
  readonly streams: { readonly events: string; readonly dlq: string };
  /** Deletes both streams (and so every consumer and message of this namespace), then closes. For tests. */
  destroy(): Promise<void>;
  /** Core NATS subscriptions open for live() now: one per distinct filter subject with subscribers. */
  liveSubscriptions(): number;
  /**
   * One round trip to the server: every live() subscription opened before it is then known there, so
   * events published from any connection after it resolves are delivered.
   */
  flush(): Promise<void>;
  /** Traffic counters of this bus's connection (nc.stats()), for metrics and tests. */
  stats(): Stats;
}

const DEDUP_WINDOW_MS = 2 * 60_000;
/** Publishes in flight at once within one publish() call. */
const PUBLISH_WINDOW = 256;
const WRONG_LAST_MSG_ID = 10070;
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
const RESUBSCRIBE_MS = 1000;

interface RunningConsumer extends Consumer {
  /** Stops pulling without waiting for the handlers (the connection is going away). */
  abandon(): void;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const apiCode = (err: unknown) => (err instanceof JetStreamApiError ? err.code : undefined);

/** Acks, naks and terms are fire-and-forget publishes; on a closed connection they throw, which is fine. */
const quietly = (fn: () => void) => {
  try {
    fn();
  } catch {
    // connection closed: the server redelivers after ack_wait
  }
};

export const createJetStreamBus = async (options: JetStreamBusOptions): Promise<JetStreamBus> => {
  const ns = options.namespace ?? 'ac';
  if (!/^[A-Za-z0-9_-]+$/.test(ns)) throw new Error(`namespace "${ns}" must be letters, digits, "_" or "-"`);
  const streams = { events: `${ns.toUpperCase()}_EVENTS`, dlq: `${ns.toUpperCase()}_DLQ` } as const;
  const nc: NatsConnection = await connect({
    // Credentials in the URLs (`nats://user:pass@host`) become options: nats.js ignores a URL's userinfo.
    ...natsConnectTarget(options.servers),
    name: options.name ?? `agentcore-bus-${ns}`,
    maxReconnectAttempts: -1,
    // Otherwise every request (each JetStream publish) captures a stack trace up front in case it fails:
    // measured at 4% of a busy hub's CPU. Our own errors say which event and which durable.
    noAsyncTraces: true,
  });
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  try {
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    for (const [name, subject] of [
      [streams.events, `${ns}.evt.>`],
      [streams.dlq, `${ns}.dlq.>`],
    ] as const) {
      await ensureStream(jsm, name, subject, options.replicas ?? 1);
    }
  } catch (err) {
    await nc.close();
    throw err;
  }

  /** Consumers of this connection, so close() can let go of them without waiting for their handlers. */
  const live = new Set<RunningConsumer>();
  const gone = () => nc.isClosed() || nc.isDraining();

  /** The core subscriptions behind live(), to count them. */
  const liveSubscriptions = new Set<NatsSubscription>();
  const taps = liveTaps(
    (subject) =>
      new Observable<RecordedEvent>((subscriber) => {
        if (gone()) {
          subscriber.complete();
          return;
        }
        let sub: NatsSubscription;
        try {
          sub = nc.subscribe(subject, {
            callback: (err, msg) => {
              if (err) {
                subscriber.error(err);
                return;
              }
              let event: RecordedEvent;
              try {
                event = decodeEvent(msg.data);
              } catch {
                return; // not an envelope (someone else published on our subjects)
              }
              subscriber.next(event);
            },
          });
        } catch (err) {
          subscriber.error(err); // the connection closed in between
          return;
        }
        liveSubscriptions.add(sub);
        // Closed by the server or the connection (drain on close()): end the subscribers' streams.
        void sub.closed.then((result) => {
          liveSubscriptions.delete(sub);
          if (result instanceof Error) subscriber.error(result);
          else subscriber.complete();
        });
        return () => {
          liveSubscriptions.delete(sub);
          if (!sub.isClosed()) quietly(() => sub.unsubscribe());
        };
      }),
    options.liveStreamsRemembered ?? DEFAULT_STREAMS_REMEMBERED,
  );

  /**
   * Pipelined, ordered publish. Every message but the first of a chain carries
   * Nats-Expected-Last-Msg-Id = the previous event id, so if message k fails, every later one in flight
   * is refused too and the stream never gets a gap (lastPublishedPosition stays a safe resume point).
   * The server checks dedup before that expectation (checked on 2.9.10), so re-publishing is harmless.
   */
  const publishChain = async (chain: RecordedEvent[]): Promise<{ index: number; error: unknown } | null> => {
    const inFlight: Array<Promise<PubAck>> = [];
    let firstFailure: { index: number; error: unknown } | null = null;
    let settled = 0;
    const settleOldest = async () => {
      const index = settled++;
      const p = inFlight[index]!;
      try {
        const ack = await p;
        if (ack.stream !== streams.events) {
          throw new Error(
            `event ${chain[index]!.id} was stored in stream ${ack.stream}, not ${streams.events}`,
          );
        }
      } catch (error) {
        firstFailure ??= { index, error };
      }
    };
    for (let i = 0; i < chain.length && !firstFailure; i++) {
      const e = chain[i]!;
      const h = headers();
      h.set(HEADER_POSITION, String(e.position));
      h.set(HEADER_EVENT_ID, headerSafe(e.id));
      h.set(HEADER_TYPE, headerSafe(e.type));
      let payload = encodeEvent(e);
      // An event larger than the server takes (max_payload; 1 MiB by default) would be refused on every
      // try and stall the relay for every tenant. The command handler keeps new events under
      // AGENTCORE_MAX_EVENT_BYTES; one written before that limit goes out without its data, marked, so its
      // consumers refuse it (and dead-letter it) instead of the whole bus stopping behind it.
      const limit = (nc.info?.max_payload ?? 1024 * 1024) - 8 * 1024;
      if (payload.length > limit) {
        h.set(HEADER_OMITTED, String(payload.length));
        payload = encodeEvent({
          ...e,
          data: { omitted: `${payload.length} bytes, over the bus's ${limit}` },
        });
      }
      const p = js.publish(eventSubject(ns, e), payload, {
        msgID: e.id,
        headers: h,
        ...(i > 0 ? { expect: { lastMsgID: chain[i - 1]!.id } } : {}),
      });
      p.catch(() => {}); // observed in settleOldest; avoid an unhandled rejection meanwhile
      inFlight.push(p);
      if (inFlight.length - settled >= PUBLISH_WINDOW) await settleOldest();
    }
    while (settled < inFlight.length) await settleOldest();
    return firstFailure;
  };

  const publishDeadLetter = async (
    durable: string,
    raw: Uint8Array,
    err: unknown,
    deliveries: number,
    id?: string,
  ) => {
    const h = headers();
    h.set(HEADER_ERROR, headerSafe(errorMessage(err)) || 'error');
    h.set(HEADER_DURABLE, durable);
    h.set(HEADER_DELIVERIES, String(deliveries));
    if (id) h.set(HEADER_EVENT_ID, headerSafe(id));
    const ack = await js.publish(deadLetterSubject(ns, durable), raw, {
      headers: h,
      ...(id ? { msgID: `${durable}:${id}` } : {}),
    });
    if (ack.stream !== streams.dlq)
      throw new Error(`dead letter stored in ${ack.stream}, not ${streams.dlq}`);
  };

  const ensureConsumer = async (config: Partial<ConsumerConfig> & { durable_name: string }) => {
    // Processes starting together add the same durables at the same moment: one add wins, the others
    // update what it added (or, caught in between, try again).
    for (let attempt = 1; ; attempt++) {
      try {
        // On 2.9.10 adding an existing durable with a different (updatable) config updates it.
        await jsm.consumers.add(streams.events, config);
        return;
      } catch (err) {
        if (apiCode(err) === STREAM_NOT_FOUND) throw err;
        try {
          await jsm.consumers.update(streams.events, config.durable_name, config);
          return;
        } catch (again) {
          if (attempt >= 5) throw again;
          await delay(50 * attempt);
        }
      }
    }
  };

  const bus: JetStreamBus = {
    kind: 'jetstream',
    namespace: ns,
    streams,

    async publish(events) {
      // Repeats of an id inside one call are dropped here (JetStream would drop them anyway), so that the
      // expected-last-id chain only links events that really get stored.
      const seen = new Set<string>();
      let rest = events.filter((e) => !seen.has(e.id) && seen.add(e.id));
      while (rest.length > 0) {
        const failure = await publishChain(rest);
        if (!failure) return;
        // Everything before `index` is in the stream. A wrong-last-id refusal there means the previous
        // event was a duplicate of an older message (a republish): start a new chain from `index`.
        if (failure.index > 0 && apiCode(failure.error) === WRONG_LAST_MSG_ID) {
          rest = rest.slice(failure.index);
          continue;
        }
        const e = rest[failure.index]!;
        throw new Error(
          `publishing event ${e.id} (position ${e.position}) failed: ${errorMessage(failure.error)}; ` +
            'the events before it are stored, and the ones after it only if it was stored after all',
          { cause: failure.error },
        );
      }
    },

    async consume(o: ConsumerOptions): Promise<Consumer> {
      const durable = validDurable(o.durable);
      const maxAckPending = Math.max(1, o.maxAckPending ?? consumerDefaults.maxAckPending);
      const ackWaitMs = o.ackWaitMs ?? consumerDefaults.ackWaitMs;
      const maxDeliver = Math.max(1, o.maxDeliver ?? consumerDefaults.maxDeliver);
      const backoffMs = o.backoffMs ?? defaultBackoffMs;
      const config = {
        durable_name: durable,
        filter_subject: filterSubject(ns, o.filter),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        replay_policy: ReplayPolicy.Instant,
        ack_wait: nanos(ackWaitMs),
        max_ack_pending: maxAckPending,
        max_deliver: -1,
      } satisfies Partial<ConsumerConfig>;
      await ensureConsumer(config);

      const handlers = new Set<Promise<void>>();
      let stopping = false;
      let messages: ConsumerMessages | null = null;

      const handle = async (m: JsMsg) => {
        const deliveryCount = m.info.deliveryCount;
        let event: RecordedEvent;
        try {
          event = decodeEvent(m.data);
        } catch (err) {
          // Not an envelope (someone else published on our subjects): no handler can take it.
          try {
            await publishDeadLetter(durable, m.data, err, deliveryCount);
            quietly(() => m.term());
          } catch {
            quietly(() => m.nak(backoffMs(deliveryCount)));
          }
          return;
        }
        try {
          await o.handler({
            event,
            subject: m.subject,
            deliveryCount,
            working: () => quietly(() => m.working()),
          });
          quietly(() => m.ack());
        } catch (err) {
          if (deliveryCount >= maxDeliver) {
            try {
              await publishDeadLetter(durable, m.data, err, deliveryCount, event.id);
              quietly(() => m.term());
            } catch {
              quietly(() => m.nak(backoffMs(deliveryCount))); // DLQ unreachable: keep the message
            }
          } else {
            quietly(() => m.nak(backoffMs(deliveryCount)));
          }
        }
      };

      const loop = (async () => {
        while (!stopping && !gone()) {
          try {
            const consumer = await js.consumers.get(streams.events, durable);
            const it = await consumer.consume({ max_messages: maxAckPending });
            messages = it;
            if (stopping) {
              // Stopped while this was being set up. Not awaited: closing a consume that has not had its
              // first pull answered never resolves (nats.js 3.x), and nothing was received to hand back.
              void it.close().catch(() => {});
              break;
            }
            for await (const m of it) {
              if (stopping) {
                quietly(() => m.nak()); // fetched after stop(): hand it straight back to the other copies
                continue;
              }
              const p: Promise<void> = handle(m).finally(() => handlers.delete(p));
              handlers.add(p);
            }
          } catch (err) {
            if (stopping || gone()) break;
            // Consumer deleted under us (or stream recreated): put it back and carry on.
            if (apiCode(err) === CONSUMER_NOT_FOUND || apiCode(err) === STREAM_NOT_FOUND) {
              await ensureStream(jsm, streams.events, `${ns}.evt.>`, options.replicas ?? 1).catch(() => {});
              await ensureConsumer(config).catch(() => {});
            }
          }
          if (!stopping && !gone()) await delay(RESUBSCRIBE_MS);
        }
      })();

      const running: RunningConsumer = {
        async stop() {
          if (!stopping) {
            stopping = true;
            // Unsubscribes (no more pulls); what was already received is nak'd by the loop.
            await (messages as ConsumerMessages | null)?.close();
          }
          await loop;
          while (handlers.size > 0) await Promise.allSettled([...handlers]);
          live.delete(running);
          if (!nc.isClosed()) await nc.flush().catch(() => {});
        },
        abandon() {
          stopping = true;
          void (messages as ConsumerMessages | null)?.close();
          live.delete(running);
        },
      };
      live.add(running);
      return running;
    },

    async lastPublishedPosition() {
      // The newest message the stream really holds (last_by_subj with the stream's wildcard works on 2.9.10;
      // unlike last_seq it is never a sequence whose message is gone).
      const m = await jsm.streams.getMessage(streams.events, { last_by_subj: `${ns}.evt.>` });
      if (!m) return 0;
      const header = (m.header as MsgHdrs | undefined)?.get(HEADER_POSITION);
      const position = header ? Number(header) : decodeEvent(m.data).position;
      if (!Number.isFinite(position))
        throw new Error(`message ${m.seq} carries no usable ${HEADER_POSITION}`);
      return position;
    },

    async pending(durable) {
      try {
        const ci = await jsm.consumers.info(streams.events, validDurable(durable));
        return ci.num_pending + ci.num_ack_pending;
      } catch (err) {
        if (apiCode(err) === CONSUMER_NOT_FOUND) return 0;
        throw err;
      }
    },

    async deadLetters(durable) {
      const subject = deadLetterSubject(ns, durable);
      const info = await jsm.streams.info(streams.dlq, { subjects_filter: subject });
      const count = info.state.subjects?.[subject] ?? 0;
      if (count === 0) return [];
      const reader = await js.consumers.get(streams.dlq, { filter_subjects: subject });
      const it = await reader.consume({ max_messages: Math.min(count, 1000) });
      const timer = setTimeout(() => void it.close(), 10_000);
      const out: RecordedEvent[] = [];
      try {
        for await (const m of it) {
          try {
            out.push(decodeEvent(m.data));
          } catch {
            // a dead-lettered non-envelope: kept in the stream, not an event to return
          }
          if (m.info.pending === 0) break;
        }
      } finally {
        clearTimeout(timer);
        await it.close();
      }
      return out;
    },

    live: (f) => taps.live(filterSubject(ns, f)),

    liveSubscriptions: () => liveSubscriptions.size,

    async flush() {
      await nc.flush();
    },

    stats: () => nc.stats(),

    async close() {
      for (const c of [...live]) c.abandon();
      if (!nc.isClosed()) await nc.drain();
    },

    async destroy() {
      for (const c of [...live]) c.abandon();
      if (!nc.isClosed()) {
        for (const name of [streams.events, streams.dlq]) {
          await jsm.streams.delete(name).catch((err) => {
            if (apiCode(err) !== STREAM_NOT_FOUND) throw err;
          });
        }
        await nc.drain();
      }
    },
  };
  return bus;
};

const ensureStream = async (jsm: JetStreamManager, name: string, subject: string, replicas: number) => {
  try {
    const info = await jsm.streams.info(name);
    if (!info.config.subjects?.includes(subject)) {
      await jsm.streams.update(name, {
        ...info.config,
        subjects: [...(info.config.subjects ?? []), subject],
      });
    }
    return;
  } catch (err) {
    if (apiCode(err) !== STREAM_NOT_FOUND) throw err;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(DEDUP_WINDOW_MS),
      max_age: 0,
      allow_direct: true,
    });
  } catch (err) {
    // Another process created it between our info and add.
    const exists = await jsm.streams.info(name).then(
      () => true,
      () => false,
    );
    if (!exists) throw err;
  }
};
