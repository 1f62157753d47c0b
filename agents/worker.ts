import type { Logger } from 'pino';
import type { TaskFeed } from '../a2a-edge/task-feed.ts';
import { CommandError } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import { INTERRUPTED_STATES, type Message, type Part, TERMINAL_STATES } from '../events/a2a.ts';
import { agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { TaskEvent } from '../events/task.ts';
import type { ConsumerOptions } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { foldAgentView } from '../projections/agents.ts';
import { needsRouting } from '../sagas/routing.ts';
import type { Agent, AgentUpdate } from './agent.ts';
import type { AgentDirectory } from './directory.ts';

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
export const agentWorker = (deps: WorkerDeps): ConsumerOptions => {
  const now = deps.now ?? (() => new Date().toISOString());
  return {
    durable: 'agent-workers',
    filter: { category: 'task' },
    maxAckPending: deps.maxConcurrentRuns ?? 64,
    ackWaitMs: deps.ackWaitMs ?? 30_000,
    maxDeliver: 5,
    handler: async ({ event, working }) => {
      if (event.type !== 'TaskSubmitted' && event.type !== 'TaskInputReceived' && event.type !== 'TaskRouted')
        return;
      // A live worker keeps its task however long the agent takes; a dead one loses it after ackWaitMs.
      const heartbeat = setInterval(working, Math.max(50, (deps.ackWaitMs ?? 30_000) / 3));
      try {
        await run(deps, event, now);
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
};

const run = async (deps: WorkerDeps, trigger: RecordedEvent, now: () => string) => {
  const stream = trigger.stream;
  const history = await deps.store.readStream(stream);
  const state = fold<TaskAggregate, TaskEvent>(taskDecider, history);
  const task = state.task;
  if (!task || TERMINAL_STATES.has(task.status.state)) return;
  const context = {
    tenant: trigger.metadata.tenant,
    principal: 'agent-worker',
    correlationId: trigger.metadata.correlationId,
  };
  const command = (cmd: TaskCommand, key: string) =>
    handle(deps.store, stream, cmd, taskDecider, { ...context, commandId: `${trigger.id}:${key}` });

  // ---- which agent (routing: sagas/routing.ts; remote agents: agents/remote.ts) ----
  const named = state.agent;
  let agent: Agent | undefined;
  if (state.routed) {
    // Routed: run here only when the chosen agent is one of this hub's in-process agents, on TaskRouted
    // (or a follow-up); a TaskSubmitted seen after the routing decision is left to the TaskRouted event.
    const { agentKey } = state.routed;
    if (trigger.type === 'TaskSubmitted' || !agentKey.startsWith(`${SYSTEM_TENANT}:`)) return;
    agent = deps.agents.get(agentKey.slice(SYSTEM_TENANT.length + 1));
    if (!agent) return; // a remote agent's (the remote worker runs it)
  } else {
    if (trigger.type === 'TaskRouted' || needsRouting(named, deps.routeByDefault ?? false)) return;
    agent = named ? deps.agents.get(named) : deps.agents.fallback;
    if (!agent && named && (await isRemoteAgent(deps.store, trigger.metadata.tenant, named))) return;
  }
  if (!agent) {
    await command(
      {
        type: 'UpdateStatus',
        state: 'TASK_STATE_REJECTED',
        message: agentMessage(`${trigger.id}:no-agent`, [{ text: `No agent named "${named}" runs here` }]),
        at: now(),
      },
      'no-agent',
    ).catch(ignoreTerminal);
    return;
  }
  const input =
    trigger.type === 'TaskInputReceived'
      ? (trigger.data as { message: Message }).message
      : ((trigger.data as { message?: Message }).message ?? task.history![0]!);
  const abort = new AbortController();
  // A cancel (or any terminal state written by someone else) stops the agent.
  const watcher = (async () => {
    let current = fold<TaskAggregate, TaskEvent>(taskDecider, history);
    for await (const e of deps.feed.follow(stream, { after: history.length - 1, signal: abort.signal })) {
      current = taskDecider.evolve(current, { type: e.type, data: e.data } as TaskEvent);
      if (current.task && TERMINAL_STATES.has(current.task.status.state)) abort.abort();
    }
  })().catch(() => {});

  let last = state;
  try {
    // Working is announced with the agent's first update, not before: an agent that answers with a direct
    // reply leaves a stream that is exactly one message.
    let started = false;
    let seq = 0;
    for await (const update of agent.run({
      task: last.task!,
      input,
      tenant: context.tenant,
      signal: abort.signal,
    })) {
      if (abort.signal.aborted) break;
      const announcesWork = update.kind === 'status' && update.state === 'TASK_STATE_WORKING';
      if (!started && update.kind !== 'reply' && !announcesWork) {
        last = (await command({ type: 'StartWork', at: now() }, 'start')).state;
      }
      started = true;
      const key = String(seq++);
      const result = await command(toCommand(update, `${trigger.id}:${key}`, now()), key);
      last = result.state;
      if (update.kind === 'reply') {
        last = (
          await command({ type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: now() }, `${key}:done`)
        ).state;
      }
    }
    const s = last.task!.status.state;
    if (!abort.signal.aborted && !TERMINAL_STATES.has(s) && !INTERRUPTED_STATES.has(s)) {
      await command({ type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: now() }, 'end');
    }
  } catch (error) {
    if (!refusedAsTerminal(error)) {
      deps.log.warn({ err: error, stream }, 'agent run failed');
      const text = `Agent ${agent.id} failed: ${error instanceof Error ? error.message : String(error)}`;
      await command(
        {
          type: 'UpdateStatus',
          state: 'TASK_STATE_FAILED',
          message: agentMessage(`${trigger.id}:failed`, [{ text }]),
          at: now(),
        },
        'failed',
      ).catch(ignoreTerminal);
    }
  } finally {
    abort.abort();
    await watcher;
  }
};

/** A registered remote agent of the tenant (or a built-in one) by this name: the remote worker's task. */
const isRemoteAgent = async (store: EventStore, tenant: string, name: string): Promise<boolean> => {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) return false;
  for (const t of tenant === SYSTEM_TENANT ? [tenant] : [tenant, SYSTEM_TENANT]) {
    const view = foldAgentView(await store.readStream(agentStream(t, name)));
    if (view) return view.endpoint.kind === 'remote';
  }
  return false;
};

/** The task went terminal under the agent (canceled, say): nothing more to write, and not an error. */
const refusedAsTerminal = (error: unknown): boolean =>
  error instanceof CommandError && error.kind === 'rule_violated';
const ignoreTerminal = (error: unknown) => {
  if (!refusedAsTerminal(error)) throw error;
};

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
