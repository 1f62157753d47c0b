/**
 * The webhook delivery saga: follows every webhook subscription's stream and runs one delivery loop
 * (sagas/webhook-worker.ts) per active subscription, in the one process that holds the `webhooks` leader
 * lock (a standby takes over when it dies), so a subscription is never delivered by two processes at once.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { CommandError } from '../commands/errors.ts';
import { handle } from '../commands/handle.ts';
import { type DeadLetter, type WebhookState, webhookDecider } from '../commands/webhook.ts';
import { WEBHOOK_STREAM_PREFIX, WebhookEvent, webhookStream } from '../events/webhook.ts';
import type { EventStore, Subscription } from '../infra/event-store/port.ts';
import { FairScheduler } from '../infra/fair-scheduler.ts';
import type { LeaderLock } from '../infra/leader.ts';
import { safeErr } from '../infra/log-safe.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import type { Lookup, SafeFetchOptions } from '../infra/ssrf.ts';
import { dropCheckpoint, startingPoint } from './webhook-checkpoints.ts';
import type { WebhookSettings } from './webhook-settings.ts';
import {
  type DeliveryContext,
  deliverWithRetries,
  type LiveSubscription,
  recordDeadLetter,
  SubscriptionWorker,
} from './webhook-worker.ts';

export interface WebhookDeliveryDeps {
  store: EventStore;
  db: SqlDatabase;
  log: Logger;
  /** Who delivers: the sole process embedded, a PostgreSQL advisory lock distributed. */
  leader: LeaderLock;
  /** AGENTCORE_ALLOW_PRIVATE_URLS: receivers may be on loopback/private addresses. */
  allowPrivateUrls: boolean;
  settings: WebhookSettings;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
  now?: () => Date;
}

interface Tracked {
  tenant: string;
  state: WebhookState;
  /** Position of WebhookSubscribed: where "from now" starts. */
  subscribedAt: number;
}

/** The subscriptions as their streams tell, and the loops delivering them, while this process leads. */
class DeliveryManager {
  readonly #tracked = new Map<string, Tracked>();
  readonly #workers = new Map<string, SubscriptionWorker>();
  readonly #redriving = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #reconciling = Promise.resolve();
  #log: Subscription | null = null;

  constructor(private readonly ctx: DeliveryContext) {}

