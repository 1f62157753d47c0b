/** The A2A operations, transport-agnostic: the JSON-RPC and HTTP+JSON bindings both call A2AService. */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { canonicalJson } from '../commands/agent.ts';
import { recordRefusal, refusalOf } from '../commands/audit.ts';
import { CommandError } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import {
  INTERRUPTED_STATES,
  type Message,
  type StreamResponse,
  type Task,
  TERMINAL_STATES,
} from '../events/a2a.ts';
import { dataOf, isEvent, type RecordedEvent } from '../events/envelope.ts';
import { describeZodIssues } from '../events/issues.ts';
import { upstreamOf } from '../events/lineage.ts';
import {
  type TaskEvent,
  TaskMessageAdded,
  TaskSubmitted,
  taskStream,
  toStreamResponse,
} from '../events/task.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { TaskFeed } from '../infra/task-feed.ts';
import { taskTenant } from '../projections/tasks.ts';
import { A2AError, taskNotFound, toA2AError } from './errors.ts';
import { type ListBudget, listTasksBudget, listTasksPage, trimHistory } from './list-tasks.ts';
import { followUpCommandId, submissionIds } from './message-ids.ts';
import {
  GetTaskRequest,
  ListPushConfigsRequest,
  ListTasksRequest,
  PushConfigInput,
  PushConfigRef,
  SendMessageRequest,
  TaskIdRequest,
} from './schemas.ts';

/** Who is calling, as authentication established it. Every operation is scoped to the caller's tenant. */
export interface Caller {
  tenant: string;
  principal: string;
  /** For the audit trail: the HTTP request (X-Request-Id) and the peer address it came from. */
  requestId?: string;
  source?: string;
}

/** One SSE event: the StreamResponse and the task-stream revision it reflects (the SSE `id`). */
export interface StreamItem {
  revision: number;
  response: StreamResponse;
}

export interface PushConfig {
  id: string;
  taskId: string;
  url: string;
  token?: string;
  authentication?: { scheme: string; credentials?: string };
  tenant?: string;
}

/** Push-notification configs, kept by their own aggregate (sagas/push-delivery.ts delivers them). */
export interface PushConfigs {
  /** Refuses a config that create() would refuse, before anything is written. */
  check(input: PushConfigInput): Promise<void>;
  create(caller: Caller, taskId: string, input: PushConfigInput): Promise<PushConfig>;
  get(caller: Caller, taskId: string, id: string): Promise<PushConfig>;
  list(
    caller: Caller,
    taskId: string,
    pageSize: number,
    pageToken?: string,
  ): Promise<{ configs: PushConfig[]; nextPageToken: string }>;
  delete(caller: Caller, taskId: string, id: string): Promise<void>;
}

export interface A2AServiceDeps {
  store: EventStore;
  feed: TaskFeed;
  readModels: SqlExecutor;
  push?: PushConfigs;
  capabilities: { streaming: boolean; pushNotifications: boolean };
  /**
   * Hands a task event this edge just wrote to a worker in this process (agents/worker.ts), which may
   * start at once instead of when the bus delivers it; the bus delivery still comes and finds it handled.
   */
  dispatch?: (trigger: RecordedEvent, history?: RecordedEvent[]) => void;
  /**
   * Read-your-writes: a blocking SendMessage answers once the tasks read model (ListTasks) shows what the
   * answer shows, or after `readModelWaitMs` (a stalled projection delays answers, it does not stop them).
   */
  tasksCaughtUp?: { wait(taskId: string, revision: number, timeoutMs: number): Promise<boolean> };
  readModelWaitMs?: number;
  /** Every new task goes to this agent, whatever its metadata says (a workflow's own endpoint). */
  agent?: string;
  /** Longest a blocking SendMessage waits before answering with the task as it stands. */
  blockingTimeoutMs?: number;
  now?: () => string;
  /** ListTasks' share of this process per tenant (default: from AGENTCORE_LIST_TASKS_*). */
  listBudget?: ListBudget;
}

export const parseParams = <S extends z.ZodType>(schema: S, input: unknown): z.output<S> => {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) throw new A2AError('INVALID_PARAMS', describeZodIssues(parsed.error.issues));
  return parsed.data;
};

