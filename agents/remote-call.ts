/**
 * One call to a remote agent for one triggering event, recorded before and after (agents/remote.ts tells the
 * whole protocol): admission by the circuit breaker, RemoteCallIntended, the streamed call mirrored into our
 * task, RemoteCallCompleted, then the remote task's final state on ours. A call already completed is not
 * made again; an intended one without an outcome is made again, visibly, with the same idempotency key.
 */
import {
  CancelTaskRequest,
  GetTaskRequest,
  Task as SdkTask,
  SendMessageRequest,
  StreamResponse,
} from '@a2a-js/sdk';
import type { Client } from '@a2a-js/sdk/client';
import type { Logger } from 'pino';
import { ignoreRuleViolation, isRuleViolation } from '../commands/errors.ts';
import { handle } from '../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import { type Message, type Part, type TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import { isEvent, type RecordedEvent } from '../events/envelope.ts';
import { LINEAGE_EXTENSION } from '../events/lineage.ts';
import {
  RemoteCallCompleted,
  type RemoteCallOutcome,
  type TaskEvent,
  TaskInputReceived,
} from '../events/task.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { forLog, safeErr } from '../infra/log-safe.ts';
import type { TaskFeed } from '../infra/task-feed.ts';
import { admitCall } from './circuit-admission.ts';
import { clientFor, errorText, mapStreamResponse, outcomeOf, type RemoteTarget } from './remote-client.ts';

/** What calls need, with the worker's defaults applied (agents/remote.ts builds it). */
export interface RemoteCalls {
  store: EventStore;
  feed: TaskFeed;
  log: Logger;
  now: () => string;
  callTimeoutMs: number;
  /** A claimed circuit probe older than this is taken for lost. */
  staleAfterMs: number;
  /** fetch through the SSRF guard. */
  fetchImpl: typeof fetch;
}

/** Who writes the call's commands to our task: the trigger's tenant and correlation, the worker's principal. */
export interface CallContext {
  tenant: string;
  principal: string;
  correlationId: string;
}

/** A call about to be made: its trigger, our task as read, the target, and the ids it is recorded under. */
interface Call {
  trigger: RecordedEvent;
  history: RecordedEvent[];
  state: TaskAggregate;
  target: RemoteTarget;
  ctx: CallContext;
  callId: string;
  attempt: number;
  idempotencyKey: string;
}

interface CallResult {
  ok: boolean;
  outcome: RemoteCallOutcome;
  error?: string;
  latencyMs: number | null;
  final?: { state: TaskState; message?: Message };
  remoteTask?: { remoteTaskId: string };
  client?: Client;
}

export const command = (
  w: RemoteCalls,
  stream: string,
  ctx: CallContext,
  cmd: TaskCommand,
  commandId: string,
) => handle(w.store, stream, cmd, taskDecider, { ...ctx, commandId });

export const failWith = (w: RemoteCalls, messageId: string, text: string): TaskCommand => ({
  type: 'UpdateStatus',
  state: 'TASK_STATE_FAILED',
  message: { messageId, role: 'ROLE_AGENT', parts: [{ text }] },
  at: w.now(),
});

/**
 * The outgoing message: the user's input, with our idempotency key and our lineage ids (events/lineage.ts:
 * the remote task links back to this call), to the linked remote task if any.
 */
const outgoing = (
  trigger: RecordedEvent,
  state: TaskAggregate,
  target: RemoteTarget,
  idempotencyKey: string,
  correlationId: string,
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
      metadata: {
        ...(input.metadata ?? {}),
        idempotencyKey,
        [LINEAGE_EXTENSION]: { correlationId, causationId: trigger.id, taskId: state.task!.id },
      },
    },
  });
};

