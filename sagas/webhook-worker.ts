/**
 * One webhook subscription's delivery: its tenant's matching events read from the log after its
 * checkpoint, POSTed in order per stream (streams in parallel), retried with backoff, dead-lettered after
 * the last attempt, and the checkpoint moved past what was delivered. A crash repeats at most the events
 * after the last checkpoint (at-least-once, same `webhook-id`), never skips one.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { CommandError } from '../commands/errors.ts';
import { handle } from '../commands/handle.ts';
import { webhookDecider } from '../commands/webhook.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { WEBHOOK_STREAM_PREFIX, type WebhookFilter, webhookStream } from '../events/webhook.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { FairScheduler } from '../infra/fair-scheduler.ts';
import { safeErr } from '../infra/log-safe.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { type Lookup, type SafeFetchOptions, safeFetch } from '../infra/ssrf.ts';
import { saveCheckpoint, type WebhookCheckpoint } from './webhook-checkpoints.ts';
import { signedHeaders, structuredBody, webhookMessageId } from './webhook-message.ts';
import { type WebhookSettings, webhookBackoffMs } from './webhook-settings.ts';

/** What every subscription's delivery in a process shares. */
export interface DeliveryContext {
  store: EventStore;
  db: SqlExecutor;
  log: Logger;
  settings: WebhookSettings;
  allowPrivateUrls: boolean;
  /** POST slots: at most `concurrency` per subscription, `totalConcurrency` in all, in turns. */
  scheduler: FairScheduler;
  principal: string;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
  now: () => Date;
}

export interface LiveSubscription {
  id: string;
  tenant: string;
  url: string;
  filter: WebhookFilter;
  secret: string;
}

export type DeliveryOutcome = { delivered: number } | { failed: string; attempts: number };

/** One POST of a prepared message; an answer other than 2xx, a timeout or a refused URL is an error. */
const post = async (
  ctx: DeliveryContext,
  sub: LiveSubscription,
  message: { id: string; body: string; contentType: string },
  stop: AbortSignal,
): Promise<true | { error: string }> => {
  const timeout = AbortSignal.timeout(ctx.settings.timeoutMs);
  const headers = {
    'content-type': message.contentType,
    'user-agent': 'AgentCore-Webhooks/1',
    ...signedHeaders(sub.secret, message.id, message.body, ctx.now()),
  };
  try {
    // Checked again at each POST: the name may resolve elsewhere now than when the URL was registered.
    // No redirects: a receiver that moved answers 3xx, which is a failure the integrator sees.
    const res = await safeFetch(
      sub.url,
      { method: 'POST', headers, body: message.body, signal: AbortSignal.any([timeout, stop]) },
      { allowPrivate: ctx.allowPrivateUrls, lookup: ctx.lookup, fetch: ctx.fetch, maxRedirects: 0 },
    );
    await res.body?.cancel().catch(() => {});
    return res.ok ? true : { error: `the receiver answered HTTP ${res.status}` };
  } catch (error) {
    stop.throwIfAborted();
    if (timeout.aborted) return { error: `no answer within ${ctx.settings.timeoutMs} ms` };
    const err = error as Error & { cause?: { code?: string; message?: string } };
    const cause = err.cause?.code ?? err.cause?.message;
    return { error: `${err.message}${cause ? ` (${cause})` : ''}` };
  }
};

/**
 * Delivers one event to one subscription: up to `maxAttempts` POSTs, backing off between them. Throws
 * only when `stop` aborts (nothing is concluded then).
 */
export const deliverWithRetries = async (
  ctx: DeliveryContext,
  sub: LiveSubscription,
  event: RecordedEvent,
  stop: AbortSignal,
): Promise<DeliveryOutcome> => {
  const message = { id: webhookMessageId(sub.id, event.id), ...structuredBody(event) };
  for (let attempt = 1; ; attempt++) {
    stop.throwIfAborted();
    const result = await ctx.scheduler.run(sub.id, () => {
      stop.throwIfAborted();
      return post(ctx, sub, message, stop);
    });
    if (result === true) return { delivered: attempt };
    if (attempt >= ctx.settings.maxAttempts) return { failed: result.error, attempts: attempt };
    await delay(webhookBackoffMs(ctx.settings, attempt), undefined, { signal: stop });
  }
};

