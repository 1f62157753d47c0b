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
 * - `workflow-timers` (WorkflowStepScheduled with a `notBefore` or a `timeoutAt`): durable timers. The
 *   scheduling event is held unacknowledged (kept alive by heartbeats) until it is due: a retry after its
 *   backoff is submitted then; at a step's timeout the run is told (TimeOutStep) and, if the attempt had
 *   not ended, its task is canceled. A process that dies holding a timer loses it to another after the
 *   ack wait, which waits out the rest.
 * - `workflow-deadlines` (WorkflowRunStarted with a `deadline`): the whole run's time limit, held the same
 *   way; at the deadline the run is told (TimeOutRun) and its steps in flight canceled. A process that stops
 *   gives its held timers back to the bus at once (`stopping`) rather than waiting for them.
 * Where the step's task ended in this process (a worker here), its outcome is handled at once from the
 * task feed's local offers, and the next step submitted and handed to a local worker in the same go; the
 * bus deliveries come later and find the work done (one handling per event and process at a time).
 * A crash between two of these steps loses nothing: the bus redelivers the unacknowledged event, and
 * every command is idempotent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { textOf } from '../agents/agent.ts';
import { WORKFLOW_AGENT_PREFIX } from '../agents/workflow-agent.ts';
import { CommandError, ignoreRuleViolation } from '../commands/errors.ts';
import { fold, handle, handleLinked, isEventTooLarge } from '../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import { type WorkflowRunCommand, workflowRunDecider } from '../commands/workflow-run.ts';
import { INTERRUPTED_STATES, type Task, TERMINAL_STATES } from '../events/a2a.ts';
import { dataOf, isEvent, type RecordedEvent } from '../events/envelope.ts';
import { type TaskEvent, TaskStatusUpdated, TaskSubmitted, taskStream } from '../events/task.ts';
import {
  runCorrelation,
  runIdOfCorrelation,
  runIdOfStream,
  runStream,
  WorkflowRunCancelRequested,
  WorkflowRunStarted,
  WorkflowRunTimedOut,
  WorkflowStepFailed,
  WorkflowStepScheduled,
} from '../events/workflow.ts';
import { type ConsumerOptions, heartbeatMs, perEventType } from '../infra/bus/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { safeErr } from '../infra/log-safe.ts';
import { oncePerKey } from '../infra/once-per-key.ts';

export interface WorkflowSagaDeps {
  store: EventStore;
  log: Logger;
  /** Task events written by this process (the task feed's local offers): outcomes handled at once. */
  localTaskEvents?: (listener: (events: RecordedEvent[]) => void) => () => void;
  /** Hands a task this saga just submitted to a worker of this process (agents/worker.ts dispatch). */
  dispatch?: (trigger: RecordedEvent, history: RecordedEvent[]) => void;
  /** Redelivery after the process handling an event died (default 30 s). */
  ackWaitMs?: number;
  /**
   * Aborted when the process stops: a timer waiting for its time gives its event back to the bus (another
   * copy, or this process after its restart, waits out the rest) instead of holding the stop up.
   */
  stopping?: AbortSignal;
  now?: () => string;
}

const PRINCIPAL = 'saga:workflow';
const RunContext = z.object({ contextId: z.string() });
const nowOf = (deps: WorkflowSagaDeps) => (deps.now ? deps.now() : new Date().toISOString());
/** The command id comes from the triggering event: a redelivery is recognised and adds nothing. */
const sagaContext = (event: RecordedEvent, runId: string, commandId: string) => ({
  tenant: event.metadata.tenant,
  principal: PRINCIPAL,
  commandId,
  correlationId: runCorrelation(runId),
});

/**
 * What a step produced: its artifacts' text (one per line), else its status message's. The parts of one
 * artifact are pieces of one text (a streamed reply arrives as appended parts), so they join as they are.
 */
export const outputOf = (task: Task): string => {
  const fromArtifacts = (task.artifacts ?? [])
    .map((a) => a.parts.map((p) => p.text ?? '').join(''))
    .filter(Boolean)
    .join('\n');
  return fromArtifacts || textOf(task.status.message);
};

/** The task of a scheduled step, as a command (its id derived from the run, the step and the attempt). */
const submission = (
  deps: WorkflowSagaDeps,
  runId: string,
  step: z.output<typeof WorkflowStepScheduled>['data'],
  contextId: string,
): TaskCommand => ({
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
    // A step bound to a capability: what routing looks for (sagas/routing.ts).
    ...(step.capability?.skill ? { skill: step.capability.skill } : {}),
    ...(step.capability?.tags?.length ? { tags: step.capability.tags } : {}),
    ...(step.capability?.query ? { query: step.capability.query } : {}),
  },
  at: nowOf(deps),
});