/** Makes (or, completed before, only re-applies) the call `trigger` asks of `target` for our task. */
export const callRemote = async (
  w: RemoteCalls,
  trigger: RecordedEvent,
  history: RecordedEvent[],
  state: TaskAggregate,
  target: RemoteTarget,
  ctx: CallContext,
): Promise<void> => {
  const stream = trigger.stream;
  const callId = trigger.id;
  const taskId = state.task!.id;
  const earlier = state.calls?.[callId];
  if (earlier?.completed) {
    // Done before (the ack was lost): re-apply its final state, which a crash may have cut off.
    await applyFinal(w, stream, ctx, callId, history);
    return;
  }
  // An attempt that was intended but will not be made closes as abandoned, so the record stays whole.
  const abandonEarlier = async (error: string) => {
    if (!earlier) return;
    await command(
      w,
      stream,
      ctx,
      {
        type: 'CompleteRemoteCall',
        callId,
        ok: false,
        outcome: 'abandoned',
        latencyMs: null,
        error,
        at: w.now(),
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
    w.log.warn(
      { taskId, callId, attempt, agentKey: target.agentKey },
      'remote call: an earlier attempt has no recorded outcome; calling again',
    );
  }
  const admission = await admitCall(w.store, target.agentKey, taskId, {
    staleAfterMs: w.staleAfterMs,
    now: w.now(),
    correlationId: ctx.correlationId,
  });
  if ('refused' in admission) {
    await abandonEarlier(admission.refused);
    const text = `Agent ${target.agentKey} is unavailable: ${admission.refused}`;
    await command(w, stream, ctx, failWith(w, `${callId}:unavailable`, text), `${callId}:unavailable`).catch(
      ignoreRuleViolation,
    );
    return;
  }
  try {
    await command(
      w,
      stream,
      ctx,
      { type: 'IntendRemoteCall', agentKey: target.agentKey, callId, idempotencyKey, attempt, at: w.now() },
      `${callId}:intended:${attempt}`,
    );
  } catch (error) {
    if (isRuleViolation(error)) {
      // Canceled meanwhile, or another copy recorded this attempt first: nothing for this one to do.
      w.log.info({ err: safeErr(error), taskId, callId }, 'remote call: not made');
      return;
    }
    throw error;
  }
  const call: Call = { trigger, history, state, target, ctx, callId, attempt, idempotencyKey };
  await finishCall(w, call, await streamCall(w, call));
};

/**
 * The call itself: streamed, every update mirrored into our task as it comes, until the remote task settles,
 * our task ends (the feed is watched: then the stream is dropped), or the timeout.
 */
const streamCall = async (w: RemoteCalls, call: Call): Promise<CallResult> => {
  const { trigger, history, state, target, ctx, callId, attempt } = call;
  const stream = trigger.stream;
  // Our task canceled (or settled by someone else) while the call runs: stop, and cancel the remote task.
  const canceled = new AbortController();
  const watcher = (async () => {
    let current = state;
    const fresh = await w.store.readStream(stream, { fromRevision: history.length });
    for (const e of fresh) current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
    const after = history.length - 1 + fresh.length;
    if (current.task && TERMINAL_STATES.has(current.task.status.state)) canceled.abort();
    for await (const e of w.feed.follow(stream, { after, signal: canceled.signal })) {
      current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
      if (current.task && TERMINAL_STATES.has(current.task.status.state)) canceled.abort();
    }
  })().catch(() => {});
  const timeout = AbortSignal.timeout(w.callTimeoutMs);
  const signal = AbortSignal.any([canceled.signal, timeout]);

  let seq = 0;
  let final: CallResult['final'];
  let remoteTask = state.remote?.agentKey === target.agentKey ? state.remote : undefined;
  let ourState = state.task!.status.state;
  let client: Client | undefined;
  const started = Date.now();
  try {
    client = await clientFor(target, w.fetchImpl);
    const request = outgoing(trigger, state, target, call.idempotencyKey, ctx.correlationId);
    for await (const response of client.sendMessageStream(request, { signal })) {
      if (signal.aborted) break;
      const mapped = mapStreamResponse(StreamResponse.toJSON(response) as Record<string, unknown>, w.now());
      if (mapped.link && mapped.link.remoteTaskId !== remoteTask?.remoteTaskId) {
        await command(
          w,
          stream,
          ctx,
          { type: 'LinkRemoteTask', agentKey: target.agentKey, callId, ...mapped.link, at: w.now() },
          `${callId}:${attempt}:link:${mapped.link.remoteTaskId}`,
        );
        remoteTask = { agentKey: target.agentKey, ...mapped.link };
      }
      if (mapped.clearsFinal) final = undefined;
      for (const cmd of mapped.commands) {
        // Working again without anything to say: our task already is.
        if (cmd.type === 'UpdateStatus' && cmd.state === ourState && !cmd.message) continue;
        const r = await command(w, stream, ctx, cmd, `${callId}:${seq++}`);
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
      const mapped = mapStreamResponse({ task: SdkTask.toJSON(task) as Record<string, unknown> }, w.now());
      if (mapped.final) final = mapped.final;
    }
    const latencyMs = Date.now() - started;
    const settled = final
      ? { ...outcomeOf(final), latencyMs, final }
      : {
          ok: false,
          outcome: 'error' as const,
          error: 'the remote agent ended the call before its task settled',
          latencyMs,
        };
    return { ...settled, ...(remoteTask ? { remoteTask } : {}), ...(client ? { client } : {}) };
  } catch (error) {
    const seen = { ...(remoteTask ? { remoteTask } : {}), ...(client ? { client } : {}) };
    // Our task was canceled (an update refused as terminal says so before the watcher does).
    if (canceled.signal.aborted || isRuleViolation(error))
      return { ok: true, outcome: 'canceled', latencyMs: null, ...seen };
    const latencyMs = Date.now() - started;
    if (timeout.aborted)
      return {
        ok: false,
        outcome: 'timeout',
        error: `no answer within ${w.callTimeoutMs} ms`,
        latencyMs,
        ...seen,
      };
    return { ok: false, outcome: 'error', error: errorText(error), latencyMs, ...seen };
  } finally {
    canceled.abort();
    await watcher;
  }
};

/** After the call: the remote task canceled if ours stopped waiting, the outcome recorded, then applied. */
const finishCall = async (w: RemoteCalls, call: Call, result: CallResult) => {
  const { trigger, target, ctx, callId } = call;
  const taskId = call.state.task!.id;
  const { remoteTask, client, final } = result;
  if ((result.outcome === 'canceled' || result.outcome === 'timeout') && remoteTask && client) {
    // Best effort: the remote agent stops working for nothing (its cancel is idempotent).
    await client
      .cancelTask(CancelTaskRequest.fromJSON({ id: remoteTask.remoteTaskId }), {
        signal: AbortSignal.timeout(10_000),
      })
      .catch((err) => w.log.debug({ err: safeErr(err), taskId }, 'remote cancel failed'));
  }
  if (!result.ok)
    w.log.info(
      { taskId, agentKey: target.agentKey, outcome: result.outcome, error: forLog(result.error) },
      'remote call failed',
    );
  await command(
    w,
    trigger.stream,
    ctx,
    {
      type: 'CompleteRemoteCall',
      callId,
      ok: result.ok,
      outcome: result.outcome,
      latencyMs: result.latencyMs,
      ...(result.error ? { error: result.error } : {}),
      ...(final ? { final } : {}),
      at: w.now(),
    },
    `${callId}:completed`,
  );
  await applyFinal(w, trigger.stream, ctx, callId);
};

/** After RemoteCallCompleted: the remote task's final state, or our failure, on our task (idempotent). */
const applyFinal = async (
  w: RemoteCalls,
  stream: string,
  ctx: CallContext,
  callId: string,
  loaded?: RecordedEvent[],
) => {
  const history = loaded ?? (await w.store.readStream(stream));
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
      at: w.now(),
    };
  } else if (d.outcome === 'timeout' || d.outcome === 'error') {
    cmd = failWith(w, `${callId}:failed`, `Remote agent ${d.agentKey} failed: ${d.error ?? d.outcome}`);
  }
  if (cmd) await command(w, stream, ctx, cmd, `${callId}:final`).catch(ignoreRuleViolation);
};
