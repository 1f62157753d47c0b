/**
 * A workflow run as an aggregate: the commands it takes and what it decides. The saga (sagas/workflow.ts)
 * carries the decisions out: which step's task to submit next, retries, the branch a decision takes,
 * compensations in reverse order, the end. Pure: task ids are derived from the run id, the step and the
 * attempt, so deciding twice yields the same ids and a resubmitted step is the same task.
 */
import { z } from 'zod';
import { TaskState } from '../events/a2a.ts';
import type { WorkflowRunEvent } from '../events/workflow.ts';
import { own, type StepNode, WorkflowDefinition } from '../events/workflow-definition.ts';
import { at } from './command-time.ts';
import { notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';
import { evolveRun, initialRun, type WorkflowRun } from './workflow-run-state.ts';
import { compensateWhenSettled, Decision, later, onOutcome, walk } from './workflow-run-steps.ts';

export const WorkflowRunCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('StartRun'),
    runId: z.string().min(1),
    workflow: z.string().min(1),
    version: z.number().int().min(1),
    definition: WorkflowDefinition,
    input: z.string(),
    contextId: z.string().min(1),
    /** The largest rendered step input of this run (commands/workflow-limits.ts); recorded with the run. */
    maxStepInputBytes: z.number().int().min(1).optional(),
    at,
  }),
  /** Stops the run: steps in flight are given up and the completed ones compensated. */
  z.object({ type: z.literal('CancelRun'), reason: z.string().min(1), at }),
  /** The run's deadline has passed (the saga's timer): stopped as a cancel is, and failed as timed out. */
  z.object({ type: z.literal('TimeOutRun'), at }),
  /** A step's timeout has passed (the saga's timer): if its task has not ended, the attempt has failed. */
  z.object({ type: z.literal('TimeOutStep'), taskId: z.string().min(1), at }),
  /** What became of a step's task (the saga reports its terminal or interrupted state). */
  z.object({
    type: z.literal('RecordStepOutcome'),
    taskId: z.string().min(1),
    state: TaskState,
    output: z.string(),
    at,
  }),
]);
export type WorkflowRunCommand = z.infer<typeof WorkflowRunCommand>;

type Command<Type extends WorkflowRunCommand['type']> = Extract<WorkflowRunCommand, { type: Type }>;

const startRun = (command: Command<'StartRun'>, run: WorkflowRun): WorkflowRunEvent[] => {
  if (run.status !== 'none') {
    if (run.runId === command.runId) return []; // the same start again
    throw ruleViolated(`run ${run.runId} has already started`);
  }
  const d = new Decision(run, command.at);
  d.emit({
    type: 'WorkflowRunStarted',
    data: {
      runId: command.runId,
      workflow: command.workflow,
      version: command.version,
      definition: command.definition,
      input: command.input,
      contextId: command.contextId,
      ...(command.maxStepInputBytes ? { maxStepInputBytes: command.maxStepInputBytes } : {}),
      ...(command.definition.timeoutMs ? { deadline: later(command.at, command.definition.timeoutMs) } : {}),
      at: command.at,
    },
  });
  walk(d, command.definition.start, command.definition.start, command.input);
  return d.events;
};

/** A cancel or a passed deadline: the steps in flight are given up and the completed ones compensated. */
const stopRun = (command: Command<'CancelRun' | 'TimeOutRun'>, run: WorkflowRun): WorkflowRunEvent[] => {
  if (run.status === 'none') throw notFound('workflow run');
  // Ended, or already undoing what it did (a failure or an earlier cancel): nothing more to stop.
  if (run.status !== 'running' || run.failure) return [];
  const tasks = Object.values(run.outstanding)
    .filter((o) => !o.compensation)
    .map((o) => o.taskId);
  const d = new Decision(run, command.at);
  if (command.type === 'CancelRun')
    d.emit({ type: 'WorkflowRunCancelRequested', data: { reason: command.reason, tasks, at: command.at } });
  else {
    if (!run.deadline) throw ruleViolated('the run has no time limit');
    if (Date.parse(command.at) < Date.parse(run.deadline))
      throw ruleViolated(`the run's deadline (${run.deadline}) has not passed`);
    d.emit({ type: 'WorkflowRunTimedOut', data: { deadline: run.deadline, tasks, at: command.at } });
  }
  compensateWhenSettled(d);
  return d.events;
};

const timeOutStep = (command: Command<'TimeOutStep'>, run: WorkflowRun): WorkflowRunEvent[] => {
  if (run.status === 'none') throw notFound('workflow run');
  const o = own(run.outstanding, command.taskId);
  if (!o) return []; // it ended in time
  const node = own(run.definition!.nodes, o.stepId) as StepNode;
  const d = new Decision(run, command.at);
  onOutcome(d, o, 'TASK_STATE_CANCELED', `timed out after ${node.timeoutMs} ms`, true);
  return d.events;
};

const recordStepOutcome = (command: Command<'RecordStepOutcome'>, run: WorkflowRun): WorkflowRunEvent[] => {
  if (run.status === 'none') throw notFound('workflow run');
  // A late or repeated report (another attempt's task, a step already recorded): nothing to do.
  const o = own(run.outstanding, command.taskId);
  if (!o) return [];
  const d = new Decision(run, command.at);
  onOutcome(d, o, command.state, command.output);
  return d.events;
};

export const workflowRunDecider: Decider<WorkflowRunCommand, WorkflowRun, WorkflowRunEvent> = {
  initialState: initialRun,
  decide: (command, run) => {
    const { type } = command;
    switch (type) {
      case 'StartRun':
        return startRun(command, run);
      case 'CancelRun':
      case 'TimeOutRun':
        return stopRun(command, run);
      case 'TimeOutStep':
        return timeOutStep(command, run);
      case 'RecordStepOutcome':
        return recordStepOutcome(command, run);
      default: {
        const unknown: never = type;
        throw ruleViolated(`unknown workflow run command ${String(unknown)}`);
      }
    }
  },
  evolve: evolveRun,
};

export { type WorkflowRun, waitingStep } from './workflow-run-state.ts';
