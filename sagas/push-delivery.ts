/** The push delivery saga: POSTs task updates to the clients' webhooks, fairly between tenants, once each. */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isRuleViolation } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import {
  findConfig,
  liveConfigs,
  type PushConfigCommand,
  type PushConfigState,
  pushConfigDecider,
} from '../commands/push-config.ts';
import { type TaskAggregate, taskDecider } from '../commands/task.ts';
import { isEvent, type RecordedEvent } from '../events/envelope.ts';
import { type PushConfigData, PushDeliveryAttempted, pushStream } from '../events/push.ts';
import { type TaskEvent, taskStream, toStreamResponse } from '../events/task.ts';
import type { ConsumerOptions, Delivery } from '../infra/bus/port.ts';
import { coalescedStreamReader } from '../infra/event-store/coalesce.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { FairScheduler } from '../infra/fair-scheduler.ts';
import { safeErr } from '../infra/log-safe.ts';
import { type Lookup, type SafeFetchOptions, safeFetch } from '../infra/ssrf.ts';
import { EndpointBackoff } from './push-fairness.ts';

export interface PushDeliveryDeps {
  store: EventStore;
  log: Logger;
  /** AGENTCORE_ALLOW_PRIVATE_URLS: webhooks may point at loopback/private addresses. */
  allowPrivateUrls: boolean;
  /** Longest wait for a receiver's answer (A2A: 10-30 s). */
  timeoutMs?: number;
  /** Bus deliveries of one event before it is dead-lettered (the last failure is recorded as final). */
  maxDeliver?: number;
  /** Delay before the bus redelivers, by delivery count. Default 500 ms * 2^(n-1), at most 30 s. */
  backoffMs?: (deliveryCount: number) => number;
  /**
   * An attempt another process recorded and left without an outcome is taken for a dead process's (and
   * made again) once it is this old. Default timeoutMs + 5 s.
   */
  staleAttemptMs?: number;
  lookup?: Lookup;
  /** Deliveries of one tenant in flight at once, per process (AGENTCORE_PUSH_CONCURRENCY_PER_TENANT, 8). */
  concurrencyPerTenant?: number;
  /** Longest wait before an endpoint that failed is tried again (AGENTCORE_PUSH_ENDPOINT_MAX_BACKOFF_MS, 60 s). */
  endpointMaxBackoffMs?: number;
  /** The HTTP transport (tests); default: safeFetch's own, which checks the address it connects to. */
  fetch?: SafeFetchOptions['fetch'];
  now?: () => string;
}

export const PUSH_CONTENT_TYPE = 'application/a2a+json';
/** Deliveries in flight at once in a process, all tenants together. */
export const PUSH_TOTAL_CONCURRENCY = 64;
/**
 * Bus messages a consumer holds at once: room for the tasks that wait their tenant's turn (at most two
 * messages per task, see `deliver`) while other tenants are served.
 */
export const PUSH_MAX_ACK_PENDING = 4096;
/** First wait after an endpoint failed; it doubles with each failure in a row. */
export const PUSH_ENDPOINT_BASE_BACKOFF_MS = 1000;
export const defaultPushBackoffMs = (deliveryCount: number) =>
  Math.min(30_000, 500 * 2 ** Math.max(0, deliveryCount - 1));

/**
 * Not attempted now, nothing recorded, the bus tries again later: another copy of the saga is delivering
 * to this config, or its endpoint is backing off.
 */
class DeliveryBusy extends Error {
  override readonly name = 'DeliveryBusy';
}

type Outcome = 'delivered' | 'skip' | { failed: string } | { busy: string };

const taskIdOf = (stream: string) => stream.slice(stream.indexOf('-') + 1);

