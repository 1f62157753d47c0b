/**
 * The remote-agent worker: runs tasks bound to remote A2A agents by calling them with the official client
 * (`@a2a-js/sdk/client`; v0.3 peers through `@a2a-js/sdk/compat/v0_3/client`), streaming when the card
 * says so, and mirrors everything the remote agent answers into our task's commands.
 *
 * Work starts on (consumers `remote-agent-workers-<type>`, one per task event type below):
 * - TaskRouted to a remote agent (sagas/routing.ts);
 * - TaskSubmitted naming a remote agent (`metadata.agent`: an agent id of the task's tenant or `system`);
 * - TaskInputReceived on a task bound to a remote agent: the follow-up goes to the remote task
 *   (RemoteTaskLinked), which is how input-required round trips work;
 * - TaskStatusUpdated CANCELED on a task linked to a remote task: the cancel is propagated.
 *
 * One call per triggering event; its call id is the event's id. Before the call, RemoteCallIntended
 * {callId, idempotencyKey, attempt}; the idempotency key goes in the outgoing message's metadata
 * (`idempotencyKey`, with the same messageId on every attempt). After it, RemoteCallCompleted {ok, outcome,
 * latencyMs, error?, final?}, then the remote task's final state (terminal or interrupted) on our task. A
 * bus redelivery after a crash finds the intended call without its completion and makes attempt 2 with the
 * same key, visibly; a call already completed is not made again (only its final state is re-applied).
 * Updates are written with command ids `<callId>:<n>` (the n-th update of the call), so a repeated attempt
 * that gets the same answer adds nothing.
 *
 * Per call: SSRF checks on every request (safeFetch, AGENTCORE_ALLOW_PRIVATE_URLS), a timeout (default
 * 60 s: the call fails, the remote task is canceled), the circuit breaker asked first (agents/circuit-admission.ts
 * admitCall: an open circuit fails the task at once), heartbeats (Delivery.working) while it runs, and the
 * task feed watched: our task canceled → the stream is dropped and the remote task canceled.
 *
 * Bulkheads: at most `concurrencyPerAgent` calls per agent at once in this process; a delivery for a full
 * agent is nak'd with a short delay (the consumer's maxAckPending must exceed one agent's limit, so the
 * other agents' tasks still get slots).
 *
 * Here: which task events start a call, bulkheads, cancel propagation. The call itself is remote-call.ts;
 * the client and what each remote answer means for our task, remote-client.ts.
 */
