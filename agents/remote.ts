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
 * 60 s: the call fails, the remote task is canceled), the circuit breaker asked first (sagas/circuit-breaker
 * admitCall: an open circuit fails the task at once), heartbeats (Delivery.working) while it runs, and the
 * task feed watched: our task canceled → the stream is dropped and the remote task canceled.
 *
 * Bulkheads: at most `concurrencyPerAgent` calls per agent at once in this process; a delivery for a full
 * agent is nak'd with a short delay (the consumer's maxAckPending must exceed one agent's limit, so the
 * other agents' tasks still get slots).
 */
import {
  AgentCard,
  CancelTaskRequest,
  GetTaskRequest,
  Task as SdkTask,
  SendMessageRequest,
  StreamResponse,
} from '@a2a-js/sdk';
import { Client, JsonRpcTransportFactory, RestTransportFactory, type Transport } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport, LegacyRestTransport } from '@a2a-js/sdk/compat/v0_3/client';
import type { Logger } from 'pino';
import { ignoreRuleViolation, isRuleViolation } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { needsRouting, type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import {
  Artifact,
  INTERRUPTED_STATES,
  Message,
  type Part,
  TaskState,
  TERMINAL_STATES,
} from '../events/a2a.ts';
import { type AgentEndpoint, agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import { dataOf, isEvent, type RecordedEvent } from '../events/envelope.ts';
import {
  RemoteCallCompleted,
  type RemoteCallOutcome,
  type TaskEvent,
  TaskInputReceived,
  TaskStatusUpdated,
  TaskSubmitted,
} from '../events/task.ts';
import { type ConsumerOptions, type Delivery, heartbeatMs, perEventType } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { forLog, safeErr } from '../infra/log-safe.ts';
import { type Lookup, type SafeFetchOptions, safeFetch } from '../infra/ssrf.ts';
import type { TaskFeed } from '../infra/task-feed.ts';
import { type AgentView, foldAgentView } from '../projections/agents.ts';
import { textOf } from './agent.ts';
import { admitCall } from './circuit-admission.ts';
import type { AgentDirectory } from './directory.ts';

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

export interface RemoteTarget {
  agentKey: string;
  view: AgentView;
  endpoint: Extract<AgentEndpoint, { kind: 'remote' }>;
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

/** fetch for the SDK, through the SSRF guard. */
const guardedFetch = (deps: RemoteWorkerDeps): typeof fetch => {
  const f = async (input: string | URL | Request, init?: RequestInit) => {
    if (input instanceof Request) {
      const body = input.body ? await input.text() : undefined;
      return safeFetch(
        input.url,
        {
          method: input.method,
          headers: input.headers,
          ...(body ? { body } : {}),
          signal: init?.signal ?? input.signal,
        },
        { allowPrivate: deps.allowPrivateUrls, lookup: deps.lookup, fetch: deps.fetch },
      );
    }
    return safeFetch(input, init ?? {}, {
      allowPrivate: deps.allowPrivateUrls,
      lookup: deps.lookup,
      fetch: deps.fetch,
    });
  };
  return f as typeof fetch;
};

/** An SDK client for the agent's chosen interface (v1.0 or v0.3, JSON-RPC or HTTP+JSON). */
export const clientFor = async (target: RemoteTarget, fetchImpl: typeof fetch): Promise<Client> => {
  const { endpoint } = target;
  const card = AgentCard.fromJSON(target.view.card ?? {});
  let transport: Transport;
  if (endpoint.protocolVersion === '0.3') {
    transport =
      endpoint.protocolBinding === 'HTTP+JSON'
        ? new LegacyRestTransport({ endpoint: endpoint.url, fetchImpl })
        : new LegacyJsonRpcTransport({ endpoint: endpoint.url, fetchImpl });
  } else {
    transport =
      endpoint.protocolBinding === 'HTTP+JSON'
        ? await new RestTransportFactory({ fetchImpl }).create(endpoint.url, card)
        : await new JsonRpcTransportFactory({ fetchImpl }).create(endpoint.url, card);
  }
  // The client falls back to a blocking SendMessage when the card does not declare streaming.
  card.capabilities = {
    ...(card.capabilities ?? {}),
    streaming: endpoint.streaming,
  } as AgentCard['capabilities'];
  return new Client(transport, card);
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

const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message;
  return `${error.message}${why && !error.message.includes(why) ? ` (${why})` : ''}`;
};

// A refused task command (a rule violation) means the task went terminal under the call (canceled,
// say): nothing more to write, and not an error.

/** What one StreamResponse (ProtoJSON) says, mapped to our commands (no I/O; exported for tests). */
export interface MappedUpdate {
  link?: { remoteTaskId: string; remoteContextId: string };
  commands: TaskCommand[];
  /** A terminal or interrupted state: written after RemoteCallCompleted, at the end of the call. */
  final?: { state: TaskState; message?: Message };
  /** A non-final state (working) that clears an earlier deferred one. */
  clearsFinal?: boolean;
}

const parseOrThrow = <T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
  },
  value: unknown,
  what: string,
): T => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`the remote agent sent an invalid ${what}: ${parsed.error.message}`);
  return parsed.data;
};