/** What handle() named of a refused command, kept across toA2AError (which makes a new error). */
const refusedCommands = new WeakMap<Error, { command: string; stream: string }>();

const settled = (task: Task) =>
  TERMINAL_STATES.has(task.status.state) || INTERRUPTED_STATES.has(task.status.state);

/** What accept() did: the task, where the caller's stream starts, and whether it was a retry. */
interface Accepted {
  request: z.output<typeof SendMessageRequest>;
  taskId: string;
  revision: number;
  state: TaskAggregate;
  /** The same message had been accepted before: nothing new was written. */
  retried: boolean;
}

/** A message as sent, without what the hub fills in, in a form that compares across jsonb's key order. */
const sentForm = (m: Message, metadata: unknown, agent: string | null) => {
  const { taskId: _t, contextId: _c, ...rest } = m;
  return canonicalJson({ message: rest, metadata: metadata ?? null, agent });
};

/** A retry must be the same message: a different one reusing a messageId is refused, not merged. */
const requireSameMessage = (request: Accepted['request'], submitted: RecordedEvent, agent: string | null) => {
  const first = dataOf(TaskSubmitted, submitted);
  const same =
    sentForm(first.message, first.metadata, first.agent) ===
      sentForm(request.message, request.metadata, agent) &&
    (!request.message.contextId || request.message.contextId === first.contextId);
  if (!same) {
    throw new A2AError(
      'INVALID_PARAMS',
      `message.messageId ${request.message.messageId} was already used for a different message (task ${first.message.taskId}); a retry must resend the same message`,
    );
  }
};

/** The A2A operations, transport-agnostic: the JSON-RPC and REST bindings both call these. */
export class A2AService {
  private readonly now: () => string;

  private readonly deps: A2AServiceDeps & { listBudget: ListBudget };

  constructor(deps: A2AServiceDeps) {
    this.deps = { ...deps, listBudget: deps.listBudget ?? listTasksBudget() };
    this.now = deps.now ?? (() => new Date().toISOString());
  }

  /** The same operations, with every new task bound to `agent`. */
  boundTo(agent: string): A2AService {
    return new A2AService({ ...this.deps, agent });
  }

  /** The task and its events as this caller may see them; another tenant's task does not exist. */
  private async load(
    caller: Caller,
    taskId: string,
  ): Promise<{ state: TaskAggregate; events: RecordedEvent[] }> {
    // Another tenant's task is refused from its row alone, before its stream is read: it answers as fast as
    // an unknown id. No row yet (a store that keeps the read model apart): the stream says.
    const owner = await taskTenant(this.deps.readModels, taskId);
    if (owner !== null && owner !== caller.tenant) throw taskNotFound(taskId);
    const events = await this.deps.store.readStream(taskStream(taskId));
    if (events.length === 0 || events[0]!.metadata.tenant !== caller.tenant) throw taskNotFound(taskId);
    return { state: fold(taskDecider, events), events };
  }

  /**
   * `history`: the task's stream as the caller just read it ([] for a new task), decided on without
   * reading it again. Its first event's correlation id is kept: a follow-up or a cancel belongs to what
   * started the task (a workflow run, say).
   */
  private async command(
    caller: Caller,
    taskId: string,
    command: TaskCommand,
    history: RecordedEvent[],
    commandId?: string,
  ) {
    try {
      return await handle(
        this.deps.store,
        taskStream(taskId),
        command,
        taskDecider,
        {
          tenant: caller.tenant,
          principal: caller.principal,
          ...(caller.requestId ? { requestId: caller.requestId } : {}),
          ...(caller.source ? { source: caller.source } : {}),
          ...(commandId ? { commandId } : {}),
          ...(history[0] ? { correlationId: history[0].metadata.correlationId } : {}),
        },
        { assume: history },
      );
    } catch (error) {
      const mapped = toA2AError(error);
      if (error instanceof CommandError && error.refused) refusedCommands.set(mapped, error.refused);
      throw mapped;
    }
  }