/** Submits a scheduled step's task (idempotent: the command id is the scheduling event's). */
const submitStep = async (deps: WorkflowSagaDeps, event: RecordedEvent, knownContextId?: string) => {
  const step = WorkflowStepScheduled.parse({ type: event.type, data: event.data }).data;
  const runId = runIdOfStream(event.stream);
  let contextId = knownContextId;
  if (!contextId) {
    const [first] = await deps.store.readStream(event.stream, { maxCount: 1 });
    // Only the context: the definition in it is not parsed again (one stored before a rule was added may fail).
    contextId = RunContext.parse(first!.data).contextId;
  }
  const result = await handle(
    deps.store,
    taskStream(step.taskId),
    submission(deps, runId, step, contextId),
    taskDecider,
    sagaContext(event, runId, `wf-submit:${event.id}`),
    { assume: [] },
  );
  // A worker in this process may start at once (a deterministic agent); the bus delivery finds it done.
  if (!result.replayed && result.events[0]) deps.dispatch?.(result.events[0], result.events);
};

/**
 * A run's decision and the tasks of the steps it makes due, written in one transaction where the store
 * links appends (PostgreSQL, PGlite): one commit instead of two on the way from one step to the next, and
 * never a step's task without its run's record of it. Null when it cannot: no linked appends, a replayed
 * command, or a conflict (the caller then goes the one-stream-at-a-time way, which reads and decides again).
 */
const decideWithSteps = async (
  deps: WorkflowSagaDeps,
  trigger: RecordedEvent,
  runId: string,
  runEvents: RecordedEvent[],
  command: WorkflowRunCommand,
  commandId: string,
  contextId: string,
  once: Once,
): Promise<{ replayed: false; events: RecordedEvent[] } | null> => {
  let due: Array<{ id: string }> = [];
  const linked = await handleLinked(
    deps.store,
    {
      stream: runStream(runId),
      history: runEvents,
      command,
      decider: workflowRunDecider,
      context: sagaContext(trigger, runId, commandId),
    },
    (decided) => {
      const scheduled = dueNow(decided);
      due = scheduled;
      return scheduled.map((e) => ({
        stream: taskStream(e.data.taskId),
        events: taskDecider.decide(submission(deps, runId, e.data, contextId), taskDecider.initialState()),
        context: sagaContext(trigger, runId, `wf-submit:${e.id}`),
      }));
    },
  );
  if (!linked) return null;
  await Promise.all(
    linked.followers.map((task, i) =>
      // Submitted: the bus delivery of the scheduling event finds it done here.
      once(due[i]!.id, async () => deps.dispatch?.(task.events[0]!, task.events)),
    ),
  );
  return { replayed: false, events: linked.events };
};

const runOfTask = (events: RecordedEvent[]): string | null => {
  const first = events[0];
  if (!isEvent(TaskSubmitted, first)) return null;
  // metadata is the sender's free-form map: the run link is only trusted as a string.
  const link = (first.data.metadata?.workflow as { runId?: unknown } | undefined)?.runId;
  return typeof link === 'string' ? link : null;
};

const reportOutcome = async (deps: WorkflowSagaDeps, event: RecordedEvent, once: Once) => {
  const { state } = dataOf(TaskStatusUpdated, event);
  if (!TERMINAL_STATES.has(state) && !INTERRUPTED_STATES.has(state)) return;
  let runId = runIdOfCorrelation(event.metadata.correlationId);
  if (!runId && state !== 'TASK_STATE_CANCELED') return;
  const stream = runId ? runStream(runId) : null;
  // The task and its run in one read when the run is known from the correlation id.
  const read = await deps.store.readStreams(stream ? [event.stream, stream] : [event.stream]);
  const history = read.get(event.stream) ?? [];
  // A canceled workflow task (the run's parent, agents/workflow-agent.ts): its run stops too.
  if (state === 'TASK_STATE_CANCELED') await cancelRunOf(deps, event, history, once);
  runId ??= runOfTask(history);
  if (!runId || runOfTask(history) !== runId) return;
  const runEvents = stream ? read.get(stream) : undefined;
  // The task as it stood at this event (a later one may exist already: each reports its own state).
  const upTo = history.filter((e) => e.revision <= event.revision);
  const task = fold<TaskAggregate, TaskEvent>(taskDecider, upTo).task;
  if (!task) return;
  const command: WorkflowRunCommand = {
    type: 'RecordStepOutcome',
    taskId: task.id,
    state,
    output: outputOf(task),
    at: nowOf(deps),
  };
  const commandId = `wf-outcome:${event.id}`;
  const record = async (outcome: WorkflowRunCommand) =>
    (runEvents &&
      (await decideWithSteps(deps, event, runId, runEvents, outcome, commandId, task.contextId, once))) ??
    (await handle(
      deps.store,
      runStream(runId),
      outcome,
      workflowRunDecider,
      sagaContext(event, runId, commandId),
      runEvents ? { assume: runEvents } : {},
    ));
  let result: Awaited<ReturnType<typeof record>>;
  try {
    result = await record(command);
  } catch (error) {
    // What the outcome would write is over the event size limit: redelivering it would fail the same way
    // forever and leave the run stuck, so the step fails instead, saying why.
    if (!isEventTooLarge(error)) throw error;
    result = await record({ ...command, state: 'TASK_STATE_FAILED', output: error.message });
  }
  await afterDecision(deps, result, once, task.contextId);
};

