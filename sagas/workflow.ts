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

const submitStep = async (deps: WorkflowSagaDeps, event: RecordedEvent) => {
  const step = WorkflowStepScheduled.parse({ type: event.type, data: event.data }).data;
  const runId = event.stream.slice('wfrun-'.length);
  const [first] = await deps.store.readStream(event.stream, { maxCount: 1 });
  const started = WorkflowRunStarted.parse({ type: first!.type, data: first!.data }).data;
  await handle(
    deps.store,
    taskStream(step.taskId),
    {
      type: 'SubmitTask',
      taskId: step.taskId,
      contextId: started.contextId,
      message: {
        messageId: `wf-${step.taskId}`,
        role: 'ROLE_USER',
        parts: [{ text: step.input }],
        contextId: started.contextId,
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
};

const runOfTask = (events: RecordedEvent[]): string | null => {
  const link = (events[0]?.data as { metadata?: { workflow?: { runId?: unknown } } } | undefined)?.metadata
    ?.workflow?.runId;
  return typeof link === 'string' ? link : null;
};

const reportOutcome = async (deps: WorkflowSagaDeps, event: RecordedEvent) => {
  const { state } = event.data as { state: TaskState };
  if (!TERMINAL_STATES.has(state) && !INTERRUPTED_STATES.has(state)) return;
  let runId = runIdOfCorrelation(event.metadata.correlationId);
  if (!runId && state !== 'TASK_STATE_CANCELED') return;
  const history = await deps.store.readStream(event.stream);
  runId ??= runOfTask(history);
  if (!runId || runOfTask(history) !== runId) return;
  // The task as it stood at this event (a later one may exist already: each reports its own state).
  const upTo = history.filter((e) => e.revision <= event.revision);
  const task = fold<TaskAggregate, TaskEvent>(taskDecider, upTo).task;
  if (!task) return;
  await handle(
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
  );
};

export const workflowSaga = (deps: WorkflowSagaDeps): ConsumerOptions[] => [
  {
    durable: 'workflow-steps',
    filter: { category: 'wfrun', type: 'WorkflowStepScheduled' },
    maxAckPending: 64,
    maxDeliver: 10,
    handler: async ({ event }) => submitStep(deps, event),
  },
  {
    durable: 'workflow-outcomes',
    filter: { category: 'task', type: 'TaskStatusUpdated' },
    maxAckPending: 64,
    maxDeliver: 10,
    handler: async ({ event }) => {
      try {
        await reportOutcome(deps, event);
      } catch (err) {
        deps.log.info({ err, stream: event.stream }, 'workflow step outcome not recorded yet; will retry');
        throw err;
      }
    },
  },
];