  /**
   * Runs a write operation; a refusal (anything but an internal failure) is recorded in the tenant's audit
   * stream before it is answered (commands/audit.ts). Only the refusal path writes: an accepted command is
   * audited from its own events.
   */
  private async audited<T>(caller: Caller, operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const refused = toA2AError(error);
      if (refused.reason === 'INTERNAL') throw error;
      const named = error instanceof Error ? refusedCommands.get(error) : undefined;
      const fallback = { command: operation, stream: null, status: refused.status, reason: refused.message };
      // The client's answer is the refusal whatever happens to its audit entry: a store that cannot take the
      // entry (down, or full) must not turn a 4xx into a 500. The health check reports the store.
      await recordRefusal(this.deps.store, caller, refusalOf(error, { ...fallback, ...named })).catch(
        () => {},
      );
      throw error;
    }
  }

  /**
   * Submits a new task or a follow-up, and returns where the caller's stream starts. A retried message (same
   * tenant, same messageId) is recorded once: it gets the task the first one made (`retried`), on whichever
   * edge process it lands (message-ids.ts).
   */
  private async accept(caller: Caller, params: unknown): Promise<Accepted> {
    const request = parseParams(SendMessageRequest, params);
    const { message } = request;
    if (message.taskId) {
      const { state, events } = await this.load(caller, message.taskId);
      if (message.contextId && message.contextId !== state.task!.contextId) {
        throw new A2AError(
          'INVALID_PARAMS',
          `contextId ${message.contextId} does not match task ${message.taskId}`,
        );
      }
      const result = await this.command(
        caller,
        message.taskId,
        { type: 'ReceiveInput', message, at: this.now() },
        events,
        followUpCommandId(caller.tenant, message.taskId, message.messageId),
      );
      return {
        request,
        taskId: message.taskId,
        revision: result.nextExpectedRevision,
        state: result.state,
        retried: result.replayed,
      };
    }
    // Bad input changes nothing: a webhook that would be refused must not leave a task behind.
    const pushConfig = request.configuration?.taskPushNotificationConfig;
    if (pushConfig) await this.requirePush().check(pushConfig);
    // Another hub's call names the task it came from (events/lineage.ts): recorded, the task links back.
    const upstream = upstreamOf(message.metadata);
    if (upstream && 'invalid' in upstream) throw new A2AError('INVALID_PARAMS', upstream.invalid);
    const ids = submissionIds(caller.tenant, this.deps.agent ?? '', message.messageId);
    const { taskId } = ids;
    const named = this.deps.agent ?? request.metadata?.agent ?? message.metadata?.agent;
    const result = await this.command(
      caller,
      taskId,
      {
        type: 'SubmitTask',
        taskId,
        contextId: message.contextId ?? randomUUID(),
        message,
        agent: typeof named === 'string' ? named : null,
        ...(request.configuration
          ? {
              configuration: {
                acceptedOutputModes: request.configuration.acceptedOutputModes,
                historyLength: request.configuration.historyLength,
                returnImmediately: request.configuration.returnImmediately,
              },
            }
          : {}),
        ...(request.metadata ? { metadata: request.metadata } : {}),
        ...(upstream ? { upstream } : {}),
        at: this.now(),
      },
      // A new messageId names no existing stream: no need to read it first (a retry is read back).
      [],
      ids.commandId,
    );
    if (result.replayed)
      requireSameMessage(request, result.events[0]!, typeof named === 'string' ? named : null);
    // The config's id is derived too, so a retry sets the same config again rather than a second one.
    if (pushConfig) await this.requirePush().create(caller, taskId, { id: ids.pushConfigId, ...pushConfig });
    if (!result.replayed) this.deps.dispatch?.(result.events[0]!, result.events);
    return {
      request,
      taskId,
      revision: result.replayed ? result.nextExpectedRevision : 0,
      state: result.state,
      retried: result.replayed,
    };
  }

  private requirePush(): PushConfigs {
    if (!this.deps.capabilities.pushNotifications || !this.deps.push) {
      throw new A2AError('PUSH_NOTIFICATION_NOT_SUPPORTED', 'Push notifications are not supported');
    }
    return this.deps.push;
  }

  /** Follows a task's stream after `revision`, folding as it goes, until it settles or the signal aborts. */
  private async *follow(taskId: string, state: TaskAggregate, after: number, signal: AbortSignal) {
    let current = state;
    // `after` is what the caller just wrote or read: no need to read the stream again before waiting.
    for await (const event of this.deps.feed.follow(taskStream(taskId), { after, signal, fresh: true })) {
      current = taskDecider.evolve(current, { type: event.type, data: event.data } as TaskEvent);
      yield { event, state: current };
    }
  }

  /** For a retried message: the answer the first one got, when the task has given it already. */
  private async answerSoFar(taskId: string): Promise<{ task: Task } | { message: Message } | null> {
    const events = await this.deps.store.readStream(taskStream(taskId));
    const reply = events.find((e) => isEvent(TaskMessageAdded, e));
    if (reply) return { message: reply.data.message };
    const { task } = fold(taskDecider, events);
    return task && settled(task) ? { task } : null;
  }

  async sendMessage(caller: Caller, params: unknown): Promise<{ task: Task } | { message: Message }> {
    const { request, taskId, revision, state, retried } = await this.audited(caller, 'SendMessage', () =>
      this.accept(caller, params),
    );
    const historyLength = request.configuration?.historyLength;
    if (retried && !request.configuration?.returnImmediately) {
      const answer = await this.answerSoFar(taskId);
      if (answer) return 'task' in answer ? { task: trimHistory(answer.task, historyLength) } : answer;
    }
    if (request.configuration?.returnImmediately) {
      await this.deps.tasksCaughtUp?.wait(taskId, revision, this.deps.readModelWaitMs ?? 2000);
      return { task: trimHistory(state.task!, historyLength) };
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.deps.blockingTimeoutMs ?? 60_000);
    let latest = state;
    let seen = revision;
    let reply: { message: Message } | null = null;
    try {
      for await (const { event, state: next } of this.follow(taskId, state, revision, abort.signal)) {
        latest = next;
        seen = event.revision;
        if (isEvent(TaskMessageAdded, event)) {
          reply = { message: event.data.message };
          break;
        }
        if (settled(next.task!)) break;
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    await this.deps.tasksCaughtUp?.wait(taskId, seen, this.deps.readModelWaitMs ?? 2000);
    return reply ?? { task: trimHistory(latest.task!, historyLength) };
  }

  /** Validates and submits before the first byte, so errors are plain responses, not stream events. */
  async sendStreamingMessage(
    caller: Caller,
    params: unknown,
    signal: AbortSignal,
  ): Promise<AsyncIterable<StreamItem>> {
    const { taskId, revision, state, retried } = await this.audited(caller, 'SendStreamingMessage', () => {
      this.requireStreaming();
      return this.accept(caller, params);
    });
    if (retried) {
      const answer = await this.answerSoFar(taskId);
      if (answer && 'message' in answer)
        return (async function* () {
          yield { revision, response: answer };
        })();
    }
    return revision === 0 && !retried
      ? this.replyOrTask(taskId, state, signal)
      : this.stream(taskId, state, revision, signal);
  }

  /**
   * A new task's stream is either exactly one message (the agent answered directly) or the task followed by
   * its updates, so the first item waits for the agent's first move.
   */
  private async *replyOrTask(
    taskId: string,
    submitted: TaskAggregate,
    signal: AbortSignal,
  ): AsyncGenerator<StreamItem> {
    let snapshotSent = false;
    for await (const { event, state } of this.follow(taskId, submitted, 0, signal)) {
      const response = toStreamResponse(state.task!, event);
      // Bookkeeping events (routing, remote-call records) are not the agent's first move.
      if (!response && !snapshotSent) continue;
      if (!snapshotSent && isEvent(TaskMessageAdded, event)) {
        yield { revision: event.revision, response: { message: event.data.message } };
        return;
      }
      if (!snapshotSent) {
        snapshotSent = true;
        yield { revision: 0, response: { task: submitted.task! } };
      }
      if (response) yield { revision: event.revision, response };
      if (settled(state.task!)) return;
    }
  }

  /**
   * Both bindings keep a subscription open through INPUT_REQUIRED/AUTH_REQUIRED until the task ends, as the
   * reference SDK does, so a subscriber sees the task go on after someone else answers it; they pass
   * `closeOnInterrupted: false`. The default (close there too) is the rule of SendStreamingMessage's streams.
   */
  async subscribeToTask(
    caller: Caller,
    params: unknown,
    signal: AbortSignal,
    lastEventId?: number,
    closeOnInterrupted = true,
  ): Promise<AsyncIterable<StreamItem>> {
    this.requireStreaming();
    const { id } = parseParams(TaskIdRequest, params);
    const { state, events } = await this.load(caller, id);
    if (lastEventId !== undefined && lastEventId >= 0) {
      // Resuming: replay exactly what came after the last event the client saw, no snapshot.
      const upTo = fold(
        taskDecider,
        events.filter((e) => e.revision <= lastEventId),
      );
      // The client already saw the end: there is nothing to resume.
      if (TERMINAL_STATES.has(upTo.task!.status.state)) return (async function* () {})();
      return this.stream(id, upTo, Math.min(lastEventId, events.length - 1), signal, {
        snapshotFirst: false,
        closeOnInterrupted,
      });
    }
    if (TERMINAL_STATES.has(state.task!.status.state)) {
      throw new A2AError(
        'UNSUPPORTED_OPERATION',
        `Task ${id} is ${state.task!.status.state}: nothing to subscribe to`,
      );
    }
    return this.stream(id, state, events.length - 1, signal, { closeOnInterrupted });
  }

  private async *stream(
    taskId: string,
    state: TaskAggregate,
    revision: number,
    signal: AbortSignal,
    { snapshotFirst = true, closeOnInterrupted = true } = {},
  ): AsyncGenerator<StreamItem> {
    const ends = (task: Task) =>
      closeOnInterrupted ? settled(task) : TERMINAL_STATES.has(task.status.state);
    if (snapshotFirst) yield { revision, response: { task: state.task! } };
    if (ends(state.task!) && snapshotFirst && revision > 0) return;
    for await (const { event, state: next } of this.follow(taskId, state, revision, signal)) {
      const response = toStreamResponse(next.task!, event);
      if (response) yield { revision: event.revision, response };
      if (event.type === 'TaskMessageAdded' || ends(next.task!)) return;
    }
  }

  private requireStreaming() {
    if (!this.deps.capabilities.streaming)
      throw new A2AError('UNSUPPORTED_OPERATION', 'Streaming is not supported');
  }

  async getTask(caller: Caller, params: unknown): Promise<Task> {
    const { id, historyLength } = parseParams(GetTaskRequest, params);
    const { state } = await this.load(caller, id);
    return trimHistory(state.task!, historyLength);
  }

  async cancelTask(caller: Caller, params: unknown): Promise<Task> {
    return this.audited(caller, 'CancelTask', async () => {
      const { id } = parseParams(TaskIdRequest, params);
      const { events } = await this.load(caller, id);
      const result = await this.command(caller, id, { type: 'CancelTask', at: this.now() }, events);
      return result.state.task!;
    });
  }

  async listTasks(caller: Caller, params: unknown) {
    const request = parseParams(ListTasksRequest, params);
    return listTasksPage(this.deps.readModels, this.deps.listBudget, caller.tenant, request);
  }

  async createPushConfig(caller: Caller, params: unknown) {
    return this.audited(caller, 'CreateTaskPushNotificationConfig', async () => {
      const push = this.requirePush();
      const input = parseParams(PushConfigInput, params);
      if (!input.taskId) throw new A2AError('INVALID_PARAMS', 'taskId is required');
      await this.load(caller, input.taskId);
      return push.create(caller, input.taskId, input);
    });
  }

  async getPushConfig(caller: Caller, params: unknown) {
    const push = this.requirePush();
    const { taskId, id } = parseParams(PushConfigRef, params);
    await this.load(caller, taskId);
    return push.get(caller, taskId, id);
  }

  async listPushConfigs(caller: Caller, params: unknown) {
    const push = this.requirePush();
    const { taskId, pageSize, pageToken } = parseParams(ListPushConfigsRequest, params);
    await this.load(caller, taskId);
    return push.list(caller, taskId, pageSize ?? 50, pageToken);
  }

  async deletePushConfig(caller: Caller, params: unknown) {
    return this.audited(caller, 'DeleteTaskPushNotificationConfig', async () => {
      const push = this.requirePush();
      const { taskId, id } = parseParams(PushConfigRef, params);
      await this.load(caller, taskId);
      await push.delete(caller, taskId, id);
      return {};
    });
  }
}