/**
 * What a decision on the run asks for at once, rather than after a trip through the bus (which still brings
 * it to workflow-steps or workflow-timers, where it is found done): the steps due now are submitted, and a
 * timed-out attempt's task is canceled.
 */
const afterDecision = async (
  deps: WorkflowSagaDeps,
  result: { replayed: boolean; events: RecordedEvent[] },
  once: Once,
  contextId?: string,
) => {
  if (result.replayed) return;
  const due = dueNow(result.events);
  const givenUp = result.events.filter((e) => CANCELS.has(e.type));
  await Promise.all([
    ...due.map((e) => once(e.id, () => submitStep(deps, e, contextId))),
    ...givenUp.map((e) => once(e.id, () => cancelGivenUpTasks(deps, e))),
  ]);
};

/** A command on the run (its id from the triggering event), then what its decision asks for at once. */
const decideOnRun = async (
  deps: WorkflowSagaDeps,
  event: RecordedEvent,
  runId: string,
  command: WorkflowRunCommand,
  commandId: string,
  once: Once,
) => {
  const result = await handle(
    deps.store,
    runStream(runId),
    command,
    workflowRunDecider,
    sagaContext(event, runId, commandId),
  );
  await afterDecision(deps, result, once);
};

/** Steps scheduled to start now (not a retry waiting out its backoff). */
const dueNow = <E extends { type: string; data: unknown }>(events: E[]) =>
  events.filter((e) => isEvent(WorkflowStepScheduled, e)).filter((e) => !e.data.notBefore);

/** Run events whose steps' tasks are given up: a timed-out attempt, a canceled or timed-out run's steps in flight. */
const CANCELS = new Set(['WorkflowStepFailed', 'WorkflowRunCancelRequested', 'WorkflowRunTimedOut']);

const cancelRunOf = async (
  deps: WorkflowSagaDeps,
  event: RecordedEvent,
  history: RecordedEvent[],
  once: Once,
) => {
  const first = history[0];
  const agent = isEvent(TaskSubmitted, first) ? first.data.agent : null;
  if (!agent?.startsWith(WORKFLOW_AGENT_PREFIX)) return;
  const runId = event.stream.slice('task-'.length);
  try {
    await decideOnRun(
      deps,
      event,
      runId,
      { type: 'CancelRun', reason: 'its task was canceled', at: nowOf(deps) },
      `wf-cancel-run:${event.id}`,
      once,
    );
  } catch (error) {
    // Canceled before its run started: nothing runs.
    if (!(error instanceof CommandError && error.kind === 'not_found')) throw error;
  }
};

type Once = (id: string, fn: () => Promise<void>) => Promise<void>;

const cancelGivenUpTasks = async (deps: WorkflowSagaDeps, event: RecordedEvent) => {
  const tasks = isEvent(WorkflowStepFailed, event)
    ? event.data.timedOut
      ? [event.data.taskId]
      : []
    : isEvent(WorkflowRunCancelRequested, event) || isEvent(WorkflowRunTimedOut, event)
      ? event.data.tasks
      : [];
  const runId = runIdOfStream(event.stream);
  await Promise.all(
    tasks.map(async (taskId) => {
      try {
        await handle(
          deps.store,
          taskStream(taskId),
          { type: 'CancelTask', at: nowOf(deps) },
          taskDecider,
          sagaContext(event, runId, `wf-cancel:${event.id}:${taskId}`),
        );
      } catch (error) {
        // Ended meanwhile (completed, failed): nothing to cancel. Not there yet (submitted a moment after
        // it was given up): the bus delivery retries until it is.
        ignoreRuleViolation(error);
      }
    }),
  );
};

/**
 * Waits until `at` (an ISO time), calling `working` now and then so the bus keeps the message with us;
 * throws if the process stops first (the bus then hands the message on).
 */