const statusOf = (status: unknown, at: string): MappedUpdate => {
  const s = (status ?? {}) as { state?: unknown; message?: unknown };
  const state = TaskState.safeParse(s.state);
  if (!state.success || state.data === 'TASK_STATE_SUBMITTED') return { commands: [] };
  const message =
    s.message === undefined
      ? undefined
      : parseOrThrow(Message, { ...(s.message as object), role: 'ROLE_AGENT' }, 'status message');
  if (TERMINAL_STATES.has(state.data) || INTERRUPTED_STATES.has(state.data)) {
    return { commands: [], final: { state: state.data, ...(message ? { message } : {}) } };
  }
  return {
    commands: [{ type: 'UpdateStatus', state: state.data, ...(message ? { message } : {}), at }],
    clearsFinal: true,
  };
};

export const mapStreamResponse = (json: Record<string, unknown>, at: string): MappedUpdate => {
  if (json.task) {
    const t = json.task as { id?: string; contextId?: string; status?: unknown; artifacts?: unknown[] };
    const status = statusOf(t.status, at);
    const artifacts: TaskCommand[] = (t.artifacts ?? []).map((a) => ({
      type: 'UpdateArtifact',
      artifact: parseOrThrow(Artifact, a, 'artifact'),
      append: false,
      lastChunk: true,
      at,
    }));
    return {
      ...(t.id && t.contextId ? { link: { remoteTaskId: t.id, remoteContextId: t.contextId } } : {}),
      ...status,
      commands: [...artifacts, ...status.commands],
    };
  }
  if (json.statusUpdate) {
    const u = json.statusUpdate as { taskId?: string; contextId?: string; status?: unknown };
    return {
      ...(u.taskId && u.contextId ? { link: { remoteTaskId: u.taskId, remoteContextId: u.contextId } } : {}),
      ...statusOf(u.status, at),
    };
  }
  if (json.artifactUpdate) {
    const u = json.artifactUpdate as {
      taskId?: string;
      contextId?: string;
      artifact?: unknown;
      append?: boolean;
      lastChunk?: boolean;
    };
    return {
      ...(u.taskId && u.contextId ? { link: { remoteTaskId: u.taskId, remoteContextId: u.contextId } } : {}),
      commands: [
        {
          type: 'UpdateArtifact',
          artifact: parseOrThrow(Artifact, u.artifact, 'artifact'),
          append: u.append ?? false,
          lastChunk: u.lastChunk ?? false,
          at,
        },
      ],
    };
  }
  if (json.message) {
    // A direct answer: the stream is this one message; our task completes with it in the history.
    const message = parseOrThrow(Message, { ...(json.message as object), role: 'ROLE_AGENT' }, 'message');
    return { commands: [{ type: 'AddAgentMessage', message, at }], final: { state: 'TASK_STATE_COMPLETED' } };
  }
  return { commands: [] };
};

/** How a call ended, from the remote task's last state. */
const outcomeOf = (final: {
  state: TaskState;
  message?: Message;
}): { ok: boolean; outcome: RemoteCallOutcome; error?: string } => {
  switch (final.state) {
    case 'TASK_STATE_COMPLETED':
      return { ok: true, outcome: 'completed' };
    case 'TASK_STATE_INPUT_REQUIRED':
    case 'TASK_STATE_AUTH_REQUIRED':
      return { ok: true, outcome: 'interrupted' };
    case 'TASK_STATE_REJECTED':
      return { ok: true, outcome: 'rejected' };
    case 'TASK_STATE_CANCELED':
      return { ok: true, outcome: 'canceled' };
    default:
      return {
        ok: false,
        outcome: 'failed',
        error: `the remote task failed${final.message ? `: ${textOf(final.message)}` : ''}`,
      };
  }
};