import { CancelTaskRequest } from '@a2a-js/sdk';
import type { Logger } from 'pino';
import { ignoreRuleViolation } from '../commands/errors.ts';
import { fold } from '../commands/handle.ts';
import { needsRouting, type TaskAggregate, taskDecider } from '../commands/task.ts';
import { TERMINAL_STATES } from '../events/a2a.ts';
import { agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import { dataOf, type RecordedEvent } from '../events/envelope.ts';
import { type TaskEvent, TaskStatusUpdated, TaskSubmitted } from '../events/task.ts';
import { type ConsumerOptions, type Delivery, heartbeatMs, perEventType } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { safeErr } from '../infra/log-safe.ts';
import type { Lookup, SafeFetchOptions } from '../infra/ssrf.ts';
import type { TaskFeed } from '../infra/task-feed.ts';
import { type AgentView, foldAgentView } from '../projections/agents.ts';
import type { AgentDirectory } from './directory.ts';
import { type CallContext, callRemote, command, failWith, type RemoteCalls } from './remote-call.ts';
import { clientFor, guardedFetch, type RemoteTarget } from './remote-client.ts';

export interface RemoteWorkerDeps {
  store: EventStore;
  feed: TaskFeed;
  log: Logger;
  /** The in-process agents: tasks bound to them are the in-process worker's. */
  agents: AgentDirectory;
  /** AGENTCORE_DEFAULT_AGENT=route: a task naming no agent waits for routing. */
  routeByDefault: boolean;
  /** AGENTCORE_ALLOW_PRIVATE_URLS. */
  allowPrivateUrls: boolean;
  /** Per call (AGENTCORE_REMOTE_CALL_TIMEOUT_MS). Default 60 s. */
  callTimeoutMs?: number;
  /** Calls at once per agent, in this process (AGENTCORE_REMOTE_AGENT_CONCURRENCY). Default 8. */
  concurrencyPerAgent?: number;
  /** Deliveries in flight for the consumer, all agents together. Default 64 (> concurrencyPerAgent). */
  maxAckPending?: number;
  /** Redelivery after the worker died; heartbeats keep a live call's delivery. Default 30 s. */
  ackWaitMs?: number;
  /** Delay before a delivery nak'd by a full bulkhead comes back. Default 200 ms (+ jitter). */
  bulkheadRetryMs?: number;
  /** A claimed circuit probe older than this is taken for lost. Default callTimeoutMs + 30 s. */
  probeStaleAfterMs?: number;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
  now?: () => string;
}

/** The delivery's agent has no free slot: nak'd, it comes back after a short delay. */
export class BulkheadFull extends Error {
  override readonly name = 'BulkheadFull';
}

const PRINCIPAL = 'agent-worker:remote';
const RELEVANT = new Set(['TaskSubmitted', 'TaskRouted', 'TaskInputReceived', 'TaskStatusUpdated']);

const agentIdOf = (agentKey: string) => agentKey.slice(agentKey.indexOf(':') + 1);

/** The agent's registration, by key (`<tenant>:<agentId>`); null when not registered (any more). */
const viewOf = async (store: EventStore, agentKey: string): Promise<AgentView | null> => {
  const colon = agentKey.indexOf(':');
  if (!/^[a-z0-9][a-z0-9_-]*:[a-z0-9][a-z0-9_-]{0,62}$/.test(agentKey)) return null;
  return foldAgentView(
    await store.readStream(agentStream(agentKey.slice(0, colon), agentKey.slice(colon + 1))),
  );
};

/**
 * The remote agent a task is bound to, for this trigger: null when the task is not a remote agent's (an
 * in-process agent's, or waiting for routing); `missing` when it names an agent that is gone.
 */
export const remoteTargetOf = async (
  deps: Pick<RemoteWorkerDeps, 'store' | 'agents' | 'routeByDefault'>,
  state: TaskAggregate,
  tenant: string,
): Promise<RemoteTarget | { missing: string } | null> => {
  const target = (agentKey: string, view: AgentView | null): RemoteTarget | { missing: string } | null => {
    if (!view) return { missing: `agent ${agentKey} is not registered (any more)` };
    if (view.endpoint.kind !== 'remote') return null;
    if (view.status !== 'active') return { missing: `agent ${agentKey} is ${view.status}` };
    return { agentKey, view, endpoint: view.endpoint };
  };
  if (state.routed) {
    const { agentKey } = state.routed;
    if (agentKey.startsWith(`${SYSTEM_TENANT}:`) && deps.agents.get(agentIdOf(agentKey))) return null;
    return target(agentKey, await viewOf(deps.store, agentKey));
  }
  const named = state.agent;
  if (named === null || needsRouting(named, deps.routeByDefault) || deps.agents.get(named)) return null;
  // A name is looked up in the task's tenant, then among the hub's built-in agents; never elsewhere.
  for (const t of tenant === SYSTEM_TENANT ? [tenant] : [tenant, SYSTEM_TENANT]) {
    const view = await viewOf(deps.store, `${t}:${named}`);
    if (view) return view.endpoint.kind === 'remote' ? target(`${t}:${named}`, view) : null;
  }
  return null; // unknown: the in-process worker rejects it
};
/** Per-agent slots in this process. */

const bulkheads = (limit: number) => {
  const inUse = new Map<string, number>();
  return {
    tryAcquire(key: string) {
      const n = inUse.get(key) ?? 0;
      if (n >= limit) return false;
      inUse.set(key, n + 1);
      return true;
    },
    release(key: string) {
      const n = (inUse.get(key) ?? 1) - 1;
      if (n <= 0) inUse.delete(key);
      else inUse.set(key, n);
    },
    inUse: (key: string) => inUse.get(key) ?? 0,
  };
};

const contextOf = (event: RecordedEvent): CallContext => ({
  tenant: event.metadata.tenant,
  principal: PRINCIPAL,
  correlationId: event.metadata.correlationId,
});

interface Worker {
  deps: RemoteWorkerDeps;
  calls: RemoteCalls;
  slots: ReturnType<typeof bulkheads>;
  limit: number;
  ackWaitMs: number;
}

/** A task event: a call to make for a remote agent's task (bulkhead permitting), or a cancel to pass on. */
const onTaskEvent = async (w: Worker, { event, working }: Delivery) => {
  const { deps } = w;
  if (!RELEVANT.has(event.type)) return;
  if (event.type === 'TaskStatusUpdated') {
    if (dataOf(TaskStatusUpdated, event).state === 'TASK_STATE_CANCELED') await propagateCancel(w, event);
    return;
  }
  if (event.type === 'TaskSubmitted') {
    // Most submissions are not a remote agent's: tell without reading the stream.
    const agent = dataOf(TaskSubmitted, event).agent;
    if (agent === null || needsRouting(agent, deps.routeByDefault) || deps.agents.get(agent)) return;
  }
  const history = await deps.store.readStream(event.stream);
  const state = fold<TaskAggregate, TaskEvent>(taskDecider, history);
  if (!state.task) return;
  // TaskSubmitted naming the agent, TaskRouted, or a follow-up: the agent comes from the task.
  if (event.type === 'TaskSubmitted' && state.routed) return; // the TaskRouted event runs it
  const target = await remoteTargetOf(deps, state, event.metadata.tenant);
  if (!target) return;
  const ctx = contextOf(event);
  if ('missing' in target) {
    if (TERMINAL_STATES.has(state.task.status.state)) return;
    const failed = failWith(w.calls, `${event.id}:missing`, `Cannot run the task: ${target.missing}`);
    await command(w.calls, event.stream, ctx, failed, `${event.id}:missing`).catch(ignoreRuleViolation);
    return;
  }
  if (!w.slots.tryAcquire(target.agentKey)) {
    throw new BulkheadFull(`agent ${target.agentKey} has ${w.limit} calls in flight in this process`);
  }
  const heartbeat = setInterval(working, heartbeatMs(w.ackWaitMs));
  try {
    await callRemote(w.calls, event, history, state, target, ctx);
  } finally {
    clearInterval(heartbeat);
    w.slots.release(target.agentKey);
  }
};

/** Our task was canceled: cancel the remote task it is linked to (idempotent on the remote side). */
const propagateCancel = async (w: Worker, event: RecordedEvent) => {
  const { store, log } = w.deps;
  const state = fold<TaskAggregate, TaskEvent>(taskDecider, await store.readStream(event.stream));
  if (!state.remote || state.task?.status.state !== 'TASK_STATE_CANCELED') return;
  const view = await viewOf(store, state.remote.agentKey);
  if (view?.endpoint.kind !== 'remote') return;
  try {
    const target = { agentKey: state.remote.agentKey, view, endpoint: view.endpoint };
    const client = await clientFor(target, w.calls.fetchImpl);
    await client.cancelTask(CancelTaskRequest.fromJSON({ id: state.remote.remoteTaskId }), {
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    // Already terminal over there (not cancelable), or unreachable: nothing more to do from here.
    log.debug({ err: safeErr(err), stream: event.stream }, 'remote cancel not applied');
  }
};

/**
 * The worker's consumers, one per task event type it reacts to.
 *
 * @example
 * for (const consumer of remoteAgentWorker({ store, feed, log, agents, routeByDefault: false, allowPrivateUrls: false }))
 *   await bus.consume(consumer);
 */
export const remoteAgentWorker = (deps: RemoteWorkerDeps): ConsumerOptions[] => {
  const callTimeoutMs = deps.callTimeoutMs ?? 60_000;
  const ackWaitMs = deps.ackWaitMs ?? 30_000;
  const limit = Math.max(1, deps.concurrencyPerAgent ?? 8);
  const retryMs = deps.bulkheadRetryMs ?? 200;
  const calls: RemoteCalls = {
    store: deps.store,
    feed: deps.feed,
    log: deps.log,
    now: deps.now ?? (() => new Date().toISOString()),
    callTimeoutMs,
    staleAfterMs: deps.probeStaleAfterMs ?? callTimeoutMs + 30_000,
    fetchImpl: guardedFetch(deps),
  };
  const worker: Worker = { deps, calls, slots: bulkheads(limit), limit, ackWaitMs };
  return perEventType(
    {
      durable: 'remote-agent-workers',
      filter: { category: 'task' },
      maxAckPending: Math.max(deps.maxAckPending ?? 64, limit + 1),
      ackWaitMs,
      // Bulkhead naks count as deliveries: a task may wait for a slot through many of them.
      maxDeliver: 10_000,
      backoffMs: () => Math.round(retryMs * (1 + Math.random())),
      handler: (delivery) => onTaskEvent(worker, delivery),
    },
    RELEVANT,
  );
};
