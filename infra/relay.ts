/** The relay: moves events from the store to the bus in log order, secrets redacted, resuming from what the bus holds. */
import type { Logger } from 'pino';
import type { RecordedEvent } from '../events/envelope.ts';
import { servableEvent } from '../events/secrets.ts';
import type { Bus } from './bus/port.ts';
import type { EventStore } from './event-store/port.ts';

export interface RelayOptions {
  log: Logger;
  /** Largest number of events handed to one bus.publish call. */
  maxBatch?: number;
  /** Delay before starting over after a failure (store or bus unreachable). */
  retryMs?: number;
}

export interface RunningRelay {
  stop(): Promise<void>;
  /** Resolves once everything in the log up to now has been published (for tests and graceful shutdown). */
  readonly published: () => number;
}

/**
 * Moves events from the store to the bus in log order. The resume point is read from the bus itself
 * (the position header of the newest message it holds), not from a checkpoint of the relay's own: JetStream
 * acknowledges before it syncs to disk, so after a NATS crash the bus may hold less than it acknowledged, and
 * only the bus knows what it really has. Events are published with msgID = event id, so a relay that dies
 * between publish and whatever comes next re-publishes into JetStream's dedup window, not into consumers.
 */
export const runRelay = (store: EventStore, bus: Bus, options: RelayOptions): RunningRelay => {
  const maxBatch = options.maxBatch ?? 1000;
  let stopped = false;
  let published = 0;
  let current: { close(): Promise<void> } | null = null;

  const pump = async () => {
    const after = await bus.lastPublishedPosition();
    options.log.info({ after }, 'relay resuming after the newest event the bus holds');
    const subscription = store.subscribeAll({ after });
    current = subscription;
    const buffer: RecordedEvent[] = [];
    let kick: (() => void) | null = null;
    let failure: unknown = null;
    let reading = true;

    // Publisher: drains whatever accumulated while the previous batch was in flight (natural batching).
    const publisher = (async () => {
      while (!failure && (reading || buffer.length > 0)) {
        if (buffer.length === 0) {
          await new Promise<void>((r) => {
            kick = r;
          });
          continue;
        }
        const batch = buffer.splice(0, maxBatch);
        try {
          // The bus is a way out of the hub (integrators read its subjects, infra/bus/tenant-access.ts): secrets
          // stay in the log. No consumer of the bus needs them; those that do read the store.
          await bus.publish(batch.map(servableEvent));
          published += batch.length;
        } catch (error) {
          failure = error;
          await subscription.close();
        }
      }
    })();

    try {
      for await (const event of subscription) {
        buffer.push(event);
        const wake = kick as (() => void) | null;
        kick = null;
        wake?.();
        // Back-pressure: do not read far ahead of what the bus has taken.
        while (buffer.length >= maxBatch * 4 && !failure) await new Promise((r) => setTimeout(r, 1));
        if (failure || stopped) break;
      }
    } finally {
      reading = false;
      const wake = kick as (() => void) | null;
      wake?.();
      await publisher;
      await subscription.close();
    }
    if (failure) throw failure;
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        await pump();
      } catch (error) {
        if (stopped) break;
        options.log.error({ err: error }, 'relay failed; starting over from what the bus holds');
        await new Promise((r) => setTimeout(r, options.retryMs ?? 500));
      }
    }
  })();

  return {
    published: () => published,
    async stop() {
      stopped = true;
      await current?.close();
      await loop;
    },
  };
};