export const remoteAgentWorker = (deps: RemoteWorkerDeps): ConsumerOptions[] => {
  const now = deps.now ?? (() => new Date().toISOString());
  const callTimeoutMs = deps.callTimeoutMs ?? 60_000;
  const ackWaitMs = deps.ackWaitMs ?? 30_000;
  const limit = Math.max(1, deps.concurrencyPerAgent ?? 8);
  const maxAckPending = Math.max(deps.maxAckPending ?? 64, limit + 1);
  const retryMs = deps.bulkheadRetryMs ?? 200;
  const staleAfterMs = deps.probeStaleAfterMs ?? callTimeoutMs + 30_000;
  const slots = bulkheads(limit);
  const fetchImpl = guardedFetch(deps);

  const handler = async ({ event, working }: Delivery) => {
    if (!RELEVANT.has(event.type)) return;
    if (event.type === 'TaskStatusUpdated') {
      if (dataOf(TaskStatusUpdated, event).state === 'TASK_STATE_CANCELED') await propagateCancel(event);
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
    const tenant = event.metadata.tenant;
    // TaskSubmitted naming the agent, TaskRouted, or a follow-up: the agent comes from the task.
    if (event.type === 'TaskSubmitted' && state.routed) return; // the TaskRouted event runs it
    const target = await remoteTargetOf(deps, state, tenant);
    if (!target) return;
    const ctx = context(event);
    if ('missing' in target) {
      if (TERMINAL_STATES.has(state.task.status.state)) return;
      await command(
        event.stream,
        ctx,
        failWith(`${event.id}:missing`, `Cannot run the task: ${target.missing}`),
        `${event.id}:missing`,
      ).catch(ignoreRuleViolation);
      return;
    }
    if (!slots.tryAcquire(target.agentKey)) {
      throw new BulkheadFull(`agent ${target.agentKey} has ${limit} calls in flight in this process`);
    }
    const heartbeat = setInterval(working, heartbeatMs(ackWaitMs));
    try {
      await call(event, history, state, target, ctx);
    } finally {
      clearInterval(heartbeat);
      slots.release(target.agentKey);
    }
  };

  const context = (event: RecordedEvent) => ({
    tenant: event.metadata.tenant,
    principal: PRINCIPAL,
    correlationId: event.metadata.correlationId,
  });
  const command = (stream: string, ctx: ReturnType<typeof context>, cmd: TaskCommand, commandId: string) =>
    handle(deps.store, stream, cmd, taskDecider, { ...ctx, commandId });
  const failWith = (messageId: string, text: string): TaskCommand => ({
    type: 'UpdateStatus',
    state: 'TASK_STATE_FAILED',
    message: { messageId, role: 'ROLE_AGENT', parts: [{ text }] },
    at: now(),
  });

  /** The outgoing message: the user's input, with our idempotency key, to the linked remote task if any. */
  const outgoing = (
    trigger: RecordedEvent,
    state: TaskAggregate,
    target: RemoteTarget,
    idempotencyKey: string,
  ) => {
    const input = isEvent(TaskInputReceived, trigger)
      ? trigger.data.message
      : (state.task!.history?.[0] as Message);
    const linked = state.remote && state.remote.agentKey === target.agentKey ? state.remote : undefined;
    const followUp = trigger.type === 'TaskInputReceived' && linked;
    return SendMessageRequest.fromJSON({
      message: {
        messageId: idempotencyKey,
        role: 'ROLE_USER',
        parts: input.parts as Part[],
        ...(followUp ? { taskId: linked.remoteTaskId, contextId: linked.remoteContextId } : {}),
        ...(input.extensions ? { extensions: input.extensions } : {}),
        metadata: { ...(input.metadata ?? {}), idempotencyKey },
      },
    });
  };

  const call = async (
    trigger: RecordedEvent,
    history: RecordedEvent[],
    state: TaskAggregate,
    target: RemoteTarget,
    ctx: ReturnType<typeof context>,
  ) => {
    const stream = trigger.stream;
    const callId = trigger.id;
    const taskId = state.task!.id;
    const earlier = state.calls?.[callId];
    if (earlier?.completed) {
      // Done before (the ack was lost): re-apply its final state, which a crash may have cut off.
      await applyFinal(stream, ctx, callId, history);
      return;
    }
    // An attempt that was intended but will not be made closes as abandoned, so the record stays whole.
    const abandonEarlier = async (error: string) => {
      if (!earlier) return;
      await command(
        stream,
        ctx,
        {
          type: 'CompleteRemoteCall',
          callId,
          ok: false,
          outcome: 'abandoned',
          latencyMs: null,
          error,
          at: now(),
        },
        `${callId}:completed`,
      );
    };
    if (TERMINAL_STATES.has(state.task!.status.state)) {
      await abandonEarlier(`the task became ${state.task!.status.state} before the outcome was recorded`);
      return;
    }
    const attempt = (earlier?.attempts ?? 0) + 1;
    const idempotencyKey = earlier?.idempotencyKey ?? `ac:${taskId}:${callId}`;
    if (earlier) {
      deps.log.warn(
        { taskId, callId, attempt, agentKey: target.agentKey },
        'remote call: an earlier attempt has no recorded outcome; calling again',
      );
    }
    const admission = await admitCall(deps.store, target.agentKey, taskId, {
      staleAfterMs,
      now: now(),
      correlationId: ctx.correlationId,
    });
    if ('refused' in admission) {
      await abandonEarlier(admission.refused);
      await command(
        stream,
        ctx,
        failWith(`${callId}:unavailable`, `Agent ${target.agentKey} is unavailable: ${admission.refused}`),
        `${callId}:unavailable`,
      ).catch(ignoreRuleViolation);
      return;
    }
    try {
      await command(
        stream,
        ctx,
        { type: 'IntendRemoteCall', agentKey: target.agentKey, callId, idempotencyKey, attempt, at: now() },
        `${callId}:intended:${attempt}`,
      );
    } catch (error) {
      if (isRuleViolation(error)) {
        // Canceled meanwhile, or another copy recorded this attempt first: nothing for this one to do.
        deps.log.info({ err: safeErr(error), taskId, callId }, 'remote call: not made');
        return;
      }
      throw error;
    }

    // Our task canceled (or settled by someone else) while the call runs: stop, and cancel the remote task.
    const canceled = new AbortController();
    const watcher = (async () => {
      let current = state;
      const fresh = await deps.store.readStream(stream, { fromRevision: history.length });
      for (const e of fresh)
        current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
      const after = history.length - 1 + fresh.length;
      if (current.task && TERMINAL_STATES.has(current.task.status.state)) canceled.abort();
      for await (const e of deps.feed.follow(stream, { after, signal: canceled.signal })) {
        current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
        if (current.task && TERMINAL_STATES.has(current.task.status.state)) canceled.abort();
      }
    })().catch(() => {});
    const timeout = AbortSignal.timeout(callTimeoutMs);
    const signal = AbortSignal.any([canceled.signal, timeout]);

    let seq = 0;
    let final: { state: TaskState; message?: Message } | undefined;
    let remoteTask = state.remote?.agentKey === target.agentKey ? state.remote : undefined;
    let ourState = state.task!.status.state;
    let client: Client | undefined;
    const started = Date.now();
    let result: { ok: boolean; outcome: RemoteCallOutcome; error?: string; latencyMs: number | null };
    try {
      client = await clientFor(target, fetchImpl);
      const request = outgoing(trigger, state, target, idempotencyKey);
      for await (const response of client.sendMessageStream(request, { signal })) {
        if (signal.aborted) break;
        const mapped = mapStreamResponse(StreamResponse.toJSON(response) as Record<string, unknown>, now());
        if (mapped.link && mapped.link.remoteTaskId !== remoteTask?.remoteTaskId) {
          await command(
            stream,
            ctx,
            { type: 'LinkRemoteTask', agentKey: target.agentKey, callId, ...mapped.link, at: now() },
            `${callId}:${attempt}:link:${mapped.link.remoteTaskId}`,
          );
          remoteTask = { agentKey: target.agentKey, ...mapped.link };
        }
        if (mapped.clearsFinal) final = undefined;
        for (const cmd of mapped.commands) {
          // Working again without anything to say: our task already is.
          if (cmd.type === 'UpdateStatus' && cmd.state === ourState && !cmd.message) continue;
          const r = await command(stream, ctx, cmd, `${callId}:${seq++}`);
          ourState = r.state.task!.status.state;
        }
        if (mapped.final) final = mapped.final;
      }
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      if (!final && remoteTask && client) {
        // The stream closed before the remote task settled: ask for it as it stands.
        const task = await client.getTask(
          GetTaskRequest.fromJSON({ id: remoteTask.remoteTaskId, historyLength: 0 }),
          { signal },
        );
        const mapped = mapStreamResponse({ task: SdkTask.toJSON(task) as Record<string, unknown> }, now());
        if (mapped.final) final = mapped.final;
      }
      const latencyMs = Date.now() - started;
      result = final
        ? { ...outcomeOf(final), latencyMs }
        : {
            ok: false,
            outcome: 'error',
            error: 'the remote agent ended the call before its task settled',
            latencyMs,
          };
    } catch (error) {
      if (canceled.signal.aborted || isRuleViolation(error)) {
        // Our task was canceled (an update refused as terminal says so before the watcher does).
        result = { ok: true, outcome: 'canceled', latencyMs: null };
      } else if (timeout.aborted) {
        result = {
          ok: false,
          outcome: 'timeout',
          error: `no answer within ${callTimeoutMs} ms`,
          latencyMs: Date.now() - started,
        };
      } else {
        result = { ok: false, outcome: 'error', error: errorText(error), latencyMs: Date.now() - started };
      }
      final = undefined;
    } finally {
      canceled.abort();
      await watcher;
    }
    if ((result.outcome === 'canceled' || result.outcome === 'timeout') && remoteTask && client) {
      // Best effort: the remote agent stops working for nothing (its cancel is idempotent).
      await client
        .cancelTask(CancelTaskRequest.fromJSON({ id: remoteTask.remoteTaskId }), {
          signal: AbortSignal.timeout(10_000),
        })
        .catch((err) => deps.log.debug({ err: safeErr(err), taskId }, 'remote cancel failed'));
    }
    if (!result.ok)
      deps.log.info(
        { taskId, agentKey: target.agentKey, outcome: result.outcome, error: forLog(result.error) },
        'remote call failed',
      );
    await command(
      stream,
      ctx,
      {
        type: 'CompleteRemoteCall',
        callId,
        ok: result.ok,
        outcome: result.outcome,
        latencyMs: result.latencyMs,
        ...(result.error ? { error: result.error } : {}),
        ...(final ? { final } : {}),
        at: now(),
      },
      `${callId}:completed`,
    );
    await applyFinal(stream, ctx, callId);
  };

  /** After RemoteCallCompleted: the remote task's final state, or our failure, on our task (idempotent). */
  const applyFinal = async (
    stream: string,
    ctx: ReturnType<typeof context>,
    callId: string,
    loaded?: RecordedEvent[],
  ) => {
    const history = loaded ?? (await deps.store.readStream(stream));
    const completed = history.find((e) => isEvent(RemoteCallCompleted, e) && e.data.callId === callId);
    const parsed = completed && RemoteCallCompleted.safeParse({ type: completed.type, data: completed.data });
    if (!parsed?.success) return;
    const d = parsed.data.data;
    let cmd: TaskCommand | null = null;
    if (d.final) {
      cmd = {
        type: 'UpdateStatus',
        state: d.final.state,
        ...(d.final.message ? { message: d.final.message } : {}),
        at: now(),
      };
    } else if (d.outcome === 'timeout' || d.outcome === 'error') {
      cmd = failWith(`${callId}:failed`, `Remote agent ${d.agentKey} failed: ${d.error ?? d.outcome}`);
    }
    if (cmd) await command(stream, ctx, cmd, `${callId}:final`).catch(ignoreRuleViolation);
  };

  /** Our task was canceled: cancel the remote task it is linked to (idempotent on the remote side). */
  const propagateCancel = async (event: RecordedEvent) => {
    const state = fold<TaskAggregate, TaskEvent>(taskDecider, await deps.store.readStream(event.stream));
    if (!state.remote || state.task?.status.state !== 'TASK_STATE_CANCELED') return;
    const view = await viewOf(deps.store, state.remote.agentKey);
    if (view?.endpoint.kind !== 'remote') return;
    try {
      const client = await clientFor(
        { agentKey: state.remote.agentKey, view, endpoint: view.endpoint },
        fetchImpl,
      );
      await client.cancelTask(CancelTaskRequest.fromJSON({ id: state.remote.remoteTaskId }), {
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      // Already terminal over there (not cancelable), or unreachable: nothing more to do from here.
      deps.log.debug({ err: safeErr(err), stream: event.stream }, 'remote cancel not applied');
    }
  };

  return perEventType(
    {
      durable: 'remote-agent-workers',
      filter: { category: 'task' },
      maxAckPending,
      ackWaitMs,
      // Bulkhead naks count as deliveries: a task may wait for a slot through many of them.
      maxDeliver: 10_000,
      backoffMs: () => Math.round(retryMs * (1 + Math.random())),
      handler,
    },
    RELEVANT,
  );
};