/**
 * Delivers a task's events to its push-notification configs. Triggered by any task event (and by a config
 * being set, so a config created after the task's last event still gets the backlog), it loads the task
 * and push streams and, per live config, POSTs in revision order every task event after the last one
 * recorded as delivered to it. Per delivery it records PushDeliveryAttempted (the intent) before the POST
 * and PushDeliverySucceeded or PushDeliveryFailed after it; a failure throws, and the bus redelivers with
 * backoff. So, across redeliveries, restarts and copies of the saga: each event reaches each config in
 * order, a delivered event is never POSTed again, and a POST cut short by a crash shows up as an attempt
 * without an outcome followed by the next attempt.
 *
 * Within a process the work of one task is serialised (events of one task are handled concurrently by the
 * bus); across processes, an attempt recorded by another copy and still fresh makes this one back off.
 *
 * Tenants share the capacity fairly (sagas/push-fairness.ts): at most `concurrencyPerTenant` tasks of one
 * tenant are delivered at once, waiting tenants take turns for the PUSH_TOTAL_CONCURRENCY slots, a task
 * holds at most two bus messages (later ones are covered by its queued job), and an endpoint (per tenant and origin) that failed or timed out is not called again before its backoff is
 * over (1 s doubling up to endpointMaxBackoffMs; the delivery goes back to the bus, nothing recorded). So a
 * tenant's dead endpoints cost that tenant's slots and time only. None of this changes what is recorded:
 * every POST still has its intent before it and its outcome after it, and the bus's last delivery of an
 * event is always attempted, so that its failure is recorded as final.
 */