const waitUntil = async (deps: WorkflowSagaDeps, at: string, working: () => void) => {
  const beat = heartbeatMs(deps.ackWaitMs ?? 30_000);
  const signal = deps.stopping;
  for (let left = Date.parse(at) - Date.now(); left > 0; left = Date.parse(at) - Date.now()) {
    if (signal?.aborted) throw new Error('workflow timer: the process is stopping');
    // Aborted: the check above throws.
    await sleep(Math.min(left, beat), undefined, signal ? { signal } : {}).catch(() => {});
    working();
  }
};

const runTimers = async (deps: WorkflowSagaDeps, event: RecordedEvent, working: () => void, once: Once) => {
  const step = dataOf(WorkflowStepScheduled, event);
  if (step.notBefore) {
    await waitUntil(deps, step.notBefore, working);
    // The run may have given the step up meanwhile (canceled): then it is not submitted at all.
    const run = fold(workflowRunDecider, await deps.store.readStream(event.stream));
    if (!Object.hasOwn(run.outstanding, step.taskId)) return;
    await once(event.id, () => submitStep(deps, event));
  }
  if (!step.timeoutAt) return;
  await waitUntil(deps, step.timeoutAt, working);
  const command = { type: 'TimeOutStep', taskId: step.taskId, at: nowOf(deps) } as const;
  await decideOnRun(deps, event, runIdOfStream(event.stream), command, `wf-timeout:${event.id}`, once);
};

/** A run with a time limit: at its deadline, the run is told (TimeOutRun) and its steps in flight canceled. */
const runDeadline = async (deps: WorkflowSagaDeps, event: RecordedEvent, working: () => void, once: Once) => {
  const { deadline, runId } = dataOf(WorkflowRunStarted, event);
  if (!deadline) return;
  await waitUntil(deps, deadline, working);
  await decideOnRun(
    deps,
    event,
    runId,
    { type: 'TimeOutRun', at: nowOf(deps) },
    `wf-deadline:${event.id}`,
    once,
  );
};

/**
 * The saga's consumers: step outcomes, scheduled steps (submitted, or timed), run deadlines, cancels.
 *
 * @example
 * for (const consumer of workflowSaga({ store, log, stopping: abort.signal })) await bus.consume(consumer);
 */
export const workflowSaga = (deps: WorkflowSagaDeps): ConsumerOptions[] => {
  const once: Once = oncePerKey().run;
  const redelivery = { maxDeliver: 10, ackWaitMs: deps.ackWaitMs };
  const outcome = (event: RecordedEvent) => once(event.id, () => reportOutcome(deps, event, once));
  // A step task that ended in this process goes back to its run now; the bus delivery then finds it done.
  deps.localTaskEvents?.((events) => {
    for (const event of events) {
      if (event.type !== 'TaskStatusUpdated' || !runIdOfCorrelation(event.metadata.correlationId)) continue;
      outcome(event).catch((err) =>
        deps.log.debug(
          { err: safeErr(err), stream: event.stream },
          'workflow outcome: left to the bus delivery',
        ),
      );
    }
  });
  return [
    {
      durable: 'workflow-steps',
      filter: { category: 'wfrun', type: 'WorkflowStepScheduled' },
      maxAckPending: 64,
      ...redelivery,
      // A retry with a backoff is the timers' (below): held here, it would hold up every other step.
      handler: async ({ event }) =>
        dataOf(WorkflowStepScheduled, event).notBefore
          ? undefined
          : once(event.id, () => submitStep(deps, event)),
    },
    // Tasks given up (a timed-out attempt, a canceled run's steps), when the decision's own process did not
    // get to cancel them.
    ...perEventType(
      {
        durable: 'workflow-cancels',
        filter: { category: 'wfrun' },
        maxAckPending: 64,
        ...redelivery,
        handler: async ({ event }) => once(event.id, () => cancelGivenUpTasks(deps, event)),
      },
      CANCELS,
    ),
    {
      durable: 'workflow-timers',
      filter: { category: 'wfrun', type: 'WorkflowStepScheduled' },
      // Every pending timer holds one.
      maxAckPending: 10_000,
      ...redelivery,
      handler: async ({ event, working }) => runTimers(deps, event, working, once),
    },
    {
      durable: 'workflow-deadlines',
      filter: { category: 'wfrun', type: 'WorkflowRunStarted' },
      // Every run with a time limit holds one until it ends or times out.
      maxAckPending: 10_000,
      ...redelivery,
      handler: async ({ event, working }) => runDeadline(deps, event, working, once),
    },
    {
      durable: 'workflow-outcomes',
      filter: { category: 'task', type: 'TaskStatusUpdated' },
      maxAckPending: 64,
      ...redelivery,
      handler: async ({ event }) => {
        try {
          await outcome(event);
        } catch (err) {
          deps.log.info(
            { err: safeErr(err), stream: event.stream },
            'workflow step outcome not recorded yet; will retry',
          );
          throw err;
        }
      },
    },
  ];
};
