/** The in-process agent worker: runs the hub's own agents for submitted tasks and their follow-ups. */
import type { Logger } from 'pino';
import { ignoreRuleViolation, isRuleViolation } from '../commands/errors.ts';
import { needsRouting, type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import {
  INTERRUPTED_STATES,
  type Message,
  type Part,
  type TaskState,
  TERMINAL_STATES,
} from '../events/a2a.ts';
import { agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import { isEvent, type RecordedEvent } from '../events/envelope.ts';
import { type TaskEvent, TaskInputReceived, TaskSubmitted } from '../events/task.ts';
import { type ConsumerOptions, heartbeatMs, perEventType } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { safeErr } from '../infra/log-safe.ts';
import { oncePerKey } from '../infra/once-per-key.ts';
import type { TaskFeed } from '../infra/task-feed.ts';
import { foldAgentView } from '../projections/agents.ts';
import type { Agent, AgentUpdate } from './agent.ts';
import type { AgentDirectory } from './directory.ts';
import { TaskRecorder } from './task-recorder.ts';
import { workflowAgent } from './workflow-agent.ts';

export interface WorkerDeps {
  store: EventStore;
  feed: TaskFeed;
  agents: AgentDirectory;
  log: Logger;
  /** Redelivery after a worker died mid-run; must exceed the longest agent run. */
  ackWaitMs?: number;
  maxConcurrentRuns?: number;
  /**
   * AGENTCORE_DEFAULT_AGENT=route: a task naming no agent waits for routing (TaskRouted) instead of going
   * to the fallback agent. Tasks naming `auto` always do (sagas/routing.ts).
   */
  routeByDefault?: boolean;
  now?: () => string;
}

const agentMessage = (messageId: string, parts: Part[]): Message => ({
  messageId,
  role: 'ROLE_AGENT',
  parts,
});

/**
 * Runs in-process agents for submitted tasks and follow-ups. Each agent update becomes a task command
 * whose id is derived from the triggering event and the update's sequence number, so a run repeated after
 * a crash (the bus redelivers) re-issues the same command ids and the handler replays instead of
 * appending twice: a deterministic agent's second run adds nothing, an interrupted one continues.
 */
export interface AgentWorker {
  /** One per trigger type (perEventType): the worker is not handed the task events it ignores. */
  consumers: ConsumerOptions[];
  /**
   * Runs a task event this process just wrote at once, when its agent is one of this process's and
   * `deterministic` (agents/agent.ts): the bus delivers the same event later and finds it handled here (or
   * still running: it waits, so an ack never precedes the run's end). A run that fails is not marked
   * handled, and the bus delivery retries it; a process that dies mid-run never acked, so another worker
   * takes the delivery.
   */
  dispatch(trigger: RecordedEvent, history?: RecordedEvent[]): void;
}

const TRIGGERS = new Set(['TaskSubmitted', 'TaskInputReceived', 'TaskRouted']);

export const agentWorker = (deps: WorkerDeps): AgentWorker => {
  const now = deps.now ?? (() => new Date().toISOString());
  const once = oncePerKey();
  const runOnce = (trigger: RecordedEvent, history?: RecordedEvent[]): Promise<void> =>
    once.run(trigger.id, () => run(deps, trigger, now, history));
  return {
    consumers: perEventType(
      {
        durable: 'agent-workers',
        filter: { category: 'task' },
        maxAckPending: deps.maxConcurrentRuns ?? 64,
        ackWaitMs: deps.ackWaitMs ?? 30_000,
        maxDeliver: 5,
        handler: async ({ event, working }) => {
          if (!TRIGGERS.has(event.type) || once.done(event.id)) return;
          // A live worker keeps its task however long the agent takes; a dead one loses it after ackWaitMs.
          const heartbeat = setInterval(working, heartbeatMs(deps.ackWaitMs ?? 30_000));
          try {
            await runOnce(event);
          } finally {
            clearInterval(heartbeat);
          }
        },
      },
      TRIGGERS,
    ),
    dispatch(trigger, history) {
      if (!TRIGGERS.has(trigger.type) || !runsHereAtOnce(deps, trigger, history)) return;
      runOnce(trigger, history).catch((err) =>
        deps.log.warn(
          { err: safeErr(err), stream: trigger.stream },
          'local run failed; the bus delivery will retry it',
        ),
      );
    },
  };
};

/**
 * Only a new task (its whole stream known) for a deterministic in-process agent, named or the fallback,
 * with no routing to wait for; follow-ups go through the bus.
 */
const runsHereAtOnce = (deps: WorkerDeps, trigger: RecordedEvent, history?: RecordedEvent[]): boolean => {
  if (!isEvent(TaskSubmitted, trigger) || !history) return false;
  const named = trigger.data.agent;
  if (needsRouting(named ?? null, deps.routeByDefault ?? false)) return false;
  const agent = named ? deps.agents.get(named) : deps.agents.fallback;
  return agent?.deterministic === true;
};

/** Runs the agent `trigger` asks for, when it runs here, and records what it says on the task. */
const run = async (deps: WorkerDeps, trigger: RecordedEvent, now: () => string, known?: RecordedEvent[]) => {
  const history = known ?? (await deps.store.readStream(trigger.stream));
  const recorder = new TaskRecorder(
    deps.store,
    trigger.stream,
    history,
    {
      tenant: trigger.metadata.tenant,
      principal: 'agent-worker',
      correlationId: trigger.metadata.correlationId,
    },
    (events) => deps.feed.offer(events),
  );
  const task = recorder.current.task;
  if (!task || TERMINAL_STATES.has(task.status.state)) return;
  const agent = await agentFor(deps, trigger, recorder.current);
  if (agent === 'not-here') return;
  const run: AgentRun = { deps, trigger, history, recorder, now };
  if (agent === 'unknown') {
    const text = `No agent named "${recorder.current.agent}" runs here`;
    await settle(run, 'TASK_STATE_REJECTED', 'no-agent', text);
    return;
  }
  await runAgent(run, agent);
};

/** One run of an agent on a task: what it needs to record its updates. */
interface AgentRun {
  deps: WorkerDeps;
  trigger: RecordedEvent;
  history: RecordedEvent[];
  recorder: TaskRecorder;
  now: () => string;
}

const record = (run: AgentRun, cmd: TaskCommand, key: string) =>
  run.recorder.record(cmd, `${run.trigger.id}:${key}`);

/**
 * The in-process agent this trigger runs here (routing: sagas/routing.ts; remote agents: agents/remote.ts):
 * `not-here` when routing or a remote agent's worker has it, `unknown` when the task names no agent there is.
 */
const agentFor = async (
  deps: WorkerDeps,
  trigger: RecordedEvent,
  state: TaskAggregate,
): Promise<Agent | 'not-here' | 'unknown'> => {
  const named = state.agent;
  if (state.routed) {
    // Routed: run here only when the chosen agent is one of this hub's in-process agents, on TaskRouted
    // (or a follow-up); a TaskSubmitted seen after the routing decision is left to the TaskRouted event.
    const { agentKey } = state.routed;
    if (trigger.type === 'TaskSubmitted' || !agentKey.startsWith(`${SYSTEM_TENANT}:`)) return 'not-here';
    return deps.agents.get(agentKey.slice(SYSTEM_TENANT.length + 1)) ?? 'not-here'; // else a remote agent's
  }
  if (trigger.type === 'TaskRouted' || needsRouting(named, deps.routeByDefault ?? false)) return 'not-here';
  const agent = named ? deps.agents.get(named) : deps.agents.fallback;
  if (agent) return agent;
  // `workflow:<name>`: the tenant's workflow, run as an agent (agents/workflow-agent.ts).
  const workflow = named ? await workflowAgent(deps.store, trigger.metadata.tenant, named) : undefined;
  if (workflow) return workflow;
  if (named && (await isRemoteAgent(deps.store, trigger.metadata.tenant, named))) return 'not-here';
  return 'unknown';
};

/** Ends the task in `state` with the agent's `text`, unless it has ended meanwhile. */
const settle = async (run: AgentRun, state: TaskState, key: string, text: string) => {
  try {
    const message = agentMessage(`${run.trigger.id}:${key}`, [{ text }]);
    record(run, { type: 'UpdateStatus', state, message, at: run.now() }, key);
    await run.recorder.flush();
  } catch (error) {
    ignoreRuleViolation(error);
  }
};

const runAgent = async (run: AgentRun, agent: Agent) => {
  const { deps, trigger, history, recorder, now } = run;
  const state = recorder.current;
  const task = state.task!;
  const input =
    isEvent(TaskInputReceived, trigger) || isEvent(TaskSubmitted, trigger)
      ? trigger.data.message
      : task.history![0]!;
  const abort = new AbortController();
  // A cancel (or any terminal state written by someone else) stops the agent.
  const watcher = (async () => {
    let current = state;
    for await (const e of deps.feed.follow(trigger.stream, {
      after: history.length - 1,
      signal: abort.signal,
      fresh: true,
    })) {
      current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
      if (current.task && TERMINAL_STATES.has(current.task.status.state)) abort.abort();
    }
  })().catch(() => {});

  let updates: AsyncIterator<AgentUpdate> | undefined;
  try {
    // Working is announced with the agent's first update, not before: an agent that answers with a direct
    // reply leaves a stream that is exactly one message.
    let started = false;
    let seq = 0;
    updates = agent
      .run({ task, input, tenant: trigger.metadata.tenant, signal: abort.signal })
      [Symbol.asyncIterator]();
    for (;;) {
      const next = updates.next();
      // What the agent has said so far is written before waiting on it, and in one append when it says
      // several things at once.
      if (recorder.hasPending && !(await settlesAtOnce(next))) await recorder.flush();
      const { value: update, done } = await next;
      if (done || abort.signal.aborted) break;
      const announcesWork = update.kind === 'status' && update.state === 'TASK_STATE_WORKING';
      if (!started && update.kind !== 'reply' && !announcesWork)
        record(run, { type: 'StartWork', at: now() }, 'start');
      started = true;
      const key = String(seq++);
      record(run, toCommand(update, `${trigger.id}:${key}`, now()), key);
      if (update.kind === 'reply') {
        record(run, { type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: now() }, `${key}:done`);
      }
    }
    const s = recorder.current.task!.status.state;
    if (!abort.signal.aborted && !TERMINAL_STATES.has(s) && !INTERRUPTED_STATES.has(s)) {
      record(run, { type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: now() }, 'end');
    }
    await recorder.flush();
  } catch (error) {
    if (!isRuleViolation(error)) {
      deps.log.warn({ err: safeErr(error), stream: trigger.stream }, 'agent run failed');
      // Whatever the agent said before failing is kept, then the failure.
      const text = `Agent ${agent.id} failed: ${error instanceof Error ? error.message : String(error)}`;
      await settle(run, 'TASK_STATE_FAILED', 'failed', text);
    }
  } finally {
    abort.abort();
    // As a for-await's break would: the agent's own finally blocks run (not awaited: it may be mid-step).
    void updates?.return?.()?.catch(() => {});
    await watcher;
  }
};

/** True when the promise settles within the current turn of the event loop (the agent did not wait). */
const settlesAtOnce = (p: Promise<unknown>): Promise<boolean> =>
  new Promise((resolve) => {
    const later = setImmediate(() => resolve(false));
    const now = () => {
      clearImmediate(later);
      resolve(true);
    };
    p.then(now, now);
  });

/** A registered remote agent of the tenant (or a built-in one) by this name: the remote worker's task. */
const isRemoteAgent = async (store: EventStore, tenant: string, name: string): Promise<boolean> => {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) return false;
  for (const t of tenant === SYSTEM_TENANT ? [tenant] : [tenant, SYSTEM_TENANT]) {
    const view = foldAgentView(await store.readStream(agentStream(t, name)));
    if (view) return view.endpoint.kind === 'remote';
  }
  return false;
};

// A refused task command (a rule violation) means the task went terminal under the agent (canceled,
// say): nothing more to write, and not an error.

const toCommand = (update: AgentUpdate, messageId: string, at: string): TaskCommand => {
  switch (update.kind) {
    case 'status':
      return {
        type: 'UpdateStatus',
        state: update.state,
        ...(update.parts ? { message: agentMessage(messageId, update.parts) } : {}),
        at,
      };
    case 'artifact':
      return {
        type: 'UpdateArtifact',
        artifact: update.artifact,
        append: update.append ?? false,
        lastChunk: update.lastChunk ?? false,
        at,
      };
    case 'reply':
      return { type: 'AddAgentMessage', message: agentMessage(messageId, update.parts), at };
  }
};
