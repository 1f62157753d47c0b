/**
 * The workflow saga: carries out what a run decides (commands/workflow.ts) through the normal task
 * pipeline, so every step is an A2A task that can be read, streamed, routed and canceled like any other.
 *
 * - `workflow-steps` (WorkflowStepScheduled): submits the step's task. Its id is derived from the run, the
 *   step and the attempt, and the command id from the event, so a redelivery finds the task already there.
 *   Every task a run submits carries the run in its correlation id, which the agent workers copy onto the
 *   events they write.
 * - `workflow-outcomes` (TaskStatusUpdated): a terminal or interrupted state of a run's task goes back to
 *   the run as RecordStepOutcome (command id from the event: a redelivery adds nothing). Tasks of no run
 *   are recognised by their correlation id without any read; a cancel written by someone else carries
 *   its own correlation id, so a CANCELED task is looked up by its submission.
 * A crash between two of these steps loses nothing: the bus redelivers the unacknowledged event, and
 * every command is idempotent.
 */
import type { Logger } from 'pino';
import { textOf } from '../agents/agent.ts';
import { fold, handle } from '../commands/handle.ts';
import { type TaskAggregate, taskDecider } from '../commands/task.ts';
import { workflowRunDecider } from '../commands/workflow.ts';
import { INTERRUPTED_STATES, type Task, type TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { type TaskEvent, taskStream } from '../events/task.ts';
import {
  runCorrelation,
  runIdOfCorrelation,
  runStream,
  WorkflowRunStarted,
  WorkflowStepScheduled,
} from '../events/workflow.ts';
import type { ConsumerOptions } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';

export interface WorkflowSagaDeps {
  store: EventStore;
  log: Logger;
  /** Task events written by this process (the task feed's local offers): outcomes handled at once. */
  localTaskEvents?: (listener: (events: RecordedEvent[]) => void) => () => void;
  /** Hands a task this saga just submitted to a worker of this process (agents/worker.ts dispatch). */
  dispatch?: (trigger: RecordedEvent, history: RecordedEvent[]) => void;
  /** Redelivery after the process handling an event died (default 30 s). */
  ackWaitMs?: number;
  now?: () => string;
}

const PRINCIPAL = 'saga:workflow';
/** The command id comes from the triggering event: a redelivery is recognised and adds nothing. */
const sagaContext = (event: RecordedEvent, runId: string, commandId: string) => ({
  tenant: event.metadata.tenant,
  principal: PRINCIPAL,
  commandId,
  correlationId: runCorrelation(runId),
});

/** What a step produced: its artifacts' text, else its status message's. */
export const outputOf = (task: Task): string => {
  const fromArtifacts = (task.artifacts ?? [])
    .flatMap((a) => a.parts)
    .map((p) => p.text)
    .filter((t): t is string => typeof t === 'string')
    .join('\n');
  return fromArtifacts || textOf(task.status.message);
};

/** Submits a scheduled step's task (idempotent: the command id is the scheduling event's). */
const submitStep = async (deps: WorkflowSagaDeps, event: RecordedEvent, knownContextId?: string) => {
  const step = WorkflowStepScheduled.parse({ type: event.type, data: event.data }).data;
  const runId = event.stream.slice('wfrun-'.length);
  let contextId = knownContextId;
  if (!contextId) {
    const [first] = await deps.store.readStream(event.stream, { maxCount: 1 });
    contextId = WorkflowRunStarted.parse({ type: first!.type, data: first!.data }).data.contextId;
  }
  const result = await handle(
    deps.store,
    taskStream(step.taskId),
    {
      type: 'SubmitTask',
      taskId: step.taskId,
      contextId,
      message: {
        messageId: `wf-${step.taskId}`,
        role: 'ROLE_USER',
        parts: [{ text: step.input }],
        contextId,
      },
      agent: step.agent,
      metadata: {
        workflow: { runId, stepId: step.stepId, attempt: step.attempt, compensation: step.compensation },
      },
      at: (deps.now ?? (() => new Date().toISOString()))(),
    },
    taskDecider,
    sagaContext(event, runId, `wf-submit:${event.id}`),
    { assume: [] },
  );
  // A worker in this process may start at once (a deterministic agent); the bus delivery finds it done.
  if (!result.replayed && result.events[0]) deps.dispatch?.(result.events[0], result.events);
};

const runOfTask = (events: RecordedEvent[]): string | null => {
  const link = (events[0]?.data as { metadata?: { workflow?: { runId?: unknown } } } | undefined)?.metadata
    ?.workflow?.runId;
  return typeof link === 'string' ? link : null;
};

const reportOutcome = async (
  deps: WorkflowSagaDeps,
  event: RecordedEvent,
  once: (id: string, fn: () => Promise<void>) => Promise<void>,
) => {
  const { state } = event.data as { state: TaskState };
  if (!TERMINAL_STATES.has(state) && !INTERRUPTED_STATES.has(state)) return;
  let runId = runIdOfCorrelation(event.metadata.correlationId);
  if (!runId && state !== 'TASK_STATE_CANCELED') return;
  const stream = runId ? runStream(runId) : null;
  // The task and its run in one read when the run is known from the correlation id.
  const read = await deps.store.readStreams(stream ? [event.stream, stream] : [event.stream]);
  const history = read.get(event.stream) ?? [];
  runId ??= runOfTask(history);
  if (!runId || runOfTask(history) !== runId) return;
  const runEvents = stream ? read.get(stream) : undefined;
  // The task as it stood at this event (a later one may exist already: each reports its own state).
  const upTo = history.filter((e) => e.revision <= event.revision);
  const task = fold<TaskAggregate, TaskEvent>(taskDecider, upTo).task;
  if (!task) return;
  const result = await handle(
    deps.store,
    runStream(runId),
    {
      type: 'RecordStepOutcome',
      taskId: task.id,
      state,
      output: outputOf(task),
      at: (deps.now ?? (() => new Date().toISOString()))(),
    },
    workflowRunDecider,
    sagaContext(event, runId, `wf-outcome:${event.id}`),
    runEvents ? { assume: runEvents } : {},
  );
  // The next step goes out now rather than after a trip through the bus (which still brings it to
  // workflow-steps, where the submission is found done).
  const next = result.replayed ? undefined : result.events.find((e) => e.type === 'WorkflowStepScheduled');
  if (next) await once(next.id, () => submitStep(deps, next, task.contextId));
};

/** Runs each event's handling once per process at a time; a finished one is not run again here. */
const oncePerEvent = () => {
  const running = new Map<string, Promise<void>>();
  const done = new Set<string>();
  return (id: string, fn: () => Promise<void>): Promise<void> => {
    if (done.has(id)) return Promise.resolve();
    let p = running.get(id);
    if (!p) {
      p = fn().then(() => {
        done.add(id);
        if (done.size > 50_000) done.delete(done.values().next().value as string);
      });
      const settle = () => running.delete(id);
      p.then(settle, settle);
      running.set(id, p);
    }
    return p;
  };
};

export const workflowSaga = (deps: WorkflowSagaDeps): ConsumerOptions[] => {
  const once = oncePerEvent();
  const outcome = (event: RecordedEvent) => once(event.id, () => reportOutcome(deps, event, once));
  // A step task that ended in this process goes back to its run now; the bus delivery then finds it done.
  deps.localTaskEvents?.((events) => {
    for (const event of events) {
      if (event.type !== 'TaskStatusUpdated' || !runIdOfCorrelation(event.metadata.correlationId)) continue;
      outcome(event).catch((err) =>
        deps.log.debug({ err, stream: event.stream }, 'workflow outcome: left to the bus delivery'),
      );
    }
  });
  return [
    {
      durable: 'workflow-steps',
      filter: { category: 'wfrun', type: 'WorkflowStepScheduled' },
      maxAckPending: 64,
      maxDeliver: 10,
      ackWaitMs: deps.ackWaitMs,
      handler: async ({ event }) => once(event.id, () => submitStep(deps, event)),
    },
    {
      durable: 'workflow-outcomes',
      filter: { category: 'task', type: 'TaskStatusUpdated' },
      maxAckPending: 64,
      maxDeliver: 10,
      ackWaitMs: deps.ackWaitMs,
      handler: async ({ event }) => {
        try {
          await outcome(event);
        } catch (err) {
          deps.log.info({ err, stream: event.stream }, 'workflow step outcome not recorded yet; will retry');
          throw err;
        }
      },
    },
  ];
};