export const pushDeliverer = (deps: PushDeliveryDeps) => {
  const readPushStream = coalescedStreamReader(deps.store);
  const now = deps.now ?? (() => new Date().toISOString());
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const staleAttemptMs = deps.staleAttemptMs ?? timeoutMs + 5_000;
  const principal = `saga:push-delivery:${randomUUID().slice(0, 8)}`;
  const locks = new Map<string, Promise<void>>();
  const perTenant = deps.concurrencyPerTenant ?? 8;
  const scheduler = new FairScheduler(perTenant, PUSH_TOTAL_CONCURRENCY);
  /** Per task, the job queued and not started yet: it will read everything due when it starts. */
  const queued = new Map<string, object>();
  const backoff = new EndpointBackoff(PUSH_ENDPOINT_BASE_BACKOFF_MS, deps.endpointMaxBackoffMs ?? 60_000);
  /** Backoff is per tenant and origin: one tenant's failures never hold back another's deliveries. */
  const endpointOf = (tenant: string, url: string) =>
    `${tenant} ${URL.canParse(url) ? new URL(url).origin : url}`;

  /** Runs f after every earlier call for the same task has settled. */
  const serialised = async (taskId: string, f: () => Promise<void>) => {
    const previous = locks.get(taskId) ?? Promise.resolve();
    const current = previous.then(f, f);
    const tail = current.then(
      () => {},
      () => {},
    );
    locks.set(taskId, tail);
    try {
      await current;
    } finally {
      if (locks.get(taskId) === tail) locks.delete(taskId);
    }
  };

  const post = async (
    config: PushConfigData,
    body: string,
  ): Promise<{ status: number } | { error: string }> => {
    const headers: Record<string, string> = { 'content-type': PUSH_CONTENT_TYPE };
    const auth = config.authentication;
    if (auth?.credentials) headers.authorization = `${auth.scheme} ${auth.credentials}`;
    if (config.token) headers['x-a2a-notification-token'] = config.token;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      // The URL is checked again: the name may resolve elsewhere now than when the config was set.
      const res = await safeFetch(
        config.url,
        { method: 'POST', headers, body, signal },
        { allowPrivate: deps.allowPrivateUrls, lookup: deps.lookup, fetch: deps.fetch },
      );
      await res.body?.cancel().catch(() => {});
      return res.ok ? { status: res.status } : { error: `the receiver answered HTTP ${res.status}` };
    } catch (error) {
      if (signal.aborted) return { error: `no answer within ${timeoutMs} ms` };
      const err = error as Error & { cause?: { code?: string; message?: string } };
      const cause = err.cause?.code ?? err.cause?.message;
      return { error: `${err.message}${cause ? ` (${cause})` : ''}` };
    }
  };

  const deliverTask = async (taskId: string, delivery: { deliveryCount: number; final: boolean }) => {
    // Most tasks have no push config: a read (shared with the other tasks being handled) tells, before the
    // task's events are read.
    const stream = pushStream(taskId);
    const pushEvents = await readPushStream(stream);
    let state: PushConfigState = fold(pushConfigDecider, pushEvents);
    const configs = liveConfigs(state);
    if (configs.length === 0) return;
    const taskEvents = await deps.store.readStream(taskStream(taskId));
    if (taskEvents.length === 0) return;
    const lastRevision = taskEvents[taskEvents.length - 1]!.revision;
    if (configs.every((c) => c.delivered >= lastRevision)) return; // all caught up (or terminal and done)

    // What each task event still due somewhere looks like on the wire, with the task as it stood then.
    const due = Math.min(...configs.map((c) => c.delivered));
    let task: TaskAggregate = taskDecider.initialState();
    const items: Array<{ event: RecordedEvent; body: string }> = [];
    for (const event of taskEvents) {
      task = taskDecider.evolve(task, { type: event.type, data: event.data } as TaskEvent);
      if (event.revision <= due) continue;
      const response = task.task ? toStreamResponse(task.task, event) : null;
      if (response) items.push({ event, body: JSON.stringify(response) });
    }

    const tenant = taskEvents[0]!.metadata.tenant;
    const context = (commandId: string) => ({
      tenant,
      principal,
      commandId,
      correlationId: taskEvents[0]!.metadata.correlationId,
    });
    const record = (cmd: PushConfigCommand, commandId: string) =>
      handle(deps.store, stream, cmd, pushConfigDecider, context(commandId));

    const deliverOne = async (configId: string, revision: number, body: string): Promise<Outcome> => {
      const entry = findConfig(state, configId);
      if (!entry || entry.deleted || revision <= entry.delivered) return 'skip';
      const endpoint = endpointOf(tenant, entry.config.url);
      const wait = backoff.remainingMs(endpoint);
      // The bus's last delivery is always attempted, so that its outcome is recorded as final.
      if (wait > 0 && !delivery.final) {
        return { busy: `push config ${configId}: its endpoint failed lately, next try in ${wait} ms` };
      }
      const attempt = (entry.attempts[revision] ?? 0) + 1;
      const key = `push:${configId}:${revision}:${attempt}`;
      let intent: Awaited<ReturnType<typeof record>>;
      try {
        intent = await record({ type: 'RecordDeliveryAttempt', configId, revision, attempt, at: now() }, key);
      } catch (error) {
        // Another copy recorded an attempt first: it is delivering; this one comes back later.
        if (isRuleViolation(error)) return { busy: error.message };
        throw error;
      }
      if (intent.replayed)
        return { busy: `attempt ${attempt} of revision ${revision} is being made elsewhere` };
      state = intent.state;
      if (intent.events.length === 0) return 'skip'; // deleted or delivered meanwhile
      const config = findConfig(state, configId)!.config;
      const result = await post(config, body);
      if ('status' in result) backoff.succeeded(endpoint);
      else backoff.failed(endpoint);
      if ('status' in result) {
        state = (
          await record(
            { type: 'RecordDeliverySuccess', configId, revision, status: result.status, at: now() },
            `${key}:ok`,
          )
        ).state;
        return 'delivered';
      }
      state = (
        await record(
          {
            type: 'RecordDeliveryFailure',
            configId,
            revision,
            attempt,
            error: result.error,
            final: delivery.final,
            at: now(),
          },
          `${key}:failed`,
        )
      ).state;
      return { failed: `revision ${revision} to push config ${configId}: ${result.error}` };
    };

    const problems: string[] = [];
    let busy = false;
    for (const { config } of configs) {
      const entry = findConfig(state, config.id)!;
      // An attempt left open by another process that may still be making it: leave it alone for now.
      const open = entry.open;
      if (open && Date.now() - Date.parse(open.at) < staleAttemptMs) {
        const intent = pushEvents.find(
          (e) =>
            isEvent(PushDeliveryAttempted, e) &&
            e.data.configId === config.id &&
            e.data.revision === open.revision &&
            e.data.attempt === open.attempt,
        );
        if (intent && intent.metadata.principal !== principal) {
          busy = true;
          problems.push(`push config ${config.id}: attempt ${open.attempt} is in flight elsewhere`);
          continue;
        }
      }
      for (const item of items) {
        const outcome = await deliverOne(config.id, item.event.revision, item.body);
        if (outcome === 'skip' || outcome === 'delivered') continue;
        if ('busy' in outcome) {
          busy = true;
          problems.push(outcome.busy);
        } else problems.push(outcome.failed);
        break; // in order: nothing later goes to this config before this event has
      }
    }
    if (problems.length === 0) return;
    const message = `push delivery for task ${taskId} (bus delivery ${delivery.deliveryCount}): ${problems.join('; ')}`;
    throw busy ? new DeliveryBusy(message) : new Error(message);
  };

  return {
    principal,
    /**
     * Delivers whatever is due for the task, in its tenant's turn; throws when something could not be
     * delivered. A message for a task that already has a job queued (not started) is done at once: that
     * job reads the task and its configs when it starts, so it covers this message's event, and its own
     * message stays unacknowledged until it has run (redelivered if this process dies first). So a task
     * holds at most two bus messages here, however many events it has, and a tenant's backlog costs the
     * other tenants no bus slots beyond that.
     */
    deliver: async (taskId: string, delivery: { deliveryCount: number; final: boolean }, tenant: string) => {
      if (queued.has(taskId) && !delivery.final) return;
      const token = {};
      queued.set(taskId, token);
      return scheduler.run(tenant, () => {
        if (queued.get(taskId) === token) queued.delete(taskId);
        return serialised(taskId, () => deliverTask(taskId, delivery));
      });
    },
  };
};