  async run(): Promise<void> {
    this.#log = this.ctx.store.subscribeAll({ after: 0, filter: { streamPrefix: WEBHOOK_STREAM_PREFIX } });
    for await (const recorded of this.#log) {
      const parsed = WebhookEvent.safeParse({ type: recorded.type, data: recorded.data });
      if (!parsed.success) continue;
      const event = parsed.data;
      const id = event.data.subscriptionId;
      const tracked = this.#tracked.get(id) ?? {
        tenant: recorded.metadata.tenant,
        state: webhookDecider.initialState(),
        subscribedAt: recorded.position,
      };
      tracked.state = webhookDecider.evolve(tracked.state, event);
      if (event.type === 'WebhookSubscribed') tracked.subscribedAt = recorded.position;
      if (event.type === 'WebhookDeliveryDeadLettered' || event.type === 'WebhookDeadLetterDelivered')
        this.#redriving.delete(`${id}/${event.data.eventId}`);
      this.#tracked.set(id, tracked);
      this.#touch(id);
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error('webhook delivery stopped'));
    if (this.#timer) clearTimeout(this.#timer);
    await this.#log?.close();
    await this.#reconciling;
    await Promise.all([...this.#workers.values()].map((w) => w.stop()));
    this.#workers.clear();
  }

  /** Reconciles soon: a burst of events (the catch-up at start) makes one pass, not one per event. */
  #touch(id: string, afterMs = 10) {
    this.#dirty.add(id);
    if (this.#timer || this.#abort.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const ids = [...this.#dirty];
      this.#dirty.clear();
      this.#reconciling = this.#reconciling.then(async () => {
        for (const one of ids) {
          if (this.#abort.signal.aborted) return;
          await this.#reconcile(one).catch((err) => {
            this.ctx.log.error({ err: safeErr(err), subscription: one }, 'webhook delivery: will retry');
            this.#touch(one, 1000);
          });
        }
      });
    }, afterMs);
  }

  async #reconcile(id: string): Promise<void> {
    const tracked = this.#tracked.get(id);
    const spec = tracked?.state.subscription;
    if (!tracked || !spec) return;
    const { state, tenant } = tracked;
    const active = state.status === 'active';
    const worker = this.#workers.get(id);
    // Paused, gone, a replay to start, or a loop that ended on an error: stop it (its checkpoint is saved).
    if (worker && (!active || worker.replays < state.replays || worker.stopping)) {
      this.#workers.delete(id);
      await worker.stop();
    }
    if (state.status === 'unsubscribed') {
      this.#tracked.delete(id);
      await dropCheckpoint(this.ctx.db, id);
      return;
    }
    if (!active) return;
    const sub: LiveSubscription = { id, tenant, url: spec.url, filter: spec.filter, secret: spec.secret };
    if (!this.#workers.has(id)) {
      const start = await startingPoint(this.ctx.db, {
        id,
        tenant,
        initial: spec.after ?? tracked.subscribedAt,
        replays: state.replays,
        replayAfter: state.replayAfter,
      });
      const started = new SubscriptionWorker(this.ctx, sub, start);
      this.#workers.set(id, started);
      void started.done.then(({ failed }) => {
        if (failed !== undefined && this.#workers.get(id) === started) this.#touch(id, 1000);
      });
    }
    for (const letter of state.deadLetters.filter((d) => d.redriving)) this.#redrive(sub, letter);
  }

  /** Delivers a re-driven dead letter out of order; it leaves the list, or is dead-lettered again. */
  #redrive(sub: LiveSubscription, letter: DeadLetter) {
    const key = `${sub.id}/${letter.eventId}`;
    if (this.#redriving.has(key)) return;
    this.#redriving.add(key);
    void (async () => {
      const [event] = await this.ctx.store.readStream(letter.stream, {
        fromRevision: letter.revision,
        maxCount: 1,
      });
      if (!event || event.id !== letter.eventId) {
        this.ctx.log.warn({ subscription: sub.id, event: letter.eventId }, 'a dead letter is not in the log');
        return;
      }
      const outcome = await deliverWithRetries(this.ctx, sub, event, this.#abort.signal);
      if ('failed' in outcome) return recordDeadLetter(this.ctx, sub, event, outcome);
      await handle(
        this.ctx.store,
        webhookStream(sub.id),
        { type: 'RecordDeadLetterDelivered', eventId: event.id, at: this.ctx.now().toISOString() },
        webhookDecider,
        { tenant: sub.tenant, principal: this.ctx.principal },
      );
    })().catch((err) => {
      this.#redriving.delete(key);
      if (this.#abort.signal.aborted || (err instanceof CommandError && err.kind === 'not_found')) return;
      this.ctx.log.error({ err: safeErr(err), subscription: sub.id }, 'webhook re-drive failed');
      this.#touch(sub.id, 1000);
    });
  }
}

/**
 * Starts the saga: waits for the leadership, then delivers until the lease is lost or `stop()`.
 *
 * @example
 * // the webhook_checkpoints table exists (prepareWebhookCheckpoints)
 * const delivery = startWebhookDelivery({ store, db, log, leader: soleLeader, allowPrivateUrls, settings });
 * await delivery.stop();
 */
export const startWebhookDelivery = (deps: WebhookDeliveryDeps) => {
  const abort = new AbortController();
  const stopped = new Promise<void>((resolve) =>
    abort.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const ctx: DeliveryContext = {
    store: deps.store,
    db: deps.db,
    log: deps.log,
    settings: deps.settings,
    allowPrivateUrls: deps.allowPrivateUrls,
    scheduler: new FairScheduler(deps.settings.concurrency, deps.settings.totalConcurrency),
    principal: `saga:webhook-delivery:${randomUUID().slice(0, 8)}`,
    lookup: deps.lookup,
    fetch: deps.fetch,
    now: deps.now ?? (() => new Date()),
  };
  const loop = (async () => {
    while (!abort.signal.aborted) {
      let lease: Awaited<ReturnType<LeaderLock['acquire']>>;
      try {
        lease = await deps.leader.acquire(abort.signal);
      } catch {
        return;
      }
      const manager = new DeliveryManager(ctx);
      const running = manager.run().catch((err) => {
        deps.log.error({ err: safeErr(err) }, 'webhook delivery: the log could not be followed');
      });
      await Promise.race([lease.lost, stopped, running]);
      await manager.stop();
      await lease.release();
      if (!abort.signal.aborted) await delay(1000);
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
    },
  };
};