/** Puts the event in the subscription's dead-letter list (once, however often this is repeated). */
export const recordDeadLetter = async (
  ctx: DeliveryContext,
  sub: LiveSubscription,
  event: RecordedEvent,
  failure: { failed: string; attempts: number },
) => {
  const command = {
    type: 'RecordDeadLetter' as const,
    eventId: event.id,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    eventType: event.type,
    attempts: failure.attempts,
    error: failure.failed.slice(0, 1000),
    at: ctx.now().toISOString(),
  };
  try {
    await handle(ctx.store, webhookStream(sub.id), command, webhookDecider, {
      tenant: sub.tenant,
      principal: ctx.principal,
    });
  } catch (error) {
    // Unsubscribed meanwhile: nobody wants the letter any more.
    if (!(error instanceof CommandError && error.kind === 'not_found')) throw error;
  }
};

/**
 * The delivery loop of one subscription, from `start` until stopped. Events of one stream go one after
 * the other (each waits for the previous one's delivery or dead letter); different streams go in
 * parallel. At most `window` events are held, so a stream that retries holds the others back only that
 * far. The checkpoint is the last position before which everything is settled, saved every 200 ms.
 */
export class SubscriptionWorker {
  readonly #abort = new AbortController();
  readonly #wakers = new Set<() => void>();
  #position: number;
  #saved: number;
  #closeLog: (() => Promise<void>) | null = null;
  /** Settles when the loop has ended and the checkpoint is saved; `failed` when it ended on an error. */
  readonly done: Promise<{ failed?: unknown }>;

  constructor(
    private readonly ctx: DeliveryContext,
    readonly sub: LiveSubscription,
    readonly start: WebhookCheckpoint,
  ) {
    this.#position = start.position;
    this.#saved = start.position;
    this.done = this.#run().then(
      () => ({}),
      (failed) => ({ failed }),
    );
  }

  get replays() {
    return this.start.replays;
  }

  get stopping() {
    return this.#abort.signal.aborted;
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error('webhook delivery stopped'));
    await this.#closeLog?.();
    for (const wake of this.#wakers) wake();
    await this.done;
  }

  async #save(): Promise<void> {
    const position = this.#position;
    if (position === this.#saved) return;
    await saveCheckpoint(this.ctx.db, this.sub.id, this.sub.tenant, { position, replays: this.replays });
    this.#saved = position;
  }

  async #run(): Promise<void> {
    const { store, settings } = this.ctx;
    const signal = this.#abort.signal;
    const log = store.subscribeAll({
      after: this.#position,
      filter: { ...this.sub.filter, tenant: this.sub.tenant },
      pageSize: Math.min(500, settings.window),
    });
    this.#closeLog = () => log.close();
    const window: Array<{ position: number; done: boolean }> = [];
    const chains = new Map<string, Promise<void>>();
    const progressed = () => {
      while (window[0]?.done) this.#position = window.shift()!.position;
      for (const wake of this.#wakers) wake();
    };
    let saving = Promise.resolve();
    const saver = setInterval(() => {
      saving = saving.then(() => this.#save()).catch((err) => this.#fail(err));
    }, 200);
    try {
      for await (const event of log) {
        if (signal.aborted) break;
        const slot = { position: event.position, done: false };
        window.push(slot);
        // Never the subscriptions' own events: a dead letter delivered to a dead receiver would make another.
        if (event.stream.startsWith(WEBHOOK_STREAM_PREFIX)) {
          slot.done = true;
          progressed();
        } else {
          const next = (chains.get(event.stream) ?? Promise.resolve())
            .then(() => this.#deliver(event))
            .then(() => {
              slot.done = true;
              progressed();
            })
            .catch((err) => this.#fail(err));
          chains.set(event.stream, next);
          void next.then(() => chains.get(event.stream) === next && chains.delete(event.stream));
        }
        while (window.length >= settings.window && !signal.aborted) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              this.#wakers.delete(wake);
              resolve();
            };
            this.#wakers.add(wake);
          });
        }
      }
    } finally {
      await log.close();
      await Promise.all(chains.values());
      clearInterval(saver);
      await saving;
      await this.#save();
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  #failure: unknown;

  /** An error that is not a receiver's (the database, the log): the loop ends; the manager restarts it. */
  #fail(error: unknown) {
    if (this.#abort.signal.aborted) return;
    this.#failure = error;
    this.ctx.log.error({ err: safeErr(error), subscription: this.sub.id }, 'webhook delivery failed');
    void this.stop();
  }

  async #deliver(event: RecordedEvent): Promise<void> {
    const outcome = await deliverWithRetries(this.ctx, this.sub, event, this.#abort.signal);
    if ('failed' in outcome) {
      this.ctx.log.info(
        { subscription: this.sub.id, event: event.id, error: outcome.failed },
        'webhook delivery: dead-lettered',
      );
      await recordDeadLetter(this.ctx, this.sub, event, outcome);
    }
  }
}