export type PushDeliverer = ReturnType<typeof pushDeliverer>;

const consumer = (
  deps: PushDeliveryDeps,
  deliverer: PushDeliverer,
  durable: string,
  filter: ConsumerOptions['filter'],
): ConsumerOptions => {
  const maxDeliver = deps.maxDeliver ?? 8;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const ackWaitMs = Math.max(30_000, timeoutMs * 3);
  return {
    durable,
    filter,
    maxAckPending: PUSH_MAX_ACK_PENDING,
    ackWaitMs,
    maxDeliver,
    backoffMs: deps.backoffMs ?? defaultPushBackoffMs,
    handler: async ({ event, deliveryCount, working }: Delivery) => {
      // A live handler keeps its message however many POSTs it makes (or waits for the task's lock).
      const heartbeat = setInterval(working, ackWaitMs / 3);
      try {
        await deliverer.deliver(
          taskIdOf(event.stream),
          { deliveryCount, final: deliveryCount >= maxDeliver },
          event.metadata.tenant,
        );
      } catch (err) {
        const final = deliveryCount >= maxDeliver;
        // A receiver failing is its business and is recorded in the push stream: worth a warning only at the end.
        deps.log[final ? 'warn' : err instanceof DeliveryBusy ? 'debug' : 'info'](
          { err: safeErr(err), stream: event.stream, deliveryCount },
          final ? 'push delivery: giving up on this event' : 'push delivery: will retry',
        );
        throw err;
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
};

/** The delivery saga's consumer of task events (durable `push-delivery`). */
export const pushDelivery = (deps: PushDeliveryDeps, deliverer = pushDeliverer(deps)): ConsumerOptions =>
  consumer(deps, deliverer, 'push-delivery', { category: 'task' });

/**
 * Both consumers of the saga, sharing one deliverer: task events, and configs being set (a config set
 * after the task's last event would otherwise wait for an event that never comes).
 */
export const pushDeliveryConsumers = (deps: PushDeliveryDeps): ConsumerOptions[] => {
  const deliverer = pushDeliverer(deps);
  return [
    pushDelivery(deps, deliverer),
    consumer(deps, deliverer, 'push-delivery-configs', { category: 'push', type: 'PushConfigSet' }),
  ];
};
